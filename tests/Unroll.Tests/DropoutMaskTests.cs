using Unroll.Nodes;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// The dropout mask kernel (32 random bits per element, two elements per 64-bit draw) against its element-by-element
/// reference, its statistics, its use of the Rng, and the bulk Rng fill it draws from.
/// </summary>
public class DropoutMaskTests
{
    public static TheoryData<int> Sizes => [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 1000, 100_001];

    [Theory]
    [MemberData(nameof(Sizes))]
    public void MaskKernelMatchesReferenceBitForBit(int n)
    {
        var rng = new Rng((ulong)n + 3);
        var draws = new ulong[(n + 1) / 2];
        rng.NextUInt64s(draws);
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (i % 11) switch { 0 => 25f, 1 => -30f, 2 => float.NaN, 3 => float.PositiveInfinity, 4 => 1e-40f, _ => (float)rng.NextGaussian() };
        foreach (double p in new[] { 0.1, 0.5, 0.9, 1e-12, 0.999999 })
        {
            uint thr = Dropout<float>.Threshold(p);
            float keep = (float)(1 / (1 - p));
            var m1 = new float[n]; var y1 = new float[n]; var m2 = new float[n]; var y2 = new float[n];
            Dropout<float>.MaskAndApply(draws, thr, keep, x, m1, y1);
            Dropout<float>.MaskAndApplyReference(draws, thr, keep, x, m2, y2);
            Assert.Equal(m2, m1);
            for (int i = 0; i < n; i++)
                Assert.True(BitConverter.SingleToInt32Bits(y1[i]) == BitConverter.SingleToInt32Bits(y2[i]) || (float.IsNaN(y1[i]) && float.IsNaN(y2[i])),
                            $"p={p} n={n} y[{i}]: {y1[i]} vs reference {y2[i]}");
        }
    }

    [Fact]
    public void ReferenceUsesLowThenHighHalfOfEachDraw()
    {
        ulong[] draws = [0x0000_0001_FFFF_FFFFUL, 0xFFFF_FFFF_0000_0000UL];
        var x = new double[] { 1, 1, 1 };
        var m = new double[3]; var y = new double[3];
        Dropout<double>.MaskAndApplyReference(draws, Dropout<double>.Threshold(0.5), 2.0, x, m, y);
        Assert.Equal([2.0, 0.0, 0.0], m);                          // low 0xFFFFFFFF kept, high 1 dropped, low 0 dropped
        var mf = new float[3]; var yf = new float[3];
        Dropout<float>.MaskAndApply(draws, Dropout<float>.Threshold(0.5), 2f, [1f, 1f, 1f], mf, yf);
        Assert.Equal([2f, 0f, 0f], mf);
    }

    [Fact]
    public void ThresholdIsPTimesTwoToThe32Rounded()
    {
        Assert.Equal(1u << 31, Dropout<float>.Threshold(0.5));
        Assert.Equal(0u, Dropout<float>.Threshold(0));
        Assert.Equal(uint.MaxValue, Dropout<float>.Threshold(1 - 1e-12));
        Assert.Equal((uint)Math.Round(0.3 * 4294967296.0), Dropout<float>.Threshold(0.3));
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void KeepRateIsOneMinusPWithinFiveSigma(double p)
    {
        const int n = 300_001;
        var x = new Tensor<float>(n); x.Fill(1f);
        var node = new Dropout<float>(p, new Rng(21));
        for (int rep = 0; rep < 2; rep++)
        {
            var m = node.Forward(x).ToArray();
            float keep = (float)(1 / (1 - p));
            Assert.All(m, v => Assert.True(v == 0 || v == keep));
            double kept = m.Count(v => v != 0) / (double)n;
            double sigma = Math.Sqrt(p * (1 - p) / n);
            Assert.True(Math.Abs(kept - (1 - p)) < 5 * sigma, $"p={p}: kept fraction {kept}");
            // both halves of the draws are used alike (even and odd elements)
            double keptEven = m.Where((v, i) => i % 2 == 0 && v != 0).Count() / (double)((n + 1) / 2);
            double keptOdd = m.Where((v, i) => i % 2 == 1 && v != 0).Count() / (double)(n / 2);
            Assert.True(Math.Abs(keptEven - keptOdd) < 5 * sigma * 2, $"p={p}: even {keptEven} vs odd {keptOdd}");
        }
    }

    [Fact]
    public void ForwardUsesHalfADrawPerElementAndTheSameMaskForFloatAndDouble()
    {
        var xs = new Tensor<float>(3, 5, 7); xs.Fill(2f);               // 105 elements → 53 draws
        var xd = new Tensor<double>(3, 5, 7); xd.Fill(2.0);
        var rf = new Rng(5); var rd = new Rng(5); var counter = new Rng(5);
        var mf = new TimeDropout<float>(0.4, rf).Forward(xs).ToArray();
        var md = new TimeDropout<double>(0.4, rd).Forward(xd).ToArray();
        for (int i = 0; i < 53; i++) counter.NextUInt64();
        Assert.Equal(counter.GetState(), rf.GetState());
        Assert.Equal(counter.GetState(), rd.GetState());
        for (int i = 0; i < mf.Length; i++) Assert.Equal(md[i] == 0, mf[i] == 0);
    }

    [Fact]
    public void BulkFillEqualsRepeatedDraws()
    {
        var a = new Rng(77); var b = new Rng(77);
        a.NextGaussian(); b.NextGaussian();                             // a cached Gaussian must survive the bulk fill
        foreach (int n in new[] { 0, 1, 5, 64 })
        {
            var bulk = new ulong[n];
            a.NextUInt64s(bulk);
            for (int i = 0; i < n; i++) Assert.Equal(b.NextUInt64(), bulk[i]);
            Assert.Equal(b.GetState(), a.GetState());
        }
        Assert.Equal(b.NextGaussian(), a.NextGaussian());
    }
}
