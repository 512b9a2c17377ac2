using MathNet.Numerics.LinearAlgebra;
using Unroll.Tensors;

namespace Unroll.Flow;

/// <summary>
/// The textbook experiment on why plain RNN gradients vanish or explode: start from <c>dh = ones(N, H)</c> at the
/// last step and apply the backward of the MatMul node, <c>dh ← dh · W_hᵀ</c>, T times (no activation), recording
/// <c>‖dh‖ / N</c> (Frobenius norm, per sample) after every step. With W_h = randn(H,H)·scale the norm grows
/// geometrically when W_h's largest singular values exceed 1 (scale 1.0) and shrinks when they are below 1 (0.5).
/// Everything is float64 (MathNet matrices), independent of the layer code.
/// </summary>
public static class SeedExperiment
{
    /// <summary>The textbook's W_h before scaling: H×H independent standard normal entries drawn from <paramref name="rng"/>, row-major.</summary>
    public static double[,] GaussianWh(Rng rng, int h)
    {
        if (h <= 0) throw new ArgumentException($"SeedExperiment: H must be positive, got {h}.");
        var w = new double[h, h];
        for (int i = 0; i < h; i++) for (int j = 0; j < h; j++) w[i, j] = rng.NextGaussian();
        return w;
    }

    /// <summary>Returns <paramref name="w"/> · <paramref name="scale"/> (a new array).</summary>
    public static double[,] Scaled(double[,] w, double scale)
    {
        var r = (double[,])w.Clone();
        for (int i = 0; i < r.GetLength(0); i++) for (int j = 0; j < r.GetLength(1); j++) r[i, j] *= scale;
        return r;
    }

    /// <summary>Runs the experiment for one W_h (already scaled).</summary>
    /// <param name="wh">W_h (H×H, already scaled).</param>
    /// <param name="scale">The scale, recorded in the result.</param>
    /// <param name="label">The setting's label.</param>
    /// <param name="thresholds">Verdict thresholds (default <see cref="FlowThresholds.Default"/>).</param>
    /// <param name="n">Batch size N (rows of dh), &gt; 0.</param>
    /// <param name="t">Number of backward steps T, &gt; 0.</param>
    public static FlowCurve Run(double[,] wh, int n, int t, double scale, string label, FlowThresholds? thresholds = null)
    {
        if (n <= 0) throw new ArgumentException($"SeedExperiment: N must be positive, got {n}.");
        if (t <= 0) throw new ArgumentException($"SeedExperiment: T must be positive, got {t}.");
        int h = wh.GetLength(0);
        if (h == 0 || wh.GetLength(1) != h) throw new ArgumentException($"SeedExperiment: W_h must be square, got {wh.GetLength(0)}×{wh.GetLength(1)}.");
        var w = Matrix<double>.Build.DenseOfArray(wh);
        var wT = w.Transpose();
        var dh = Matrix<double>.Build.Dense(n, h, 1.0);
        var norms = new double[t + 1];
        var factors = new double[t];
        norms[0] = dh.FrobeniusNorm() / n;
        for (int k = 1; k <= t; k++)
        {
            double before = dh.FrobeniusNorm();
            dh = dh * wT;                                   // the MatMul node's backward: dh_{t-1} = dh_t · W_hᵀ
            double after = dh.FrobeniusNorm();
            norms[k] = after / n;
            factors[k - 1] = before == 0 ? double.NaN : after / before;
        }
        var spectrum = WhSpectrum.Of(wh);
        var cond = new PmbCondition(spectrum.SigmaMax, PmbCondition.GammaTanh) { SpectralRadius = spectrum.SpectralRadius };
        var evidence = new FlowEvidence(norms, t) { MatrixFactor = GeometricMean(factors), Condition = cond };
        return new FlowCurve(FlowCurve.WhOnlySection, label, scale, norms, spectrum, cond, FlowVerdict.Judge(evidence, thresholds))
        {
            Wh = wh,
            MatrixFactors = factors,
        };
    }

    /// <summary>
    /// Geometric mean of the non-negative entries, skipping NaN (a 0/0 factor once the gradient is exactly zero):
    /// 0 if any entry is 0, +∞ if any is +∞, NaN if nothing is left.
    /// </summary>
    public static double GeometricMean(ReadOnlySpan<double> xs)
    {
        double s = 0; int c = 0; bool zero = false, inf = false;
        foreach (var x in xs)
        {
            if (double.IsNaN(x) || x < 0) continue;
            if (x == 0) zero = true;
            else if (double.IsPositiveInfinity(x)) inf = true;
            else { s += Math.Log(x); c++; }
        }
        if (zero) return 0;
        if (inf) return double.PositiveInfinity;
        return c == 0 ? double.NaN : Math.Exp(s / c);
    }
}
