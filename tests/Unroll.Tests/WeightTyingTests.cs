using Unroll.Checking;
using Unroll.Nodes;
using Unroll.Tensors;
using static Unroll.Tests.NodeGrad;

namespace Unroll.Tests;

/// <summary>TimeEmbedding and TimeAffine sharing ONE Parameter (V, D): the shared gradient is the sum of both uses.</summary>
public class WeightTyingTests
{
    private sealed class TiedModel : IModule<double>
    {
        public readonly TimeEmbedding<double> Emb;
        public readonly Tanh<double> Act = new();
        public readonly TimeAffine<double> Out;
        public readonly TimeSoftmaxWithLoss<double> Loss = new();
        public TiedModel(Parameter<double> e, Parameter<double> b) { Emb = new(e); Out = new(e, b, transposeW: true); }
        public IEnumerable<Parameter<double>> Parameters => Emb.Parameters.Concat(Out.Parameters);

        public double Forward(int[] ids, int n, int t, int[] targets) =>
            Loss.Forward(Out.Forward(Act.Forward(Emb.Forward(ids, n, t))), targets);

        public void Backward() => Emb.Backward(Act.Backward(Out.Backward(Loss.Backward())));
    }

    [Theory]
    [InlineData(3, 7, 6, 5)]
    [InlineData(1, 1, 1, 1)]
    [InlineData(2, 3, 7, 4)]
    public void TiedParameterMatchesCentralDifferences(int n, int t, int v, int d)
    {
        var rng = new Rng(21);
        var e = Param(rng, "E", 0.7, v, d);
        var b = Param(rng, "b", 0.5, v);
        var model = new TiedModel(e, b);
        Assert.Equal(2, model.DistinctParameters().Count);
        var ids = Ids(rng, n * t, v);
        var targets = Ids(rng, n * t, v);
        model.Forward(ids, n, t, targets);
        model.ZeroGrad();
        model.Backward();
        CheckParams(model, () => model.Forward(ids, n, t, targets), eps: 1e-5);
    }

    [Fact]
    public void TiedGradientIsSumOfUntiedGradients()
    {
        var rng = new Rng(22);
        int n = 3, t = 7, v = 6, d = 5;
        var e = Param(rng, "E", 0.7, v, d);
        var b = Param(rng, "b", 0.5, v);
        var ids = Ids(rng, n * t, v);
        var targets = Ids(rng, n * t, v);

        var tied = new TiedModel(e, b);
        tied.Forward(ids, n, t, targets);
        tied.ZeroGrad();
        tied.Backward();

        // the same computation with two separate copies of E
        var eIn = new Parameter<double>("Ein", e.Value.Clone());
        var eOut = new Parameter<double>("Eout", e.Value.Clone());
        var emb = new TimeEmbedding<double>(eIn);
        var act = new Tanh<double>();
        var aff = new TimeAffine<double>(eOut, new Parameter<double>("b2", b.Value.Clone()), transposeW: true);
        var loss = new TimeSoftmaxWithLoss<double>();
        loss.Forward(aff.Forward(act.Forward(emb.Forward(ids, n, t))), targets);
        emb.Backward(act.Backward(aff.Backward(loss.Backward())));

        Assert.Contains(eIn.Grad.ToArray(), g => g != 0);
        Assert.Contains(eOut.Grad.ToArray(), g => g != 0);
        for (int i = 0; i < e.Grad.Length; i++)
            Assert.Equal(eIn.Grad.Span[i] + eOut.Grad.Span[i], e.Grad.Span[i], 1e-14);
    }
}
