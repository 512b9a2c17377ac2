using Unroll.Checking;
using Unroll.Init;
using Unroll.Kernels;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Tests;

public class SubnormalTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(37)]
    [InlineData(1001)]
    public void SimdFlushMatchesReference(int length)
    {
        var rng = new Rng((ulong)length);
        float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, 0f, float.Epsilon, -float.Epsilon,
                            1e-39f, -1e-39f, 1.17549435E-38f, 1e-20f, 1e-19f, 2e-19f, -3e-19f, 1f];
        var a = new float[length];
        for (int i = 0; i < length; i++)
            a[i] = i % 3 == 0 ? specials[rng.NextInt(specials.Length)] : (float)(rng.NextGaussian() * Math.Pow(10, -rng.NextInt(45)));
        foreach (float min in new[] { Subnormals.MinNormal<float>(), Subnormals.SafeProductThreshold<float>() })
        {
            var fast = (float[])a.Clone(); var reference = (float[])a.Clone();
            Subnormals.FlushBelow<float>(fast, min);
            Subnormals.FlushBelowReference<float>(reference, min);
            for (int i = 0; i < length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(fast[i]) == BitConverter.SingleToInt32Bits(reference[i]) || (float.IsNaN(fast[i]) && float.IsNaN(reference[i])),
                            $"[{i}] {a[i]:R}: simd {fast[i]:R} vs reference {reference[i]:R}");
        }
        var d = new double[length];
        for (int i = 0; i < length; i++) d[i] = i % 2 == 0 ? 1e-310 * (i - length / 2) : rng.NextGaussian() * Math.Pow(10, -rng.NextInt(320));
        var df = (double[])d.Clone(); var dr = (double[])d.Clone();
        Subnormals.FlushToZero<double>(df);
        Subnormals.FlushBelowReference<double>(dr, Subnormals.MinNormal<double>());
        Assert.Equal(dr, df);
        Assert.DoesNotContain(df, double.IsSubnormal);
    }

    [Fact]
    public void ThresholdProductIsNormal()
    {
        float t = Subnormals.SafeProductThreshold<float>();
        Assert.False(float.IsSubnormal(t * t));
        Assert.True(float.IsSubnormal(t * t * 0.25f));
    }

    [Theory]
    [InlineData(CellType.Rnn)]
    [InlineData(CellType.Lstm)]
    [InlineData(CellType.Gru)]
    public void VanishingBackwardProducesNoSubnormalsByDefault(CellType cell)
    {
        // Small W_h and the loss only at the last step: the gradient reaching early steps underflows in float.
        int n = 4, t = 120, h = 16;
        var init = new RecurrentInit { Recurrent = WeightInit.Gaussian, RecurrentScale = 0.1 / Math.Sqrt(h) };
        var layer = (TimeRecurrentBase<float>)RecurrentLayers.Create<float>(cell, 2, h, new Rng(3), init);
        var xs = GradCheck.RandomTensor(new Rng(4), 1.0, n, t, 2).Cast<float>();
        var dhs = new Tensor<float>(n, t, h);
        for (int i = 0; i < n; i++) for (int j = 0; j < h; j++) dhs[i, t - 1, j] = 1f;

        int Count()
        {
            layer.Forward(xs);
            layer.Backward(dhs);
            int c = 0;
            foreach (var v in layer.StepGradH.Span) if (float.IsSubnormal(v)) c++;
            foreach (var v in layer.StepGradA.Span) if (float.IsSubnormal(v)) c++;
            foreach (var p in layer.Parameters) foreach (var v in p.Grad.Span) if (float.IsSubnormal(v)) c++;
            return c;
        }
        layer.GradFlushThreshold = 0f;                 // exact IEEE: the setup does reach subnormals
        Assert.True(Count() > 0, "the test setup no longer produces subnormals");
        layer.GradFlushThreshold = Subnormals.SafeProductThreshold<float>();
        Assert.Equal(0, Count());
        Assert.True(layer.StepGradH.Span[(t - 1) * h] != 0);
    }
}
