using Unroll.Checking;
using Unroll.Nodes;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>Stability, ignore-index and the fused-vs-reference kernel comparison of the softmax cross-entropy.</summary>
public class SoftmaxLossTests
{
    private static void ExtremeLogitsStayFiniteAndCorrect<T>(double tol) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var node = new SoftmaxWithLoss<T>();
        // row 0: target is the huge logit → loss ≈ 0; row 1: target is −1e4 while the max is 1e4 → loss = 2e4
        // row 2: all equal ±1e4 → log 3
        double[] raw = [1e4, -1e4, 0, 1e4, -1e4, 0, -1e4, -1e4, -1e4];
        var x = Tensor<T>.FromArray(raw.Select(T.CreateTruncating).ToArray(), 3, 3);
        int[] targets = [0, 1, 2];
        double loss = double.CreateTruncating(node.Forward(x, targets));
        Assert.True(double.IsFinite(loss));
        double expect = (0 + 2e4 + Math.Log(3)) / 3;
        Assert.True(Math.Abs(loss - expect) <= tol * expect, $"loss {loss} vs {expect}");
        var dx = node.Backward().ToArray().Select(double.CreateTruncating).ToArray();
        Assert.All(dx, g => Assert.True(double.IsFinite(g)));
        double[] expectDx = [0, 0, 0, 1, -1, 0, 1.0 / 3, 1.0 / 3, -2.0 / 3];
        for (int i = 0; i < 9; i++) Assert.True(Math.Abs(dx[i] - expectDx[i] / 3) <= 1e-6, $"dx[{i}] = {dx[i]}");
        var p = node.Probabilities!.ToArray().Select(double.CreateTruncating).ToArray();
        Assert.All(p, v => Assert.True(double.IsFinite(v) && v >= 0 && v <= 1));

