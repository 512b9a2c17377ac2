using Unroll.Checking;
using Unroll.Nodes;
using Unroll.Tensors;
using static Unroll.Tests.NodeGrad;

namespace Unroll.Tests;

/// <summary>Float64 central-difference checks (max rel err ≤ 1e-6) of every non-recurrent node, input and parameters.</summary>
public class NodeGradTests
{
    /// <summary>
    /// Step for smooth nonlinear losses: central differences err by ~eps²·|f‴|/6 + ~1e-16·|L|/eps, so for O(1)
    /// losses 1e-5 is near the optimum (1e-6 leaves ~1e-10 rounding noise, too much for mean losses with gradients ~1e-2).
    /// </summary>
    private const double LossEps = 1e-5;

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 5, 4)]
    [InlineData(7, 3, 9)]
    public void MatMul(int n, int d, int h)
    {
        var rng = new Rng(1);
        var node = new MatMul<double>(Param(rng, "W", 0.5, d, h));
        CheckNode(node, GradCheck.RandomTensor(rng, 1.0, n, d), rng);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 4)]
    [InlineData(7, 5)]
    public void AddBias(int n, int h)
    {
        var rng = new Rng(2);
        var node = new AddBias<double>(Param(rng, "b", 0.5, h));
        CheckNode(node, GradCheck.RandomTensor(rng, 1.0, n, h), rng);
    }

    [Fact]
    public void AddBiasOnSequence()
    {
        var rng = new Rng(3);
        var node = new AddBias<double>(Param(rng, "b", 0.5, 4));
        CheckNode(node, GradCheck.RandomTensor(rng, 1.0, 3, 7, 4), rng);
    }

    [Theory]
    [InlineData(1, 1, 1.0)]
    [InlineData(3, 5, 1.0)]
    [InlineData(7, 3, 3.0)]
    [InlineData(4, 7, 25.0)]   // saturated: most |x| ≥ 20
    public void Sigmoid(int n, int d, double scale)
    {
        var rng = new Rng(4);
        var x = GradCheck.RandomTensor(rng, scale, n, d);
        if (scale > 1) { x.Span[0] = 20; x.Span[^1] = -30; }
        CheckNode(new Sigmoid<double>(), x, rng, eps: LossEps);
    }

    [Theory]
    [InlineData(1, 1, 1.0)]
    [InlineData(3, 5, 1.0)]
    [InlineData(4, 7, 25.0)]
    public void Relu(int n, int d, double scale)
    {
        var rng = new Rng(5);
        var x = GradCheck.RandomTensor(rng, scale, n, d);
        x.Span[0] = Math.Abs(x.Span[0]) + 0.1;   // at least one unit on, away from the kink
        CheckNode(new Relu<double>(), x, rng);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 5, 4)]
    [InlineData(7, 3, 9)]
    public void Affine(int n, int d, int o)
    {
        var rng = new Rng(6);
        var node = new Affine<double>(Param(rng, "W", 0.5, d, o), Param(rng, "b", 0.5, o));
        CheckNode(node, GradCheck.RandomTensor(rng, 1.0, n, d), rng);
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(3, 7, 5, 4)]
    [InlineData(2, 5, 3, 7)]
    public void TimeAffine(int n, int t, int d, int o)
    {
        var rng = new Rng(7);
        var node = new TimeAffine<double>(Param(rng, "W", 0.5, d, o), Param(rng, "b", 0.5, o));
        CheckNode(node, GradCheck.RandomTensor(rng, 1.0, n, t, d), rng);
    }

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(3, 7, 5, 4)]
    public void TimeAffineTransposedWeight(int n, int t, int d, int o)
    {
        var rng = new Rng(8);
        var node = new TimeAffine<double>(Param(rng, "W", 0.5, o, d), Param(rng, "b", 0.5, o), transposeW: true);
        Assert.Equal(d, node.InputSize);
        Assert.Equal(o, node.OutputSize);
        CheckNode(node, GradCheck.RandomTensor(rng, 1.0, n, t, d), rng);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 5, 4)]
    [InlineData(7, 3, 9)]
    public void MeanSquaredError(int n, int d, int seed)
    {
        var rng = new Rng((ulong)seed);
        var node = new MeanSquaredError<double>();
        var pred = GradCheck.RandomTensor(rng, 1.0, n, d);
        var target = GradCheck.RandomTensor(rng, 1.0, n, d);
        const double dl = 0.7;
        double loss = node.Forward(pred, target);
        double expect = 0;
        for (int i = 0; i < pred.Length; i++) expect += Math.Pow(pred.Span[i] - target.Span[i], 2);
        Assert.Equal(expect / pred.Length, loss, 1e-14);
        var dpred = node.Backward(dl).Clone();
        AssertOk(GradCheck.Check("dpred", () => dl * node.Forward(pred, target), pred, dpred.Span, LossEps));
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(5, 6, 5)]
    [InlineData(9, 4, 3)]
    public void EmbeddingWithRepeatedIds(int count, int v, int d)
    {
        var rng = new Rng(9);
        var node = new Embedding<double>(Param(rng, "W", 0.5, v, d));
        var ids = Ids(rng, count, v);
        if (count >= 3) { ids[0] = 1; ids[2] = 1; }      // a repeated id for sure
        var y = node.Forward(ids);
        var dout = GradCheck.RandomTensor(rng, 1.0, count, d);
        node.ZeroGrad();
        node.Backward(dout);
        CheckParams(node, () => GradCheck.UpstreamLoss(node.Forward(ids), dout));
        // the repeated row holds the sum of its rows' upstream gradients
        if (count >= 3)
        {
            double expect = 0;
            for (int i = 0; i < count; i++) if (ids[i] == 1) expect += dout[i, 0];
            Assert.Equal(expect, node.W.Grad[1, 0], 1e-14);
        }
    }

    [Fact]
    public void TimeEmbeddingWithRepeatedIds()
    {
        var rng = new Rng(10);
        int n = 3, t = 7, v = 6, d = 5;
        var node = new TimeEmbedding<double>(Param(rng, "W", 0.5, v, d));
        var ids = Ids(rng, n * t, v);            // 21 ids from 6: repeats guaranteed
        var y = node.Forward(ids, n, t);
        Assert.Equal([n, t, d], y.Shape.ToArray());
        var dout = GradCheck.RandomTensor(rng, 1.0, n, t, d);
        node.ZeroGrad();
        node.Backward(dout);
        CheckParams(node, () => GradCheck.UpstreamLoss(node.Forward(ids, n, t), dout));
    }

    [Theory]
    [InlineData(1, 1, 0.0)]
    [InlineData(3, 5, 0.0)]
    [InlineData(7, 4, 0.4)]   // rows with ignored targets
    public void SoftmaxWithLoss(int n, int v, double ignoreFraction)
    {
        var rng = new Rng(11);
        var node = new SoftmaxWithLoss<double>();
        var x = GradCheck.RandomTensor(rng, 2.0, n, v);
        var targets = Ids(rng, n, v);
        for (int i = 0; i < n; i++) if (rng.NextDouble() < ignoreFraction) targets[i] = -1;
        if (ignoreFraction > 0) targets[0] = -1;
        const double dl = 0.7;
        node.Forward(x, targets);
        var dx = node.Backward(dl).Clone();
        AssertOk(GradCheck.Check("dlogits", () => dl * node.Forward(x, targets), x, dx.Span, LossEps));
        if (ignoreFraction > 0) Assert.All(dx.Row(0).ToArray(), g => Assert.Equal(0.0, g));
    }

    [Fact]
    public void TimeSoftmaxWithLossIgnoreIndex()
    {
        var rng = new Rng(12);
        int n = 3, t = 7, v = 5;
        var node = new TimeSoftmaxWithLoss<double>();
        var x = GradCheck.RandomTensor(rng, 2.0, n, t, v);
        var targets = Ids(rng, n * t, v);
        targets[0] = targets[5] = targets[20] = 99;          // custom ignore index
        const double dl = 1.3;
        double loss = node.Forward(x, targets, ignoreIndex: 99);
        Assert.Equal(n * t - 3, node.Count);
        var dx = node.Backward(dl).Clone();
        AssertOk(GradCheck.Check("dlogits", () => dl * node.Forward(x, targets, ignoreIndex: 99), x, dx.Span, LossEps));
        // loss = mean over the non-ignored positions, computed independently
        double sum = 0;
        for (int r = 0; r < n * t; r++)
        {
            if (targets[r] == 99) continue;
            double z = 0;
            for (int j = 0; j < v; j++) z += Math.Exp(x.Span[r * v + j]);
            sum += Math.Log(z) - x.Span[r * v + targets[r]];
        }
        Assert.Equal(sum / (n * t - 3), loss, 1e-13);
    }

    [Theory]
    [InlineData(1, 1, 0.5)]
    [InlineData(3, 5, 0.3)]
    [InlineData(7, 4, 0.0)]
    public void Dropout(int n, int d, double p)
    {
        var rng = new Rng(13);
        var maskRng = new Rng(14);
        var state = maskRng.GetState();
        var node = new Dropout<double>(p, maskRng);
        CheckNode(node, GradCheck.RandomTensor(rng, 1.0, n, d), rng, beforeForward: () => maskRng.SetState(state));
    }

    [Fact]
    public void TimeDropout()
    {
        var rng = new Rng(15);
        var maskRng = new Rng(16);
        var state = maskRng.GetState();
        var node = new TimeDropout<double>(0.5, maskRng);
        CheckNode(node, GradCheck.RandomTensor(rng, 1.0, 3, 7, 5), rng, beforeForward: () => maskRng.SetState(state));
        Assert.Contains(node.Mask!.ToArray(), m => m == 0);
        Assert.Contains(node.Mask!.ToArray(), m => m == 2.0);
    }
}
