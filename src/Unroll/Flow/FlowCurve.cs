namespace Unroll.Flow;

/// <summary>
/// One measured setting of a gradient-flow experiment: the per-step norms ordered backward in time (index k =
/// number of backward steps taken from the last time step T, so index k is the gradient reaching h_{T−k}),
/// the per-step factors where they apply, the spectrum of W_h and the verdict.
/// </summary>
/// <param name="Section"><see cref="WhOnlySection"/> or <see cref="LayerSection"/>.</param>
/// <param name="Label">E.g. "scale=0.5" or "tanh rnn scale=0.5".</param>
/// <param name="Scale">The factor the initial W_h was multiplied by.</param>
/// <param name="Norms">‖dh‖/N after k = 0..T backward steps (length T + 1).</param>
/// <param name="Spectrum">Spectrum of W_h (for LSTM/GRU: of the whole H×kH matrix; see <see cref="BlockSpectra"/>).</param>
/// <param name="Condition">The Pascanu–Mikolov–Bengio condition (tanh/ReLU RNN and W_h only; null for gated cells, whose gates change the bound).</param>
/// <param name="Verdict">Vanishing / exploding / healthy with its evidence.</param>
public sealed record FlowCurve(string Section, string Label, double Scale, double[] Norms, WhSpectrum Spectrum,
                               PmbCondition? Condition, FlowVerdict Verdict)
{
    /// <summary>Section name of the textbook experiment: W_h only, no activation.</summary>
    public const string WhOnlySection = "wh-only";
    /// <summary>Section name of the experiment through a real recurrent layer.</summary>
    public const string LayerSection = "layer";

    /// <summary>W_h as used (H×H for RNN; H×kH for gated cells), if kept.</summary>
    public double[,]? Wh { get; init; }
    /// <summary>Matrix factor ‖dt·W_hᵀ‖/‖dt‖ of backward step k = 1..T (length T), where it applies.</summary>
    public double[]? MatrixFactors { get; init; }
    /// <summary>Activation factor ‖dh ⊙ f′‖/‖dh‖ of backward step k = 1..T (length T), where it applies.</summary>
    public double[]? ActivationFactors { get; init; }
    /// <summary>Further named per-step series of length T (e.g. "cell path gain", "mean forget gate").</summary>
    public IReadOnlyDictionary<string, double[]> Extra { get; init; } = new Dictionary<string, double[]>();
    /// <summary>Spectra of the H×H gate blocks of W_h (gated cells), in gate order.</summary>
    public IReadOnlyList<(string Gate, WhSpectrum Spectrum)> BlockSpectra { get; init; } = [];
    /// <summary>Fraction of saturated units over all steps, if measured.</summary>
    public double? Saturation { get; init; }
}