        var fused = node.ForwardBackward(x, targets, T.One, out var g);
        Assert.True(Math.Abs(double.CreateTruncating(fused) - expect) <= tol * expect);
        Assert.All(g.ToArray(), v => Assert.True(T.IsFinite(v)));
    }

    [Fact] public void LogitsOfPlusMinus1e4StayFiniteFloat() => ExtremeLogitsStayFiniteAndCorrect<float>(1e-6);
    [Fact] public void LogitsOfPlusMinus1e4StayFiniteDouble() => ExtremeLogitsStayFiniteAndCorrect<double>(1e-14);

    [Fact]
    public void TimeSoftmaxWithHugeLogitsIsFinite()
    {
        var rng = new Rng(30);
        var x = new Tensor<float>(2, 3, 11);
        var s = x.Span;
        for (int i = 0; i < s.Length; i++) s[i] = rng.NextDouble() < 0.5 ? 1e4f : -1e4f;
        var node = new TimeSoftmaxWithLoss<float>();
        float loss = node.Forward(x, NodeGrad.Ids(rng, 6, 11));
        Assert.True(float.IsFinite(loss) && loss >= 0);
        Assert.All(node.Backward().ToArray(), g => Assert.True(float.IsFinite(g)));
    }

    [Fact]
    public void AllTargetsIgnoredGivesZeroLossAndGradient()
    {
        var rng = new Rng(31);
        var node = new SoftmaxWithLoss<double>();
        var x = GradCheck.RandomTensor(rng, 1.0, 4, 5);
        Assert.Equal(0.0, node.Forward(x, [-1, -1, -1, -1]));
        Assert.Equal(0, node.Count);
        Assert.All(node.Backward().ToArray(), g => Assert.Equal(0.0, g));
        Assert.Equal(0.0, node.ForwardBackward(x, [-1, -1, -1, -1], 1.0, out var dx));
        Assert.All(dx.ToArray(), g => Assert.Equal(0.0, g));
    }

    [Fact]
    public void IgnoredRowsDoNotChangeTheLoss()
    {
        var rng = new Rng(32);
        var x = GradCheck.RandomTensor(rng, 1.0, 3, 5);
        var node = new SoftmaxWithLoss<double>();
        double all3 = node.Forward(x, [1, 2, 3]);
        double only2 = node.Forward(x, [1, -1, 3]);
        double row0 = node.Forward(x.Slice0(0, 1), [1]);
        double row2 = node.Forward(x.Slice0(2, 1), [3]);
        Assert.Equal((row0 + row2) / 2, only2, 1e-14);
        Assert.NotEqual(all3, only2);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 7)]
    [InlineData(5, 1)]
    [InlineData(7, 13)]
    [InlineData(3, 1001)]
    [InlineData(33, 37)]
    public void FusedKernelsMatchReferenceKernels(int n, int v)
    {
        Compare<double>(n, v, 1e-13);
        Compare<float>(n, v, 2e-6);
    }

    private static void Compare<T>(int n, int v, double tol) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new Rng((ulong)(n * 1000 + v));
        var logits = GradCheck.RandomTensor(rng, 3.0, n, v).Cast<T>();
        var targets = NodeGrad.Ids(rng, n, v);
        for (int i = 0; i < n; i++) if (i % 3 == 1) targets[i] = -1;
        var pFast = new T[n * v]; var pRef = new T[n * v];
        double lFast = SoftmaxCrossEntropy.Forward<T>(logits.Span, n, v, targets, -1, pFast, out int cFast);
        double lRef = SoftmaxCrossEntropy.ForwardReference<T>(logits.Span, n, v, targets, -1, pRef, out int cRef);
        Assert.Equal(cRef, cFast);
        AssertClose("loss", [lRef], [lFast], tol);
        AssertClose("probs", pRef, pFast, tol);

        T scale = T.CreateTruncating(0.37);
        var gFast = new T[n * v]; var gRef = new T[n * v];
        SoftmaxCrossEntropy.Backward<T>(pRef, n, v, targets, -1, scale, gFast);
        SoftmaxCrossEntropy.BackwardReference<T>(pRef, n, v, targets, -1, scale, gRef);
        AssertClose("backward", gRef, gFast, tol);

        var fFast = new T[n * v]; var fRef = new T[n * v];
        double mFast = SoftmaxCrossEntropy.LossAndGradient<T>(logits.Span, n, v, targets, -1, scale, fFast, out _);
        double mRef = SoftmaxCrossEntropy.LossAndGradientReference<T>(logits.Span, n, v, targets, -1, scale, fRef, out _);
        AssertClose("fused loss", [mRef], [mFast], tol);
        AssertClose("fused grad", fRef, fFast, tol);
        Assert.Equal(lRef / Math.Max(cRef, 1), mRef, 1e-12);
    }

    private static void AssertClose<T>(string what, T[] expect, T[] actual, double tol) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        double scale = 0;
        foreach (var e in expect) scale = Math.Max(scale, Math.Abs(double.CreateTruncating(e)));
        for (int i = 0; i < expect.Length; i++)
        {
            double e = double.CreateTruncating(expect[i]), a = double.CreateTruncating(actual[i]);
            Assert.True(Math.Abs(e - a) <= tol * Math.Max(scale, 1e-30), $"{what}[{i}]: reference {e} vs fast {a}");
        }
    }

    [Fact]
    public void NodeForwardBackwardEqualsForwardThenBackward()
    {
        var rng = new Rng(33);
        var x = GradCheck.RandomTensor(rng, 2.0, 3, 7, 9);
        var targets = NodeGrad.Ids(rng, 21, 9);
        targets[4] = -1;
        var node = new TimeSoftmaxWithLoss<double>();
        double l1 = node.Forward(x, targets);
        var g1 = node.Backward(0.5).Clone();
        double l2 = node.ForwardBackward(x, targets, 0.5, out var g2);
        Assert.Equal(l1, l2, 1e-14);
        for (int i = 0; i < g1.Length; i++) Assert.Equal(g1.Span[i], g2.Span[i], 1e-15);
        Assert.Null(node.Probabilities);
        Assert.Throws<InvalidOperationException>(() => node.Backward());
    }
}

