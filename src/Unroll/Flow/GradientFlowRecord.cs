namespace Unroll.Flow;

/// <summary>
/// What <see cref="GradientFlowRecorder{T}"/> measured in one backward pass of one recurrent layer. All per-step
/// arrays have length T and are indexed by time: index t−1 belongs to time step t = 1..T (h_t is the layer's
/// output at step t, h_0 its initial state). A "backward step t" is the passage of the gradient from h_t (and
/// c_t) to h_{t−1} (and c_{t−1}).
/// </summary>
public sealed class GradientFlowRecord
{
    /// <summary>"rnn", "rnn-relu", "lstm" or "gru".</summary>
    public required string Cell { get; init; }
    public required int N { get; init; }
    public required int T { get; init; }
    public required int H { get; init; }

    /// <summary>‖∂L/∂h_t‖ over the whole batch (Frobenius norm of the (N,H) slice): the total gradient reaching
    /// h_t, from the loss at t and from later steps.</summary>
    public required double[] GradNorm { get; init; }
    /// <summary>Mean over the N samples of the per-sample norm ‖∂L/∂h_t[n]‖.</summary>
    public required double[] GradNormPerSample { get; init; }
    /// <summary>‖∂L/∂h_0‖ (the gradient reaching the initial state), if the layer exposed it; else NaN.</summary>
    public double DH0Norm { get; init; } = double.NaN;

    /// <summary>Gain of backward step t: ‖part of ∂L/∂h_{t−1} that comes from step t‖ / ‖∂L/∂h_t‖, reconstructed
    /// by the recorder from the cached forward values (for LSTM: the hidden path only, the cell path is separate).</summary>
    public required double[] StepGain { get; init; }
    /// <summary>The same gain read from the layer's own gradients (∂L/∂h_{t−1} minus the loss's direct gradient at
    /// t−1; ∂L/∂h_0 at t = 1), when the upstream gradient was given to the recorder; else null.</summary>
    public double[]? MeasuredStepGain { get; init; }

    /// <summary>RNN: activation factor ‖dh_t ⊙ f′(a_t)‖ / ‖dh_t‖ (never above 1 for tanh/ReLU).</summary>
    public double[]? ActivationFactor { get; init; }
    /// <summary>RNN: matrix factor ‖dt·W_hᵀ‖ / ‖dt‖ with dt = dh_t ⊙ f′(a_t) (at most σ_max(W_h)).
    /// ActivationFactor × MatrixFactor = StepGain.</summary>
    public double[]? MatrixFactor { get; init; }

    /// <summary>Small H (≤ <see cref="GradientFlowRecorder{T}.JacobianMaxH"/>): mean over the first samples of σ_max of
    /// the step Jacobian — RNN: diag(f′(a_t))·W_hᵀ (≤ max f′ · σ_max(W_h)); LSTM: the 2H×2H Jacobian of (h_t, c_t)
    /// w.r.t. (h_{t−1}, c_{t−1}); GRU: ∂h_t/∂h_{t−1}. The most one step can stretch any gradient. Null when not computed.</summary>
    public double[]? JacobianSigmaMax { get; init; }

    /// <summary>LSTM: ‖∂L/∂c_t‖ over the batch (total gradient reaching the cell state).</summary>
    public double[]? CellGradNorm { get; init; }
    /// <summary>LSTM: cell path gain ‖dc_t ⊙ f_t‖ / ‖dc_t‖ (the part of dc_{t−1} passing the forget gate).</summary>
    public double[]? CellPathGain { get; init; }
    /// <summary>LSTM: hidden path gain ‖da_t·W_hᵀ‖ / ‖dh_t‖ (da_t: gradient of the four gate pre-activations).
    /// Equal to <see cref="StepGain"/> for LSTM.</summary>
    public double[]? HiddenPathGain { get; init; }
    /// <summary>LSTM: mean forget-gate value f_t over batch and units.</summary>
    public double[]? ForgetGateMean { get; init; }

    /// <summary>GRU: carry path gain ‖dh_t ⊙ z_t‖ / ‖dh_t‖ (the direct z ⊙ h_{t−1} term of h_t).</summary>
    public double[]? CarryPathGain { get; init; }
    /// <summary>GRU: W_h path gain ‖[da_r | da_z | da_n ⊙ r]·W_hᵀ‖ / ‖dh_t‖ (through the three gates).</summary>
    public double[]? WhPathGain { get; init; }
    /// <summary>GRU: mean update-gate value z_t.</summary>
    public double[]? UpdateGateMean { get; init; }

    /// <summary>Fraction of saturated units at step t: |h| &gt; 0.99 (tanh RNN), h = 0 (ReLU RNN), |tanh c| &gt; 0.99
    /// (LSTM), |n| &gt; 0.99 (GRU candidate).</summary>
    public required double[] SaturatedFraction { get; init; }
    /// <summary>Mean of 1 − y² for the tanh whose derivative the gradient passes (h for the tanh RNN, tanh c_t for
    /// LSTM, n_t for GRU; the fraction of non-zero units for ReLU).</summary>
    public required double[] MeanDerivative { get; init; }

    /// <summary>Geometric mean of the finite positive entries of <paramref name="xs"/> (NaN if none or null).</summary>
    public static double GeoMean(double[]? xs) => xs is null ? double.NaN : SeedExperiment.GeometricMean(xs);

    /// <summary>
    /// The propagation curve: a gradient sent back from h_T keeps Π gains of its norm; entry k is the product of
    /// the step gains of steps T, T−1, …, T−k+1 (entry 0 = 1, entry T reaches h_0). Uses the measured gains when present.
    /// </summary>
    public double[] PropagationCurve()
    {
        var g = MeasuredStepGain ?? StepGain;
        var p = new double[T + 1];
        p[0] = 1;
        for (int k = 1; k <= T; k++) p[k] = p[k - 1] * g[T - k];
        return p;
    }

