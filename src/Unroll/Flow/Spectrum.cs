using System.Numerics;
using MathNet.Numerics.LinearAlgebra;
using Unroll.Kernels;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Flow;

/// <summary>
/// Spectrum of a recurrent weight matrix W_h (or of one H×H gate block of it): singular values from MathNet's
/// SVD and, for square matrices, the spectral radius max|λ| from MathNet's eigenvalue decomposition.
/// σ_max bounds how much W_hᵀ can stretch a gradient in one step (‖v·W_hᵀ‖ ≤ σ_max‖v‖); ρ is the asymptotic
/// per-step growth of repeated products (‖(W_hᵀ)^k‖^{1/k} → ρ), always ρ ≤ σ_max.
/// </summary>
/// <param name="SingularValues">σ_1 ≥ σ_2 ≥ … ≥ 0.</param>
/// <param name="SpectralRadius">max |λ_i| (NaN for a non-square matrix).</param>
public sealed record WhSpectrum(double[] SingularValues, double SpectralRadius)
{
    /// <summary>Largest singular value (the operator 2-norm).</summary>
    public double SigmaMax => SingularValues[0];
    /// <summary>Smallest singular value.</summary>
    public double SigmaMin => SingularValues[^1];
    /// <summary>σ_max / σ_min (∞ if singular).</summary>
    public double ConditionNumber => SigmaMin == 0 ? double.PositiveInfinity : SigmaMax / SigmaMin;

    /// <summary>Spectrum of a dense matrix (rows × cols).</summary>
    public static WhSpectrum Of(double[,] m)
    {
        if (m.GetLength(0) == 0 || m.GetLength(1) == 0) throw new ArgumentException("WhSpectrum: empty matrix.");
        var mat = Matrix<double>.Build.DenseOfArray(m);
        double maxAbs = 0;
        foreach (var v in mat.Enumerate())
        {
            if (!double.IsFinite(v)) throw new ArgumentException("WhSpectrum: the matrix contains NaN or ±∞.");
            maxAbs = Math.Max(maxAbs, Math.Abs(v));
        }
        bool square = mat.RowCount == mat.ColumnCount;
        if (maxAbs == 0) return new WhSpectrum(new double[Math.Min(mat.RowCount, mat.ColumnCount)], square ? 0 : double.NaN);
        // σ(W) = m·σ(W/m) and ρ(W) = m·ρ(W/m): decompose the matrix scaled to max |entry| = 1 so that huge or tiny
        // weights neither overflow nor underflow inside the decompositions
        var unit = mat / maxAbs;
        var s = unit.Svd(computeVectors: false).S.Select(v => Math.Abs(v) * maxAbs).ToArray();
        Array.Sort(s, (a, b) => b.CompareTo(a));
        double rho = square ? unit.Evd().EigenValues.Select(c => c.Magnitude).Max() * maxAbs : double.NaN;
        return new WhSpectrum(s, rho);
    }

    /// <summary>
    /// σ_max of <paramref name="m"/> by MathNet's SVD of m / max|m_ij| (then scaled back), so huge or tiny entries
    /// neither overflow nor underflow; 0 for a zero matrix, NaN if an entry is not finite.
    /// </summary>
    public static double SigmaMaxOf(Matrix<double> m)
    {
        double maxAbs = 0;
        foreach (var v in m.Enumerate())
        {
            if (!double.IsFinite(v)) return double.NaN;
            maxAbs = Math.Max(maxAbs, Math.Abs(v));
        }
        if (maxAbs == 0) return 0;
        return Math.Abs((m / maxAbs).Svd(computeVectors: false).S[0]) * maxAbs;
    }

    /// <summary>Spectrum of a rank-2 tensor (computed in double).</summary>
    public static WhSpectrum Of<T>(Tensor<T> m) where T : unmanaged, IFloatingPointIeee754<T> => Of(ToArray(m));

    /// <summary>
    /// Splits W_h (H × kH, gate blocks side by side in the shared gate order) into k square H×H blocks and
    /// returns the spectrum of each (k = 1 for RNN, 4 for LSTM [i|f|g|o], 3 for GRU [r|z|n]).
    /// </summary>
    public static WhSpectrum[] OfBlocks(double[,] wh, int k)
    {
        int h = wh.GetLength(0);
        if (k <= 0 || wh.GetLength(1) != k * h)
            throw new ArgumentException($"WhSpectrum.OfBlocks: W_h is {h}×{wh.GetLength(1)}, expected {h}×{k * h}.");
        var result = new WhSpectrum[k];
        for (int g = 0; g < k; g++)
        {
            var block = new double[h, h];
            for (int i = 0; i < h; i++) for (int j = 0; j < h; j++) block[i, j] = wh[i, g * h + j];
            result[g] = Of(block);
        }
        return result;
    }

