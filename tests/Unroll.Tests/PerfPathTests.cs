using Unroll.Checking;
using Unroll.Nodes;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>The alternative product formulations chosen for speed give the plain formula's result.</summary>
public class PerfPathTests
{
    [Theory]
    [InlineData(3, 7, 5, 9)]     // N·T = 21 > D = 5: dxsᵀ = W·dysᵀ, transposed
    [InlineData(1, 2, 8, 3)]     // N·T = 2 ≤ D = 8: dxs = dys·Wᵀ directly
    [InlineData(20, 35, 100, 300)]
    [InlineData(2, 3, 260, 7)]   // D ≥ NarrowInput: bias broadcast + beta = 1 GEMM, dxs = dys·Wᵀ
    public void TimeAffineForwardAndInputGradientMatchPlainFormula(int n, int t, int d, int o)
    {
        var rng = new Rng((ulong)(n * 100 + d));
        var w = GradCheck.RandomTensor(rng, 0.5, d, o);
        var b = GradCheck.RandomTensor(rng, 0.5, o);
        var node = new TimeAffine<double>(new Parameter<double>("W", w), new Parameter<double>("b", b));
        var x = GradCheck.RandomTensor(rng, 1.0, n, t, d);
        var y = node.Forward(x);
        for (int r = 0; r < n * t; r++)
            for (int j = 0; j < o; j++)
            {
                double s = b.Span[j];
                for (int i = 0; i < d; i++) s += x.Span[r * d + i] * w.Span[i * o + j];
                Assert.True(Math.Abs(s - y.Span[r * o + j]) <= 1e-12 * Math.Max(1, Math.Abs(s)), $"ys[{r},{j}]: {s} vs {y.Span[r * o + j]}");
            }
        var dy = GradCheck.RandomTensor(rng, 1.0, n, t, o);
        var dx = node.Backward(dy);
        int rows = n * t;
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < d; i++)
            {
                double s = 0;
                for (int j = 0; j < o; j++) s += dy.Span[r * o + j] * w.Span[i * o + j];
                Assert.True(Math.Abs(s - dx.Span[r * d + i]) <= 1e-12 * Math.Max(1, Math.Abs(s)), $"dxs[{r},{i}]: {s} vs {dx.Span[r * d + i]}");
            }
    }
}
