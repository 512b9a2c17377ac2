using MathNet.Numerics.LinearAlgebra;
using Unroll.Flow;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary><see cref="WhSpectrum.LargestSingularValue{T}"/> (power iteration above 128) against MathNet's full SVD.</summary>
public class SigmaMaxTests
{
    private static Tensor<double> Gaussian(int r, int c, ulong seed, double scale = 1)
    {
        var rng = new Rng(seed);
        var m = new Tensor<double>(r, c);
        var s = m.Span;
        for (int i = 0; i < s.Length; i++) s[i] = rng.NextGaussian() * scale;
        return m;
    }

    [Theory]
    [InlineData(130, 520, 1.0)]     // wide, like an LSTM W_h (H × 4H): G = A·Aᵀ
    [InlineData(200, 150, 1.0)]     // tall: G = Aᵀ·A
    [InlineData(129, 129, 1e30)]    // huge entries: no overflow in G
    [InlineData(140, 280, 1e-30)]   // tiny entries: no underflow in G
    [InlineData(7, 28, 1.0)]        // small: the exact SVD path
    public void Matches_the_full_svd(int r, int c, double scale)
    {
        var m = Gaussian(r, c, (ulong)(r * 1000 + c), scale);
        double exact = WhSpectrum.Of(m).SigmaMax;
        double fast = WhSpectrum.LargestSingularValue(m);
        Assert.True(Math.Abs(fast - exact) <= 1e-9 * exact, $"σ_max {fast:R} vs SVD {exact:R}: rel diff {Math.Abs(fast - exact) / exact:G3}");
    }

    [Fact]
    public void Nearly_equal_top_singular_values_still_converge()
    {
        // A = U·diag(s)·Vᵀ with σ₁ = 2, σ₂ = 2·(1 − 1e-4): the slowest case for a power iteration.
        int n = 160;
        var u = Matrix<double>.Build.Random(n, n, 1).QR().Q;
        var v = Matrix<double>.Build.Random(n, n, 2).QR().Q;
        var d = Matrix<double>.Build.Dense(n, n);
        for (int i = 0; i < n; i++) d[i, i] = i == 0 ? 2.0 : i == 1 ? 2.0 * (1 - 1e-4) : 1.0 / (i + 1);
        var a = u * d * v.Transpose();
        var m = new Tensor<double>(n, n);
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) m[i, j] = a[i, j];
        double fast = WhSpectrum.LargestSingularValue(m);
        Assert.True(fast <= 2.0 * (1 + 1e-12), $"σ_max {fast:R} above the true 2");
        Assert.True(fast >= 2.0 * (1 - 1e-6), $"σ_max {fast:R} not within 1e-6 of the true 2");
    }

    [Fact]
    public void Zero_and_non_finite()
    {
        Assert.Equal(0.0, WhSpectrum.LargestSingularValue(new Tensor<double>(150, 300)));
        var m = Gaussian(150, 300, 5);
        m[3, 7] = double.NaN;
        Assert.True(double.IsNaN(WhSpectrum.LargestSingularValue(m)));
        var f = new Tensor<float>(140, 140);
        f[0, 0] = float.PositiveInfinity;
        Assert.True(double.IsNaN(WhSpectrum.LargestSingularValue(f)));
    }
}
