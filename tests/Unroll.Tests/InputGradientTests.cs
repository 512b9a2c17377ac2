using Unroll.Layers;
using Unroll.Tasks;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// <see cref="IRecurrentLayer{T}.ComputesInputGradient"/> = false skips only the dxs product: the parameter gradients
/// and ∂L/∂h0 stay bit for bit the same, dxs comes back all zero, and switching it on again restores dxs.
/// </summary>
public class InputGradientTests
{
    [Theory]
    [InlineData(CellType.Rnn, 3)]
    [InlineData(CellType.RnnRelu, 3)]
    [InlineData(CellType.Lstm, 2)]       // D < 32: bias folded into the input GEMM
    [InlineData(CellType.Lstm, 40)]
    [InlineData(CellType.Gru, 5)]
    public void SkippingDxsLeavesEveryOtherGradientUnchanged(CellType cell, int d)
    {
        int n = 6, t = 9, h = 11;
        var full = RecurrentLayers.Create<float>(cell, d, h, new Rng(5));
        var skip = RecurrentLayers.Create<float>(cell, d, h, new Rng(5));
        skip.ComputesInputGradient = false;
        Assert.True(full.ComputesInputGradient);
        var rng = new Rng(6);
        var xs = new Tensor<float>(n, t, d);
        var dhs = new Tensor<float>(n, t, h);
        for (int i = 0; i < xs.Length; i++) xs.Span[i] = (float)rng.NextGaussian();
        for (int i = 0; i < dhs.Length; i++) dhs.Span[i] = (float)rng.NextGaussian();

        full.Forward(xs); var dxFull = full.Backward(dhs);
        skip.Forward(xs); var dxSkip = skip.Backward(dhs);
        Assert.True(dxFull.Span.ToArray().Any(v => v != 0f), "the full layer's dxs should not be all zero");
        Assert.All(dxSkip.Span.ToArray(), v => Assert.Equal(0f, v));
        var pf = full.Parameters.ToList(); var ps = skip.Parameters.ToList();
        for (int p = 0; p < pf.Count; p++)
            Assert.True(pf[p].Grad.Span.SequenceEqual(ps[p].Grad.Span), $"{cell} D={d}: gradient of {pf[p].Name} differs when dxs is skipped");
        Assert.True(full.DH0!.Span.SequenceEqual(skip.DH0!.Span), $"{cell} D={d}: DH0 differs when dxs is skipped");

        skip.ComputesInputGradient = true;          // on again: the same dxs as the layer that always computed it
        full.Forward(xs); dxFull = full.Backward(dhs);
        skip.Forward(xs); dxSkip = skip.Backward(dhs);
        Assert.True(dxFull.Span.SequenceEqual(dxSkip.Span), $"{cell} D={d}: dxs differs after switching it back on");
    }

    [Fact]
    public void SequenceModelsDoNotComputeTheirDataInputsGradient()
    {
        var model = new SequenceModel<float>(new AddingProblem(10), ModelSpec.Parse("lstm"), 8, new Rng(1));
        Assert.False(model.Layer.ComputesInputGradient);
    }
}
