namespace Unroll.Flow;

/// <summary>The three verdicts on gradient flow through time.</summary>
public enum FlowVerdictKind { Healthy, Vanishing, Exploding }

/// <summary>
/// The documented, configurable thresholds behind a <see cref="FlowVerdict"/>. The <i>total gain</i> is
/// ‖gradient reaching the earliest step‖ / ‖gradient at the latest step‖; the <i>step gain</i> is its geometric
/// mean per backward step, totalGain^(1/K) over K steps.
/// </summary>
public sealed record FlowThresholds
{
    /// <summary>Vanishing when the total gain is below this (default 1e-2: less than 1% of the gradient survives).</summary>
    public double VanishingTotalGain { get; init; } = 1e-2;
    /// <summary>Exploding when the total gain is above this (default 1e2).</summary>
    public double ExplodingTotalGain { get; init; } = 1e2;
    /// <summary>Vanishing when the per-step geometric-mean gain is below this, however short the sequence (default 0.5).</summary>
    public double VanishingStepGain { get; init; } = 0.5;
    /// <summary>Exploding when the per-step geometric-mean gain is above this, however short the sequence (default 2).</summary>
    public double ExplodingStepGain { get; init; } = 2.0;
    /// <summary>The saturated fraction of units above which the evidence calls the activation saturated (default 0.5).</summary>
    public double SaturationWarning { get; init; } = 0.5;

    /// <summary>The defaults above.</summary>
    public static FlowThresholds Default { get; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> unless 0 &lt; vanishing &lt; 1 &lt; exploding for both gains.</summary>
    public FlowThresholds Validate()
    {
        if (!(VanishingTotalGain > 0 && VanishingTotalGain < 1 && ExplodingTotalGain > 1 && double.IsFinite(ExplodingTotalGain)))
            throw new ArgumentException($"FlowThresholds: need 0 < VanishingTotalGain < 1 < ExplodingTotalGain (got {VanishingTotalGain}, {ExplodingTotalGain}).");
        if (!(VanishingStepGain > 0 && VanishingStepGain < 1 && ExplodingStepGain > 1 && double.IsFinite(ExplodingStepGain)))
            throw new ArgumentException($"FlowThresholds: need 0 < VanishingStepGain < 1 < ExplodingStepGain (got {VanishingStepGain}, {ExplodingStepGain}).");
        if (!(SaturationWarning is > 0 and <= 1))
            throw new ArgumentException($"FlowThresholds: SaturationWarning must be in (0, 1] (got {SaturationWarning}).");
        return this;
    }
}

/// <summary>
/// The measurements a verdict is based on.
/// </summary>
/// <param name="Norms">‖∂L/∂h‖ ordered backward in time: Norms[0] at the latest step (t = <paramref name="LastTime"/>),
/// Norms[K] at the earliest (t = LastTime − K). At least two entries.</param>
/// <param name="LastTime">Time index of Norms[0] (used in the text only).</param>
public sealed record FlowEvidence(double[] Norms, int LastTime)
{
    /// <summary>Geometric mean of the activation factor ‖dh ⊙ f′‖/‖dh‖ per step, if measured.</summary>
    public double? ActivationFactor { get; init; }
    /// <summary>Name of the activation factor in the text, e.g. "tanh factor".</summary>
    public string ActivationName { get; init; } = "tanh factor";
    /// <summary>Geometric mean of the matrix factor ‖dt·W_hᵀ‖/‖dt‖ per step, if measured.</summary>
    public double? MatrixFactor { get; init; }
    /// <summary>Extra per-step factors to mention, e.g. ("cell path gain", 0.97) for an LSTM.</summary>
    public IReadOnlyList<(string Name, double Value)> OtherFactors { get; init; } = [];
    /// <summary>The Pascanu–Mikolov–Bengio condition on W_h, if known.</summary>
    public PmbCondition? Condition { get; init; }
    /// <summary>True when <see cref="FlowEvidence.Norms"/> is a propagation curve (product of per-step gains of a
    /// gradient sent back from the last step) rather than measured norms; changes the wording only.</summary>
    public bool Propagated { get; init; }
    /// <summary>Fraction of saturated units (|h| &gt; 0.99 for tanh, h = 0 for ReLU), if measured.</summary>
    public double? Saturation { get; init; }
}

/// <summary>A verdict and the numbers behind it, as one generated sentence.</summary>
/// <param name="Kind">The verdict.</param>
/// <param name="TotalGain">Norms[K] / Norms[0].</param>
/// <param name="StepGain">TotalGain^(1/K).</param>
/// <param name="Evidence">The numbers behind the verdict as one sentence.</param>
public sealed record FlowVerdict(FlowVerdictKind Kind, double TotalGain, double StepGain, string Evidence)
{
    public override string ToString() => $"{Kind.ToString().ToLowerInvariant()}: {Evidence}";