    /// <summary>Matrices with min(rows, cols) up to this get σ_max from MathNet's full SVD in <see cref="LargestSingularValue{T}"/>.</summary>
    public const int ExactSigmaMaxDim = 128;

    /// <summary>
    /// σ_max of a matrix (rows × cols) without its whole spectrum — what a training-time recording needs. For
    /// min(rows, cols) ≤ <see cref="ExactSigmaMaxDim"/> it is MathNet's SVD (<see cref="Of{T}(Tensor{T})"/>). Above,
    /// it is √λ_max of the smaller Gram matrix G = A·Aᵀ (or Aᵀ·A) of A = m / max|m_ij| (one float64 GEMM): the top
    /// eigenvector from a power iteration on G^256 (eight normalised squarings, float64 GEMMs), then the Rayleigh
    /// quotient on G.
    /// (The full SVD of C2's 650×2600 W_h takes seconds in managed code — far more than the ≤ 5 % of training time
    /// that a recording every 100 updates may cost; this takes milliseconds.) Returns 0 for a zero matrix and NaN
    /// if an entry is NaN or ±∞. When σ₁ and σ₂ are nearly equal, the result may be slightly below σ₁, never above.
    /// </summary>
    public static double LargestSingularValue<T>(Tensor<T> m) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m.Rank != 2) throw new ArgumentException($"WhSpectrum: expected a matrix, got shape {m.ShapeString}.");
        int rows = m.Dim(0), cols = m.Dim(1);
        if (rows == 0 || cols == 0) throw new ArgumentException("WhSpectrum: empty matrix.");
        if (Math.Min(rows, cols) <= ExactSigmaMaxDim)
        {
            var src = m.Span;
            for (int i = 0; i < src.Length; i++) if (!T.IsFinite(src[i])) return double.NaN;
            return Of(m).SigmaMax;
        }
        var a = new double[rows * cols];
        double maxAbs = 0;
        var s = m.Span;
        for (int i = 0; i < a.Length; i++)
        {
            double v = double.CreateTruncating(s[i]);
            if (!double.IsFinite(v)) return double.NaN;
            a[i] = v;
            maxAbs = Math.Max(maxAbs, Math.Abs(v));
        }
        if (maxAbs == 0) return 0;
        TP.Multiply(a, 1 / maxAbs, a);                                    // scale to max |entry| = 1 (no overflow in G)
        int n = Math.Min(rows, cols);
        var g = new double[n * n];
        if (rows <= cols) Gemm.Run(false, true, n, n, cols, 1.0, a, cols, a, cols, 0.0, g, n);   // G = A·Aᵀ
        else Gemm.Run(true, false, n, n, rows, 1.0, a, cols, a, cols, 0.0, g, n);                // G = Aᵀ·A
        // Power iteration on G^(2^8) (eight normalised squarings, each one float64 GEMM): the ratio λ₂/λ₁ becomes
        // (λ₂/λ₁)^256, so even σ₂ = σ₁·(1 − 1e-4) converges in a few hundred steps. The eigenvector is G's; the value
        // is the Rayleigh quotient vᵀGv on G itself (error ∝ the square of the vector's error, and never above λ₁).
        var p = (double[])g.Clone();
        var q = new double[n * n];
        for (int sq = 0; sq < 8; sq++)
        {
            Gemm.Run(false, false, n, n, n, 1.0, p, n, p, n, 0.0, q, n);   // q = p² (p symmetric PSD)
            double mx = TP.MaxMagnitude<double>(q);
            if (!(mx > 0) || !double.IsFinite(mx)) break;                  // G's top eigenvalue is 0 (cannot happen for a nonzero A)
            TP.Multiply(q, 1 / mx, p);
        }
        var v0 = new double[n]; var v1 = new double[n];
        for (int i = 0; i < n; i++) v0[i] = 1 + 0.25 * Math.Sin(i + 1);  // fixed start, not orthogonal to anything in particular
        TP.Multiply(v0, 1 / TP.Norm<double>(v0), v0);
        for (int it = 0; it < 3000; it++)
        {
            for (int i = 0; i < n; i++) v1[i] = TP.Dot<double>(p.AsSpan(i * n, n), v0);   // v1 = G^(2^8)·v0
            double norm = TP.Norm<double>(v1);
            if (!(norm > 0)) break;
            TP.Multiply(v1, 1 / norm, v1);
            double change = TP.Distance<double>(v0, v1);
            (v0, v1) = (v1, v0);
            if (change <= 1e-10) break;
        }
        for (int i = 0; i < n; i++) v1[i] = TP.Dot<double>(g.AsSpan(i * n, n), v0);       // G·v
        double lambda = TP.Dot<double>(v0, v1) / TP.Dot<double>(v0, v0);
        return Math.Sqrt(lambda) * maxAbs;
    }

    /// <summary>Copies a rank-2 tensor into a double[,] (used at the boundary to MathNet).</summary>
    public static double[,] ToArray<T>(Tensor<T> m) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m.Rank != 2) throw new ArgumentException($"WhSpectrum: expected a matrix, got shape {m.ShapeString}.");
        var a = new double[m.Dim(0), m.Dim(1)];
        for (int i = 0; i < m.Dim(0); i++) for (int j = 0; j < m.Dim(1); j++) a[i, j] = double.CreateTruncating(m[i, j]);
        return a;
    }
}

