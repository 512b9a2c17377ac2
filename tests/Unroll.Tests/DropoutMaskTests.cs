using Unroll.Nodes;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// The dropout mask kernel (32 random bits per element, two elements per 64-bit hash of the Forward's key) against its
/// element-by-element reference, on one thread and split over the pool, its statistics, its use of the Rng, and the
/// bulk Rng fill.
/// </summary>
public class DropoutMaskTests
{
    public static TheoryData<int> Sizes => [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 100_001, 300_007];

    [Theory]
    [MemberData(nameof(Sizes))]
    public void MaskKernelMatchesReferenceBitForBit(int n)
    {
        var rng = new Rng((ulong)n + 3);
        ulong key = rng.NextUInt64();
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (i % 11) switch { 0 => 25f, 1 => -30f, 2 => float.NaN, 3 => float.PositiveInfinity, 4 => 1e-40f, _ => (float)rng.NextGaussian() };
        foreach (double p in new[] { 0.1, 0.5, 0.9, 1e-12, 0.999999 })
        {
            uint thr = Dropout<float>.Threshold(p);
            float keep = (float)(1 / (1 - p));
            var m1 = new float[n]; var y1 = new float[n]; var m2 = new float[n]; var y2 = new float[n];
            Dropout<float>.MaskAndApply(key, thr, keep, x, m1, y1);              // n ≥ 2^18: blocks on the pool
            Dropout<float>.MaskAndApplyReference(key, thr, keep, x, m2, y2);
            Assert.Equal(m2, m1);
            var m3 = new float[n]; var y3 = new float[n];
            bool simd = DropoutBlocks<float>.Simd;
            try
            {
                DropoutBlocks<float>.Simd = false;                                  // the blocks without AVX-512
                Dropout<float>.MaskAndApply(key, thr, keep, x, m3, y3);
            }
            finally { DropoutBlocks<float>.Simd = simd; }
            Assert.Equal(m2, m3);
            for (int i = 0; i < n; i++)
                Assert.True(BitConverter.SingleToInt32Bits(y1[i]) == BitConverter.SingleToInt32Bits(y2[i]) || (float.IsNaN(y1[i]) && float.IsNaN(y2[i])),
                            $"p={p} n={n} y[{i}]: {y1[i]} vs reference {y2[i]}");
        }
    }

    [Fact]
    public void ReferenceUsesLowThenHighHalfOfEachHash()
    {
        // element 2k: low 32 bits of Hash(κ, k); element 2k + 1: high 32 bits — checked against the hash itself
        const ulong key = 0x1234_5678_9ABC_DEF0UL;
        int n = 41;
        var x = Enumerable.Repeat(1.0, n).ToArray();
        var m = new double[n]; var y = new double[n];
        uint thr = Dropout<double>.Threshold(0.5);
        Dropout<double>.MaskAndApplyReference(key, thr, 2.0, x, m, y);
        var mf = new float[n]; var yf = new float[n];
        Dropout<float>.MaskAndApply(key, thr, 2f, Enumerable.Repeat(1f, n).ToArray(), mf, yf);
        for (int i = 0; i < n; i++)
        {
            ulong h = Dropout<double>.Hash(key, i / 2);
            uint u = i % 2 == 0 ? (uint)h : (uint)(h >> 32);
            Assert.Equal(u < thr ? 0.0 : 2.0, m[i]);
            Assert.Equal(u < thr ? 0f : 2f, mf[i]);
        }
        // SplitMix64's finaliser of κ + (k + 1)·φ: its published first outputs for seed 0 (κ = 0)
        Assert.Equal(0xE220A8397B1DCDAFUL, Dropout<float>.Hash(0, 0));
        Assert.Equal(0x6E789E6AA1B965F4UL, Dropout<float>.Hash(0, 1));
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
    public void ForwardUsesOneDrawAndTheSameMaskForFloatAndDouble()
    {
        var xs = new Tensor<float>(3, 5, 7); xs.Fill(2f);
        var xd = new Tensor<double>(3, 5, 7); xd.Fill(2.0);
        var rf = new Rng(5); var rd = new Rng(5); var counter = new Rng(5);
        var mf = new TimeDropout<float>(0.4, rf).Forward(xs).ToArray();
        var md = new TimeDropout<double>(0.4, rd).Forward(xd).ToArray();
        counter.NextUInt64();                                               // the key: one draw per Forward
        Assert.Equal(counter.GetState(), rf.GetState());
        Assert.Equal(counter.GetState(), rd.GetState());
        for (int i = 0; i < mf.Length; i++) Assert.Equal(md[i] == 0, mf[i] == 0);
    }

    [Fact]
    public void BackwardIsDyTimesTheMask_OnOneThreadAndSplit()
    {
        int n = 300_007;
        var x = new Tensor<float>(n); x.Fill(1f);
        var node = new Dropout<float>(0.5, new Rng(9));
        var m = node.Forward(x).ToArray();                                  // x = 1: y is the mask
        var rng = new Rng(10);
        var dy = new Tensor<float>(n);
        for (int i = 0; i < n; i++) dy.Span[i] = (float)rng.NextGaussian();
        var dx = node.Backward(dy).ToArray();
        for (int i = 0; i < n; i++) Assert.True(dx[i] == dy.Span[i] * m[i], $"dx[{i}] = {dx[i]}, dy·m = {dy.Span[i] * m[i]}");
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
