using Unroll.Checking;
using Unroll.Nodes;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>The float32 code path (the one used for training) agrees with float64, and extreme finite inputs stay finite.</summary>
public class NodeFloatTests
{
    private static void Close(Tensor<double> d, Tensor<float> f, double tol, string what)
    {
        Assert.Equal(d.Shape.ToArray(), f.Shape.ToArray());
        double scale = Math.Max(1e-30, d.ToArray().Max(Math.Abs));
        for (int i = 0; i < d.Length; i++)
            Assert.True(Math.Abs(d.Span[i] - f.Span[i]) <= tol * scale, $"{what}[{i}]: double {d.Span[i]} vs float {f.Span[i]}");
    }

    private static void Same(INode<double> nd, INode<float> nf, Tensor<double> x, Rng rng)
    {
        var yd = nd.Forward(x);
        var yf = nf.Forward(x.Cast<float>());
        Close(yd, yf, 1e-5, "y");
        var dy = GradCheck.RandomTensor(rng, 1, yd.Shape.ToArray());
        Close(nd.Backward(dy), nf.Backward(dy.Cast<float>()), 1e-5, "dx");
        var pd = nd.DistinctParameters(); var pf = nf.DistinctParameters();
        for (int k = 0; k < pd.Count; k++) Close(pd[k].Grad, pf[k].Grad, 1e-5, pd[k].Name);
    }

    private static (Parameter<double>, Parameter<float>) Twin(Rng rng, string name, params int[] shape)
    {
        var v = GradCheck.RandomTensor(rng, 0.5, shape);
        return (new(name, v), new(name, v.Cast<float>()));
    }

    [Fact]
    public void FloatMatchesDouble()
    {
        var rng = new Rng(40);
        var (w, wf) = Twin(rng, "W", 5, 4); var (b, bf) = Twin(rng, "b", 4);
        Same(new Affine<double>(w, b), new Affine<float>(wf, bf), GradCheck.RandomTensor(rng, 1, 3, 5), rng);
        (w, wf) = Twin(rng, "W", 5, 4);
        Same(new MatMul<double>(w), new MatMul<float>(wf), GradCheck.RandomTensor(rng, 1, 3, 5), rng);
        (b, bf) = Twin(rng, "b", 4);
        Same(new AddBias<double>(b), new AddBias<float>(bf), GradCheck.RandomTensor(rng, 1, 3, 4), rng);
        (w, wf) = Twin(rng, "W", 4, 5); (b, bf) = Twin(rng, "b", 4);
        Same(new TimeAffine<double>(w, b, true), new TimeAffine<float>(wf, bf, true), GradCheck.RandomTensor(rng, 1, 3, 7, 5), rng);
        Same(new Sigmoid<double>(), new Sigmoid<float>(), GradCheck.RandomTensor(rng, 3, 3, 7, 5), rng);
        Same(new Relu<double>(), new Relu<float>(), GradCheck.RandomTensor(rng, 3, 3, 7, 5), rng);

        var x = GradCheck.RandomTensor(rng, 3, 3, 7, 11);
        var t = NodeGrad.Ids(rng, 21, 11); t[3] = -1;
        var sd = new TimeSoftmaxWithLoss<double>(); var sf = new TimeSoftmaxWithLoss<float>();
        Assert.Equal(sd.Forward(x, t), sf.Forward(x.Cast<float>(), t), 1e-5);
        Close(sd.Backward(), sf.Backward(), 1e-5, "dlogits");
    }

    [Fact]
    public void ExtremeFiniteInputsGiveFiniteOutputsAndGradients()
    {
        // (±3e38 would overflow in dropout's 1/(1 − p) scaling — an honest overflow, documented; kept out here)
        float[] raw = [1e4f, -1e4f, 100f, -100f, 88.8f, -88.8f, 20f, -20f, 0f, 1e30f, -1e30f];
        var x = Tensor<float>.FromArray(raw, 1, raw.Length);
        var dy = new Tensor<float>(1, raw.Length); dy.Fill(1f);
        INode<float>[] nodes = [new Sigmoid<float>(), new Tanh<float>(), new Relu<float>(), new Dropout<float>(0.5, new Rng(1))];
        foreach (var node in nodes)
        {
            var y = node.Forward(x).ToArray();
            var dx = node.Backward(dy).ToArray();
            Assert.All(y, v => Assert.True(float.IsFinite(v), $"{node.GetType().Name}: y = {v}"));
            Assert.All(dx, v => Assert.True(float.IsFinite(v), $"{node.GetType().Name}: dx = {v}"));
        }
        var sig = new Sigmoid<float>().Forward(x).ToArray();
        Assert.Equal(1f, sig[0]); Assert.Equal(0f, sig[1]);
        Assert.All(sig, v => Assert.InRange(v, 0f, 1f));

        var sm = new SoftmaxWithLoss<float>();
        float loss = sm.Forward(x, [10]);      // target is −1e30 while the max is 1e30: huge but finite
        Assert.Equal(2e30f, loss, 1e24f);
        Assert.True(float.IsFinite(loss), $"loss {loss}");
        Assert.All(sm.Backward().ToArray(), v => Assert.True(float.IsFinite(v)));
    }
}