    /// <summary>Judges <paramref name="e"/> against <paramref name="thresholds"/> (default <see cref="FlowThresholds.Default"/>).</summary>
    public static FlowVerdict Judge(FlowEvidence e, FlowThresholds? thresholds = null)
    {
        var th = (thresholds ?? FlowThresholds.Default).Validate();
        if (e.Norms.Length < 2) throw new ArgumentException("FlowVerdict.Judge: need norms for at least two time steps.");
        int k = e.Norms.Length - 1;
        int first = e.LastTime - k;
        var parts = new List<string>();

        int bad = Array.FindIndex(e.Norms, v => !double.IsFinite(v));
        if (bad >= 0)
        {
            parts.Add($"the gradient overflowed to {Fmt.G3(e.Norms[bad])} at t={e.LastTime - bad}, {bad} step{(bad == 1 ? "" : "s")} back from t={e.LastTime}");
            AddFactors(e, th, parts);
            return new FlowVerdict(FlowVerdictKind.Exploding, double.PositiveInfinity, double.PositiveInfinity, string.Join("; ", parts));
        }
        double g0 = e.Norms[0], gk = e.Norms[k];
        if (g0 == 0)
        {
            parts.Add($"no gradient reaches t={e.LastTime}");
            AddFactors(e, th, parts);
            return new FlowVerdict(FlowVerdictKind.Vanishing, 0, 0, string.Join("; ", parts));
        }
        double total = gk / g0;
        double step = Math.Pow(total, 1.0 / k);
        var kind = total < th.VanishingTotalGain || step < th.VanishingStepGain ? FlowVerdictKind.Vanishing
                 : total > th.ExplodingTotalGain || step > th.ExplodingStepGain ? FlowVerdictKind.Exploding
                 : FlowVerdictKind.Healthy;
        parts.Add(e.Propagated
            ? $"a gradient sent back from t={e.LastTime} keeps {Fmt.G3(total)} of its norm at t={first} ({Fmt.G3(step)}× per step over {k} steps)"
            : $"the gradient reaching t={first} is {Fmt.G3(total)} of that at t={e.LastTime} ({Fmt.G3(step)}× per step over {k} steps)");
        AddFactors(e, th, parts);
        return new FlowVerdict(kind, total, step, string.Join("; ", parts));
    }

    private static void AddFactors(FlowEvidence e, FlowThresholds th, List<string> parts)
    {
        var factors = new List<string>();
        if (e.ActivationFactor is { } a) factors.Add($"the {e.ActivationName} averages {Fmt.G3(a)}");
        if (e.MatrixFactor is { } m) factors.Add($"the W_hᵀ factor {(factors.Count == 0 ? "averages " : "")}{Fmt.G3(m)}");
        foreach (var (name, v) in e.OtherFactors) factors.Add($"the {name} {(factors.Count == 0 ? "averages " : "")}{Fmt.G3(v)}");
        string s = factors.Count == 0 ? "" : "per step " + JoinAnd(factors);
        if (e.Condition is { } c) s = s.Length == 0 ? c.Describe() : $"{s} ({c.Describe()})";
        if (s.Length > 0) parts.Add(s);
        if (e.Saturation is { } sat)
            parts.Add($"{Fmt.G3(100 * sat)}% of units saturated{(sat > th.SaturationWarning ? " (the activation is saturated)" : "")}");
    }

    private static string JoinAnd(List<string> xs) => xs.Count <= 1 ? string.Concat(xs) : string.Join(", ", xs.Take(xs.Count - 1)) + " and " + xs[^1];
}