/// <summary>Which side of the Pascanu–Mikolov–Bengio (2013) bound W_h lies on.</summary>
public enum PmbRegime
{
    /// <summary>σ_max &lt; 1/γ: every backward step shrinks the gradient by at least σ_max·γ &lt; 1 — vanishing is guaranteed.</summary>
    VanishingGuaranteed,
    /// <summary>σ_max &gt; 1/γ: exploding is possible (the condition is necessary, not sufficient).</summary>
    ExplodingPossible,
    /// <summary>σ_max = 1/γ to within 1e-12 relative.</summary>
    Boundary,
}

/// <summary>
/// The Pascanu–Mikolov–Bengio (2013) condition. One backward step multiplies the gradient by
/// diag(f′(a_t))·W_hᵀ, whose norm is at most γ·σ_max(W_h) when |f′| ≤ γ (γ = 1 for tanh and ReLU, 1/4 for the
/// logistic sigmoid, 1 for the identity). So σ_max &lt; 1/γ is <b>sufficient</b> for vanishing (the long-term
/// component shrinks at least geometrically), and σ_max &gt; 1/γ is <b>necessary</b> — but not sufficient — for exploding.
/// </summary>
public sealed record PmbCondition(double SigmaMax, double Gamma)
{
    /// <summary>ρ(W_h) if known (square W_h). With no activation (γ = 1) ρ &lt; 1 means the repeated product still
    /// decays in the long run even when σ_max &gt; 1; mentioned in <see cref="Describe"/>.</summary>
    public double? SpectralRadius { get; init; }

    /// <summary>γ for tanh, ReLU and the identity.</summary>
    public const double GammaTanh = 1.0;
    /// <summary>γ for the logistic sigmoid (max σ′ = 1/4).</summary>
    public const double GammaSigmoid = 0.25;

    /// <summary>The threshold 1/γ.</summary>
    public double Bound => 1.0 / Gamma;

    public PmbRegime Regime =>
        Math.Abs(SigmaMax - Bound) <= 1e-12 * Bound ? PmbRegime.Boundary
        : SigmaMax < Bound ? PmbRegime.VanishingGuaranteed : PmbRegime.ExplodingPossible;

    /// <summary>E.g. "σ_max 0.93 &lt; 1/γ = 1: vanishing is guaranteed".</summary>
    public string Describe() => Regime switch
    {
        PmbRegime.VanishingGuaranteed => $"σ_max {Fmt.G3(SigmaMax)} < 1/γ = {Fmt.G3(Bound)}: vanishing is guaranteed",
        PmbRegime.ExplodingPossible => $"σ_max {Fmt.G3(SigmaMax)} > 1/γ = {Fmt.G3(Bound)}: exploding is possible, not guaranteed"
            + (SpectralRadius is { } rho && double.IsFinite(rho) ? $"; ρ(W_h) {Fmt.G3(rho)} {(rho < 1 ? "<" : rho > 1 ? ">" : "=")} 1" : ""),
        _ => $"σ_max {Fmt.G3(SigmaMax)} = 1/γ: on the boundary",
    };
}

/// <summary>Number formatting for generated text (invariant culture, 3 significant digits).</summary>
public static class Fmt
{
    /// <summary>3 significant digits; scientific notation below 1e-3 or at/above 1e4 (e.g. "3.1e-09" → "3.1e-9").</summary>
    public static string G3(double v)
    {
        if (double.IsNaN(v)) return "NaN";
        if (double.IsPositiveInfinity(v)) return "∞";
        if (double.IsNegativeInfinity(v)) return "-∞";
        double a = Math.Abs(v);
        if (a != 0 && (a < 1e-3 || a >= 1e4))
        {
            var s = v.ToString("0.##e+0", System.Globalization.CultureInfo.InvariantCulture);
            return s.Replace("e+", "e");
        }
        // "G3" would write 1234 as "1.23E+03": integers in [1000, 10000) are written whole
        if (a >= 1e3) return Math.Round(v).ToString("0", System.Globalization.CultureInfo.InvariantCulture);
        return v.ToString("G3", System.Globalization.CultureInfo.InvariantCulture);
    }
}
