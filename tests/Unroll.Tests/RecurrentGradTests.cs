using Unroll.Checking;
using Unroll.Layers;
using Unroll.Tensors;
using static Unroll.Tests.RecurrentTestUtil;

namespace Unroll.Tests;

/// <summary>Float64 central-difference checks of every recurrent layer: parameters, xs, h0 (and c0).</summary>
public class RecurrentGradTests
{
    public static TheoryData<CellType, int, int, int, int, double> Cases()
    {
        var data = new TheoryData<CellType, int, int, int, int, double>();
        foreach (var cell in new[] { CellType.Rnn, CellType.RnnRelu, CellType.Lstm, CellType.Gru })
        {
            data.Add(cell, 3, 7, 5, 4, 1.0);     // the standard size
            data.Add(cell, 1, 1, 1, 1, 1.0);     // size 1
            data.Add(cell, 2, 5, 3, 7, 1.0);     // odd sizes, H > D
            data.Add(cell, 5, 1, 7, 3, 1.0);     // T = 1
            data.Add(cell, 3, 4, 5, 4, 25.0);    // saturated inputs |x| ≥ 20 mostly
            data.Add(cell, 2, 3, 33, 3, 1.0);    // D ≥ 32: the bias is added by its own pass, not folded into the GEMM
            data.Add(cell, 2, 4, 12, 3, 1.0);    // 8 < D < 32: bias folded into ONE input GEMM for all steps (D ≤ 8: per step)
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AllGradientsMatchCentralDifferences(CellType cell, int n, int t, int d, int h, double xScale)
    {
        var rng = new Rng(1234 + (ulong)cell * 17 + (ulong)(n * 100 + t * 10 + d));
        var layer = MakeLayer(cell, d, h, rng);
        var xs = GradCheck.RandomTensor(rng, xScale, n, t, d);
        var dhs = GradCheck.RandomTensor(rng, 1.0, n, t, h);
        var h0 = GradCheck.RandomTensor(rng, 0.5, n, h);
        var c0 = cell == CellType.Lstm ? GradCheck.RandomTensor(rng, 0.5, n, h) : null;

        double Loss()
        {
            layer.SetState(h0, c0);
            return GradCheck.UpstreamLoss(layer.Forward(xs), dhs);
        }

        layer.ZeroGrad();
        Loss();
        double mag = LossMagnitude(layer.Hs, dhs);
        var dxs = layer.Backward(dhs).Clone();
        var dh0 = layer.DH0!.Clone();
        var dc0 = layer.DC0?.Clone();
        var grads = layer.Parameters.Select(p => (p, g: p.Grad.Clone())).ToList();
        Assert.Equal(cell == CellType.Gru ? 4 : 3, grads.Count);

        string ctx = $"{cell} N={n} T={t} D={d} H={h} x~{xScale}";
        foreach (var (p, g) in grads)
            AssertOk(Check(p.Name, Loss, p.Value, g.Span, mag), ctx);
        AssertOk(Check("xs", Loss, xs, dxs.Span, mag), ctx);
        AssertOk(Check("h0", Loss, h0, dh0.Span, mag), ctx);
        if (c0 is not null) AssertOk(Check("c0", Loss, c0, dc0!.Span, mag), ctx);
        else Assert.Null(dc0);
    }

    [Theory]
    [InlineData(CellType.Rnn)]
    [InlineData(CellType.Lstm)]
    [InlineData(CellType.Gru)]
    public void ZeroInitialStateWithoutSetState(CellType cell)
    {
        // Non-stateful, no SetState: h0 = 0 every call; gradients still check, and H0 is all zeros.
        var rng = new Rng(77);
        var layer = MakeLayer(cell, 4, 3, rng);
        var xs = GradCheck.RandomTensor(rng, 1.0, 2, 6, 4);
        var dhs = GradCheck.RandomTensor(rng, 1.0, 2, 6, 3);
        double Loss() => GradCheck.UpstreamLoss(layer.Forward(xs), dhs);
        layer.ZeroGrad();
        Loss(); Loss();                                  // a second call must not carry state
        Assert.All(layer.H0.ToArray(), v => Assert.Equal(0.0, v));
        var dxs = layer.Backward(dhs).Clone();
        foreach (var p in layer.Parameters)
        {
            var g = p.Grad.Clone();
            AssertOk(Check(p.Name, Loss, p.Value, g.Span), cell.ToString());
        }
        AssertOk(Check("xs", Loss, xs, dxs.Span), cell.ToString());
    }

    [Theory]
    [InlineData(CellType.Rnn)]
    [InlineData(CellType.RnnRelu)]
    [InlineData(CellType.Lstm)]
    [InlineData(CellType.Gru)]
    public void BackwardAddsIntoGrad(CellType cell)
    {
        var rng = new Rng(5);
        var layer = MakeLayer(cell, 3, 4, rng);
        var xs = GradCheck.RandomTensor(rng, 1.0, 2, 3, 3);
        var dhs = GradCheck.RandomTensor(rng, 1.0, 2, 3, 4);
        layer.ZeroGrad();
        layer.Forward(xs); layer.Backward(dhs);
        var once = layer.Parameters.Select(p => p.Grad.Clone()).ToList();
        layer.Forward(xs); layer.Backward(dhs);
        var ps = layer.Parameters.ToList();
        for (int k = 0; k < ps.Count; k++)
        {
            var twice = ps[k].Grad.Span; var o = once[k].Span;
            Assert.True(o.ToArray().Any(v => v != 0), $"{ps[k].Name} gradient is all zero");
            for (int i = 0; i < o.Length; i++) Assert.Equal(2 * o[i], twice[i], 12);
        }
    }
}