    /// <summary>The compact summary a trainer logs every K iterations.</summary>
    /// <param name="sigmaMax">σ_max(W_h) (of the whole H×kH matrix for gated cells), e.g. from <see cref="WhSpectrum"/>.</param>
    /// <param name="thresholds">Verdict thresholds (default <see cref="FlowThresholds.Default"/>).</param>
    public GradientFlowSummary Summarize(double sigmaMax, FlowThresholds? thresholds = null)
    {
        double gamma = PmbCondition.GammaTanh;
        var cond = new PmbCondition(sigmaMax, gamma);
        var others = new List<(string, double)>();
        if (CellPathGain is not null) others.Add(("cell path gain", GeoMean(CellPathGain)));
        if (HiddenPathGain is not null) others.Add(("hidden path gain", GeoMean(HiddenPathGain)));
        if (CarryPathGain is not null) others.Add(("z-carry path gain", GeoMean(CarryPathGain)));
        if (WhPathGain is not null) others.Add(("W_h path gain", GeoMean(WhPathGain)));
        double sat = SaturatedFraction.Average();
        var evidence = new FlowEvidence(PropagationCurve(), T)
        {
            Propagated = true,
            ActivationFactor = ActivationFactor is null ? null : GeoMean(ActivationFactor),
            ActivationName = Cell == "rnn-relu" ? "ReLU factor" : "tanh factor",
            MatrixFactor = MatrixFactor is null ? null : GeoMean(MatrixFactor),
            OtherFactors = others,
            Condition = Cell is "rnn" or "rnn-relu" ? cond : null,
            Saturation = sat,
        };
        var verdict = FlowVerdict.Judge(evidence, thresholds);
        return new GradientFlowSummary(Cell, T,
            GradNorm[T - 1] == 0 ? double.NaN : GradNorm[0] / GradNorm[T - 1],
            verdict.TotalGain, GeoMean(MeasuredStepGain ?? StepGain),
            ActivationFactor is null ? null : GeoMean(ActivationFactor),
            MatrixFactor is null ? null : GeoMean(MatrixFactor),
            CellPathGain is null ? null : GeoMean(CellPathGain),
            ForgetGateMean?.Average(),
            CarryPathGain is null ? null : GeoMean(CarryPathGain),
            WhPathGain is null ? null : GeoMean(WhPathGain),
            sigmaMax, sat, MeanDerivative.Average(), verdict);
    }
}

/// <summary>
/// One line of gradient-flow telemetry (e.g. every K training iterations). Means of factors and gains are
/// geometric means over the T steps (they multiply along the chain).
/// </summary>
/// <param name="Cell">"rnn", "rnn-relu", "lstm" or "gru".</param>
/// <param name="T">Sequence length.</param>
/// <param name="GradNormFirstOverLast">‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ (total gradients, including the loss at every step).</param>
/// <param name="PropagationGain">Product of the T step gains: how much of a gradient sent back from h_T reaches h_0.</param>
/// <param name="MeanStepGain">Geometric mean step gain.</param>
/// <param name="MeanActivationFactor">RNN only.</param>
/// <param name="MeanMatrixFactor">RNN only.</param>
/// <param name="MeanCellPathGain">LSTM only.</param>
/// <param name="MeanForgetGate">LSTM only (arithmetic mean).</param>
/// <param name="MeanCarryGain">GRU only.</param>
/// <param name="MeanWhPathGain">GRU only.</param>
/// <param name="SigmaMax">σ_max(W_h).</param>
/// <param name="Saturation">Mean saturated fraction.</param>
/// <param name="MeanDerivative">Mean 1 − y² (see <see cref="GradientFlowRecord.MeanDerivative"/>).</param>
/// <param name="Verdict">Vanishing / exploding / healthy with its evidence.</param>
public sealed record GradientFlowSummary(string Cell, int T, double GradNormFirstOverLast, double PropagationGain, double MeanStepGain,
    double? MeanActivationFactor, double? MeanMatrixFactor, double? MeanCellPathGain, double? MeanForgetGate,
    double? MeanCarryGain, double? MeanWhPathGain, double SigmaMax, double Saturation, double MeanDerivative, FlowVerdict Verdict)
{
    /// <summary>
    /// Flat metric names and values for a metrics file (CSV column / JSON key per entry), prefixed with
    /// <paramref name="prefix"/>, e.g. "flow.propagation_gain". Quantities that do not apply to the cell are omitted;
    /// the verdict is encoded as <c>verdict</c> = −1 (vanishing), 0 (healthy), +1 (exploding).
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, double>> ToMetrics(string prefix = "flow.")
    {
        var m = new List<KeyValuePair<string, double>>();
        void Add(string name, double? v) { if (v is { } x) m.Add(new(prefix + name, x)); }
        Add("grad_first_over_last", GradNormFirstOverLast);
        Add("propagation_gain", PropagationGain);
        Add("step_gain", MeanStepGain);
        Add("activation_factor", MeanActivationFactor);
        Add("matrix_factor", MeanMatrixFactor);
        Add("cell_path_gain", MeanCellPathGain);
        Add("forget_gate", MeanForgetGate);
        Add("carry_gain", MeanCarryGain);
        Add("wh_path_gain", MeanWhPathGain);
        Add("sigma_max", SigmaMax);
        Add("saturation", Saturation);
        Add("mean_derivative", MeanDerivative);
        Add("verdict", Verdict.Kind switch { FlowVerdictKind.Vanishing => -1, FlowVerdictKind.Exploding => 1, _ => 0 });
        return m;
    }
}
