using Unroll.Checking;
using Unroll.Nodes;
using Unroll.Tensors;

namespace Unroll.Tests;

public class TanhTests
{
    [Theory]
    [InlineData(1, 1, 1.0)]
    [InlineData(3, 5, 1.0)]
    [InlineData(4, 7, 25.0)]   // saturated: |x| ≥ 20 for most elements
    public void GradientMatchesCentralDifferences(int n, int d, double scale)
    {
        var rng = new Rng(42);
        var node = new Tanh<double>();
        var x = GradCheck.RandomTensor(rng, scale, n, d);
        var dout = GradCheck.RandomTensor(rng, 1.0, n, d);
        node.Forward(x);
        var dx = node.Backward(dout).Clone();
        var r = GradCheck.Check("dx", () => GradCheck.UpstreamLoss(node.Forward(x), dout), x, dx.Span);
        Assert.True(r.MaxRelError <= 1e-6, r.ToString());
    }

    [Fact]
    public void BackwardShapeMismatchNamesNodeAndShapes()
    {
        var node = new Tanh<float>();
        node.Forward(new Tensor<float>(2, 3));
        var ex = Assert.Throws<ArgumentException>(() => node.Backward(new Tensor<float>(3, 2)));
        Assert.Contains("Tanh", ex.Message);
        Assert.Contains("(3, 2)", ex.Message);
        Assert.Contains("(2, 3)", ex.Message);
    }
}