public class SoftmaxKernelTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(33)]
    [InlineData(1001)]
    public void ExpShiftedSumMatchesReference(int len)
    {
        var rng = new Rng((ulong)len + 5);
        var xd = new double[len];
        for (int i = 0; i < len; i++) xd[i] = i % 11 == 3 ? -120.0 - 60 * rng.NextDouble() : 8 * (rng.NextDouble() - 0.5);   // some far below the shift (underflow)
        double shift = len == 0 ? 0 : xd.Max();
        var fast = new double[len]; var reff = new double[len];
        double sFast = Unroll.Nodes.SoftmaxCrossEntropy.ExpShiftedSum<double>(xd, shift, fast);
        double sRef = Unroll.Nodes.SoftmaxCrossEntropy.ExpShiftedSumReference<double>(xd, shift, reff);
        Assert.Equal(sRef, sFast, 1e-12 * Math.Max(1, sRef));
        for (int i = 0; i < len; i++) Assert.True(Math.Abs(fast[i] - reff[i]) <= 1e-15 + 1e-13 * reff[i], $"double d[{i}]: {reff[i]} vs {fast[i]}");

        var xf = xd.Select(x => (float)x).ToArray();
        var ff = new float[len]; var rf = new float[len];
        float fsFast = Unroll.Nodes.SoftmaxCrossEntropy.ExpShiftedSum<float>(xf, (float)shift, ff);
        float fsRef = Unroll.Nodes.SoftmaxCrossEntropy.ExpShiftedSumReference<float>(xf, (float)shift, rf);
        Assert.True(Math.Abs(fsRef - fsFast) <= 1e-5 * Math.Max(1, fsRef), $"float sum {fsRef} vs {fsFast}");
        for (int i = 0; i < len; i++)
        {
            Assert.True(float.IsFinite(ff[i]) && ff[i] >= 0, $"float d[{i}] = {ff[i]}");
            Assert.True(Math.Abs(ff[i] - rf[i]) <= 1e-30 + 2e-6 * rf[i], $"float d[{i}]: {rf[i]} vs {ff[i]}");
        }
    }

    [Fact]
    public void ExpShiftedSumPropagatesNaN()
    {
        var x = new float[40];
        x[21] = float.NaN;
        var d = new float[40];
        Assert.True(float.IsNaN(Unroll.Nodes.SoftmaxCrossEntropy.ExpShiftedSum<float>(x, 0f, d)));
        Assert.True(float.IsNaN(d[21]));
    }

    [Fact]
    public void ParallelLossAndGradientMatchesReferenceAndSerial()
    {
        // 40 × 4099 = 163960 elements ≥ ParallelMinElements: the rows are split over the GEMM's worker threads
        const int n = 40, v = 4099;
        Assert.True((long)n * v >= Unroll.Nodes.SoftmaxCrossEntropy.ParallelMinElements);
        var rng = new Rng(77);
        var logits = new float[n * v];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)(6 * (rng.NextDouble() - 0.5));
        var targets = new int[n];
        for (int i = 0; i < n; i++) targets[i] = i % 7 == 2 ? -1 : rng.NextInt(v);
        var gPar = new float[n * v]; var gSer = new float[n * v]; var gRef = new float[n * v];
        int threads = Unroll.Kernels.Gemm.Threads;
        double lPar, lSer;
        try
        {
            Unroll.Kernels.Gemm.Threads = 2;
            lPar = Unroll.Nodes.SoftmaxCrossEntropy.LossAndGradient<float>(logits, n, v, targets, -1, 0.7f, gPar, out int c1);
            Unroll.Kernels.Gemm.Threads = 1;
            lSer = Unroll.Nodes.SoftmaxCrossEntropy.LossAndGradient<float>(logits, n, v, targets, -1, 0.7f, gSer, out int c2);
            Assert.Equal(c1, c2);
        }
        finally { Unroll.Kernels.Gemm.Threads = threads; }
        double lRef = Unroll.Nodes.SoftmaxCrossEntropy.LossAndGradientReference<float>(logits, n, v, targets, -1, 0.7f, gRef, out _);
        Assert.Equal(lSer, lPar, 1e-12);
        Assert.Equal(lRef, lPar, 1e-5);
        for (int i = 0; i < gPar.Length; i++)
        {
            Assert.Equal(gSer[i], gPar[i]);                                   // same rows, same arithmetic, whatever the split
            Assert.True(Math.Abs(gRef[i] - gPar[i]) <= 1e-7, $"grad[{i}]: reference {gRef[i]} vs fast {gPar[i]}");
        }
    }

    [Theory]
    [InlineData(3, 7, 1)]          // serial rows
    [InlineData(40, 4099, 2)]      // parallel rows (≥ ParallelMinElements)
    [InlineData(40, 4099, 1)]
    public void InPlaceLossAndGradientEqualsSeparateBuffer(int n, int v, int threads)
    {
        // dlogits written over the logits: each row's target logit must be read before the row is overwritten.
        var rng = new Rng(78);
        var logits = new float[n * v];
        for (int i = 0; i < logits.Length; i++) logits[i] = (float)(8 * (rng.NextDouble() - 0.5));
        var targets = new int[n];
        for (int i = 0; i < n; i++) targets[i] = i % 5 == 3 ? -1 : rng.NextInt(v);
        var g = new float[n * v];
        var inPlace = (float[])logits.Clone();
        int saved = Unroll.Kernels.Gemm.Threads;
        double l1, l2;
        try
        {
            Unroll.Kernels.Gemm.Threads = threads;
            l1 = Unroll.Nodes.SoftmaxCrossEntropy.LossAndGradient<float>(logits, n, v, targets, -1, 1.3f, g, out int c1);
            l2 = Unroll.Nodes.SoftmaxCrossEntropy.LossAndGradient<float>(inPlace, n, v, targets, -1, 1.3f, inPlace, out int c2);
            Assert.Equal(c1, c2);
        }
        finally { Unroll.Kernels.Gemm.Threads = saved; }
        Assert.Equal(l1, l2);
        for (int i = 0; i < g.Length; i++)
            if (g[i] != inPlace[i]) Assert.Fail($"in-place dlogits[{i}] = {inPlace[i]}, separate buffer {g[i]}");

        // The node: inPlace returns the logits tensor itself, holding the same gradient.
        var node = new TimeSoftmaxWithLoss<float>();
        var x = new Tensor<float>(n, 1, v);
        logits.CopyTo(x.Span);
        float loss = node.ForwardBackward(x, targets, 1.3f, out var dx, inPlace: true);
        Assert.Same(x, dx);
        Assert.Equal((float)l1, loss);
        Assert.True(g.AsSpan().SequenceEqual(dx.Span), "TimeSoftmaxWithLoss.ForwardBackward(inPlace) gradient differs");
    }
}

