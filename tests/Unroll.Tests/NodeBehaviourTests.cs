using Unroll.Checking;
using Unroll.Nodes;
using Unroll.Tensors;
using static Unroll.Tests.NodeGrad;

namespace Unroll.Tests;

/// <summary>Dropout semantics, gradient accumulation, shape-mismatch messages, workspace reuse and bad ids.</summary>
public class NodeBehaviourTests
{
    // ---------- dropout ----------

    [Fact]
    public void DropoutMaskIsDeterminedBySeed()
    {
        var x = new Tensor<float>(8, 50); x.Fill(1f);
        var a = new Dropout<float>(0.3, new Rng(7)).Forward(x).ToArray();
        var b = new Dropout<float>(0.3, new Rng(7)).Forward(x).ToArray();
        var c = new Dropout<float>(0.3, new Rng(8)).Forward(x).ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void DropoutIsInvertedAndKeepsTheMean()
    {
        const double p = 0.25;
        int n = 200_000;
        var x = new Tensor<double>(n); x.Fill(1.0);
        var node = new Dropout<double>(p, new Rng(9));
        var y = node.Forward(x).ToArray();
        double keep = 1 / (1 - p);
        Assert.All(y, v => Assert.True(v == 0 || v == keep, $"value {v}"));
        double kept = y.Count(v => v != 0) / (double)n;
        double sigma = Math.Sqrt(p * (1 - p) / n);
        Assert.True(Math.Abs(kept - (1 - p)) < 5 * sigma, $"kept fraction {kept}");
        Assert.True(Math.Abs(y.Average() - 1.0) < 5 * sigma * keep, $"mean {y.Average()}");
        // backward uses the same mask
        var dy = new Tensor<double>(n); dy.Fill(3.0);
        var dx = node.Backward(dy).ToArray();
        for (int i = 0; i < n; i++) Assert.Equal(3.0 * y[i], dx[i]);
    }

    [Fact]
    public void DropoutIsIdentityInEvalAndWithZeroP()
    {
        var rng = new Rng(10);
        var x = GradCheck.RandomTensor(rng, 1.0, 3, 7, 5);
        var maskRng = new Rng(11);
        var before = maskRng.GetState();

        var eval = new TimeDropout<double>(0.5, maskRng) { Training = false };
        Assert.Equal(x.ToArray(), eval.Forward(x).ToArray());
        Assert.Equal(x.ToArray(), eval.Backward(x).ToArray());
        Assert.Null(eval.Mask);

        var p0 = new Dropout<double>(0.0, maskRng);
        Assert.Equal(x.ToArray(), p0.Forward(x).ToArray());
        Assert.Equal(x.ToArray(), p0.Backward(x).ToArray());
        Assert.Equal(before, maskRng.GetState());     // no randomness consumed

        eval.Training = true;
        Assert.NotEqual(x.ToArray(), eval.Forward(x).ToArray());
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void DropoutRejectsBadP(double p) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new Dropout<float>(p, new Rng(1)));

    // ---------- accumulation: two backward passes without ZeroGrad double the gradient ----------

    [Fact]
    public void ParameterGradientsAccumulate()
    {
        var rng = new Rng(12);
        CheckAccumulates(new MatMul<double>(Param(rng, "W", 0.5, 5, 4)), GradCheck.RandomTensor(rng, 1, 3, 5), rng);
        CheckAccumulates(new AddBias<double>(Param(rng, "b", 0.5, 4)), GradCheck.RandomTensor(rng, 1, 3, 4), rng);
        CheckAccumulates(new Affine<double>(Param(rng, "W", 0.5, 5, 4), Param(rng, "b", 0.5, 4)), GradCheck.RandomTensor(rng, 1, 3, 5), rng);
        CheckAccumulates(new TimeAffine<double>(Param(rng, "W", 0.5, 5, 4), Param(rng, "b", 0.5, 4)), GradCheck.RandomTensor(rng, 1, 3, 7, 5), rng);
        CheckAccumulates(new TimeAffine<double>(Param(rng, "W", 0.5, 4, 5), Param(rng, "b", 0.5, 4), transposeW: true), GradCheck.RandomTensor(rng, 1, 3, 7, 5), rng);
    }

    [Fact]
    public void EmbeddingGradientsAccumulate()
    {
        var rng = new Rng(13);
        var emb = new Embedding<double>(Param(rng, "W", 0.5, 6, 5));
        var ids = Ids(rng, 9, 6);
        emb.Forward(ids);
        var dy = GradCheck.RandomTensor(rng, 1, 9, 5);
        emb.ZeroGrad(); emb.Backward(dy);
        var once = new List<Tensor<double>> { emb.W.Grad.Clone() };
        emb.Backward(dy);
        AssertDoubled(emb, once);

        var temb = new TimeEmbedding<double>(Param(rng, "W", 0.5, 6, 5));
        var tids = Ids(rng, 21, 6);
        temb.Forward(tids, 3, 7);
        var tdy = GradCheck.RandomTensor(rng, 1, 3, 7, 5);
        temb.ZeroGrad(); temb.Backward(tdy);
        once = [temb.W.Grad.Clone()];
        temb.Backward(tdy);
        AssertDoubled(temb, once);
    }

    // ---------- bad input ----------

    private static void AssertNames(Exception ex, params string[] parts)
    {
        foreach (var s in parts) Assert.Contains(s, ex.Message);
    }

    [Fact]
    public void ShapeMismatchesNameNodeAndBothShapes()
    {
        var rng = new Rng(14);
        var mm = new MatMul<float>(new Parameter<float>("W", new Tensor<float>(5, 4)));
        AssertNames(Assert.Throws<ArgumentException>(() => mm.Forward(new Tensor<float>(3, 6))), "MatMul", "(3, 6)", "(5, 4)");
        mm.Forward(new Tensor<float>(3, 5));
        AssertNames(Assert.Throws<ArgumentException>(() => mm.Backward(new Tensor<float>(3, 5))), "MatMul", "(3, 5)", "(3, 4)");

        var ab = new AddBias<float>(new Parameter<float>("b", new Tensor<float>(4)));
        AssertNames(Assert.Throws<ArgumentException>(() => ab.Forward(new Tensor<float>(3, 5))), "AddBias", "(3, 5)", "(4)");
        ab.Forward(new Tensor<float>(3, 4));
        AssertNames(Assert.Throws<ArgumentException>(() => ab.Backward(new Tensor<float>(4, 3))), "AddBias", "(4, 3)", "(3, 4)");

        var af = new Affine<float>(new Parameter<float>("W", new Tensor<float>(5, 4)), new Parameter<float>("b", new Tensor<float>(4)));
        AssertNames(Assert.Throws<ArgumentException>(() => af.Forward(new Tensor<float>(2, 3))), "Affine", "(2, 3)", "(5, 4)");
        AssertNames(Assert.Throws<ArgumentException>(() => new Affine<float>(new Parameter<float>("W", new Tensor<float>(5, 4)), new Parameter<float>("b", new Tensor<float>(3)))),
                    "Affine", "(5, 4)", "(3)");
        af.Forward(new Tensor<float>(2, 5));
        AssertNames(Assert.Throws<ArgumentException>(() => af.Backward(new Tensor<float>(2, 5))), "Affine", "(2, 5)", "(2, 4)");

        var sg = new Sigmoid<float>(); sg.Forward(new Tensor<float>(2, 3));
        AssertNames(Assert.Throws<ArgumentException>(() => sg.Backward(new Tensor<float>(3, 2))), "Sigmoid", "(3, 2)", "(2, 3)");
        var rl = new Relu<float>(); rl.Forward(new Tensor<float>(2, 3));
        AssertNames(Assert.Throws<ArgumentException>(() => rl.Backward(new Tensor<float>(3, 2))), "Relu", "(3, 2)", "(2, 3)");
        var dr = new Dropout<float>(0.5, rng); dr.Forward(new Tensor<float>(2, 3));
        AssertNames(Assert.Throws<ArgumentException>(() => dr.Backward(new Tensor<float>(3, 2))), "Dropout", "(3, 2)", "(2, 3)");
        var td = new TimeDropout<float>(0.5, rng);
        AssertNames(Assert.Throws<ArgumentException>(() => td.Forward(new Tensor<float>(2, 3))), "TimeDropout", "(2, 3)");

        var emb = new Embedding<float>(new Parameter<float>("W", new Tensor<float>(6, 5)));
        emb.Forward([1, 2, 3]);
        AssertNames(Assert.Throws<ArgumentException>(() => emb.Backward(new Tensor<float>(3, 4))), "Embedding", "(3, 4)", "(3, 5)");
        var temb = new TimeEmbedding<float>(new Parameter<float>("W", new Tensor<float>(6, 5)));
        AssertNames(Assert.Throws<ArgumentException>(() => temb.Forward([1, 2, 3], 2, 2)), "TimeEmbedding", "(3)", "(2, 2)");
        temb.Forward([1, 2, 3, 4], 2, 2);
        AssertNames(Assert.Throws<ArgumentException>(() => temb.Backward(new Tensor<float>(2, 2, 4))), "TimeEmbedding", "(2, 2, 4)", "(2, 2, 5)");

        var ta = new TimeAffine<float>(new Parameter<float>("W", new Tensor<float>(5, 4)), new Parameter<float>("b", new Tensor<float>(4)));
        AssertNames(Assert.Throws<ArgumentException>(() => ta.Forward(new Tensor<float>(2, 3, 4))), "TimeAffine", "(2, 3, 4)", "(5, 4)");
        AssertNames(Assert.Throws<ArgumentException>(() => ta.Forward(new Tensor<float>(6, 5))), "TimeAffine", "(6, 5)");
        ta.Forward(new Tensor<float>(2, 3, 5));
        AssertNames(Assert.Throws<ArgumentException>(() => ta.Backward(new Tensor<float>(2, 3, 5))), "TimeAffine", "(2, 3, 5)", "(2, 3, 4)");
        var tied = new TimeAffine<float>(new Parameter<float>("E", new Tensor<float>(6, 5)), new Parameter<float>("b", new Tensor<float>(6)), transposeW: true);
        AssertNames(Assert.Throws<ArgumentException>(() => tied.Forward(new Tensor<float>(2, 3, 6))), "TimeAffine", "(2, 3, 6)", "(6, 5)");

        var sm = new SoftmaxWithLoss<float>();
        AssertNames(Assert.Throws<ArgumentException>(() => sm.Forward(new Tensor<float>(3, 5), [0, 1])), "SoftmaxWithLoss", "(3, 5)", "(2)");
        var tsm = new TimeSoftmaxWithLoss<float>();
        AssertNames(Assert.Throws<ArgumentException>(() => tsm.Forward(new Tensor<float>(2, 3, 5), [0, 1])), "TimeSoftmaxWithLoss", "(2, 3, 5)");
        var mse = new MeanSquaredError<float>();
        AssertNames(Assert.Throws<ArgumentException>(() => mse.Forward(new Tensor<float>(2, 3), new Tensor<float>(3, 2))), "MeanSquaredError", "(2, 3)", "(3, 2)");
    }

    [Fact]
    public void OutOfRangeIdsAndTargetsAreRejected()
    {
        var emb = new Embedding<float>(new Parameter<float>("W", new Tensor<float>(6, 5)));
        AssertNames(Assert.Throws<ArgumentException>(() => emb.Forward([0, 6])), "Embedding", "6", "position 1");
        AssertNames(Assert.Throws<ArgumentException>(() => emb.Forward([-1])), "Embedding", "-1");
        var temb = new TimeEmbedding<float>(new Parameter<float>("W", new Tensor<float>(6, 5)));
        AssertNames(Assert.Throws<ArgumentException>(() => temb.Forward([0, 1, 2, 9], 2, 2)), "TimeEmbedding", "9");
        var sm = new SoftmaxWithLoss<float>();
        AssertNames(Assert.Throws<ArgumentException>(() => sm.Forward(new Tensor<float>(2, 5), [0, 5])), "SoftmaxWithLoss", "5");
        AssertNames(Assert.Throws<ArgumentException>(() => sm.Forward(new Tensor<float>(2, 5), [0, -2])), "SoftmaxWithLoss", "-2");
        var tsm = new TimeSoftmaxWithLoss<float>();
        AssertNames(Assert.Throws<ArgumentException>(() => tsm.Forward(new Tensor<float>(1, 2, 5), [0, -1], ignoreIndex: 0)), "TimeSoftmaxWithLoss", "-1");
    }

    [Fact]
    public void BackwardBeforeForwardThrows()
    {
        Assert.Throws<InvalidOperationException>(() => new Sigmoid<float>().Backward(new Tensor<float>(1, 1)));
        Assert.Throws<InvalidOperationException>(() => new SoftmaxWithLoss<float>().Backward());
        Assert.Throws<InvalidOperationException>(() => new MeanSquaredError<float>().Backward());
    }

    // ---------- workspaces ----------

    [Fact]
    public void WorkspacesAreReusedWithoutAllocation()
    {
        var rng = new Rng(15);
        var x = GradCheck.RandomTensor(rng, 1, 3, 7, 5).Cast<float>();
        var ids = Ids(rng, 21, 6);
        var sig = new Sigmoid<float>(); var relu = new Relu<float>();
        var drop = new TimeDropout<float>(0.3, new Rng(1));
        var bias = new AddBias<float>(new Parameter<float>("b", new Tensor<float>(5)));
        var emb = new TimeEmbedding<float>(new Parameter<float>("W", new Tensor<float>(6, 5)));
        var sm = new TimeSoftmaxWithLoss<float>();
        var mse = new MeanSquaredError<float>();

        void Step()
        {
            sig.Backward(sig.Forward(x)); relu.Backward(relu.Forward(x));
            drop.Backward(drop.Forward(x)); bias.Backward(bias.Forward(x));
            emb.Backward(emb.Forward(ids, 3, 7));
            sm.Forward(x, ids.Select(i => i % 5).ToArray()); sm.Backward(1f);
            sm.ForwardBackward(x, ids.AsSpan(), 1f, out _, ignoreIndex: 5);
            mse.Forward(x, x); mse.Backward();
        }
        Step(); Step();
        var y1 = sig.Forward(x); var y2 = sig.Forward(x);
        Assert.Same(y1, y2);

        int[] targets = ids.Select(i => i % 5).ToArray();
        void Steady()
        {
            sig.Backward(sig.Forward(x)); relu.Backward(relu.Forward(x));
            drop.Backward(drop.Forward(x)); bias.Backward(bias.Forward(x));
            emb.Backward(emb.Forward(ids, 3, 7));
            sm.Forward(x, targets); sm.Backward(1f);
            mse.Forward(x, x); mse.Backward();
        }
        Steady();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) Steady();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"steady-state steps allocated {allocated} bytes");
    }

    [Fact]
    public void GemmNodesReuseWorkspacesWithoutAllocation()
    {
        var rng = new Rng(16);
        var x = GradCheck.RandomTensor(rng, 1, 4, 9, 6).Cast<float>();
        var x2 = x.Reshape(36, 6);
        var mm = new MatMul<float>(new Parameter<float>("W", GradCheck.RandomTensor(rng, 1, 6, 5).Cast<float>()));
        var af = new Affine<float>(new Parameter<float>("W", GradCheck.RandomTensor(rng, 1, 6, 5).Cast<float>()), new Parameter<float>("b", new Tensor<float>(5)));
        var ta = new TimeAffine<float>(new Parameter<float>("W", GradCheck.RandomTensor(rng, 1, 5, 6).Cast<float>()), new Parameter<float>("b", new Tensor<float>(5)), transposeW: true);
        void Step() { mm.Backward(mm.Forward(x2)); af.Backward(af.Forward(x2)); ta.Backward(ta.Forward(x)); }
        Step();
        var y = ta.Forward(x); var dx = ta.Backward(y);
        Step();
        Assert.Same(y, ta.Forward(x));
        Assert.Same(dx, ta.Backward(y));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) Step();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"steady-state steps allocated {allocated} bytes (GEMM backend {Unroll.Kernels.Gemm.Backend.Name})");
    }
}