public class SoftmaxMaxExpTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(1000)]
    public void MaxMatchesReference(int len)
    {
        var rng = new Rng((ulong)len);
        var x = new float[len];
        for (int i = 0; i < len; i++) x[i] = (float)(100 * (rng.NextDouble() - 0.7));
        x[rng.NextInt(len)] = 500f;                                          // the max anywhere, also in the tail
        Assert.Equal(Unroll.Nodes.SoftmaxCrossEntropy.MaxReference<float>(x), Unroll.Nodes.SoftmaxCrossEntropy.Max<float>(x));
        var xd = x.Select(v => (double)v).ToArray();
        Assert.Equal(Unroll.Nodes.SoftmaxCrossEntropy.MaxReference<double>(xd), Unroll.Nodes.SoftmaxCrossEntropy.Max<double>(xd));
    }

    [Fact]
    public void ExpShiftedSumInPlaceEqualsSeparateOutputAtEveryLength()
    {
        // d = x (in place) must give what a separate d gives, including the overlapping AVX-512 tail (lengths 17..31, …).
        var rng = new Rng(9);
        for (int len = 0; len <= 130; len++)
        {
            var x = new float[len];
            for (int i = 0; i < len; i++) x[i] = (float)(10 * (rng.NextDouble() - 0.5));
            var d = new float[len];
            float s1 = Unroll.Nodes.SoftmaxCrossEntropy.ExpShiftedSum<float>(x, 1.5f, d);
            var y = (float[])x.Clone();
            float s2 = Unroll.Nodes.SoftmaxCrossEntropy.ExpShiftedSum<float>(y, 1.5f, y);
            Assert.True(s1 == s2, $"len {len}: in-place sum {s2}, separate {s1}");
            for (int i = 0; i < len; i++)
                if (d[i] != y[i]) Assert.Fail($"len {len}: in-place d[{i}] = {y[i]}, separate {d[i]}");
            var xd = x.Select(v => (double)v).ToArray();
            var dd = new double[len];
            double t1 = Unroll.Nodes.SoftmaxCrossEntropy.ExpShiftedSum<double>(xd, 1.5, dd);
            double t2 = Unroll.Nodes.SoftmaxCrossEntropy.ExpShiftedSum<double>(xd, 1.5, xd);
            Assert.Equal(t1, t2);
            Assert.True(dd.AsSpan().SequenceEqual(xd), $"len {len}: double in-place differs");
        }
    }

    [Fact]
    public void ExpFIsAccurateAndHasNoSubnormals()
    {
        if (!System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated) return;     // the kernel is AVX-512 only
        double worst = 0;
        for (int k = 0; k < 20000; k++)
        {
            float x0 = -110f + 200f * k / 20000f;
            var xs = System.Runtime.Intrinsics.Vector512.Create(x0);
            float y = Unroll.Nodes.SoftmaxCrossEntropy.ExpF(xs)[0];
            double exact = Math.Exp(x0);
            if (x0 < -87.3365) { Assert.Equal(0f, y); continue; }
            if (x0 > 88.7228) { Assert.Equal(float.PositiveInfinity, y); continue; }
            Assert.True(float.IsNormal(y), $"exp({x0}) = {y}");
            worst = Math.Max(worst, Math.Abs(y - exact) / exact);
        }
        Assert.True(worst < 3e-7, $"max relative error {worst}");
        Assert.True(float.IsNaN(Unroll.Nodes.SoftmaxCrossEntropy.ExpF(System.Runtime.Intrinsics.Vector512.Create(float.NaN))[0]));
        Assert.Equal(0f, Unroll.Nodes.SoftmaxCrossEntropy.ExpF(System.Runtime.Intrinsics.Vector512.Create(float.NegativeInfinity))[0]);
    }
}
