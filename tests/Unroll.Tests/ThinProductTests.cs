using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// <see cref="ThinProduct"/> (C = Aᵀ·B for m ≤ 8 rows): bit for bit its plain reference (both sum each element in
/// the same order with fused multiply-adds), close to the GEMM, the same on one thread and two, padding untouched.
/// </summary>
public class ThinProductTests
{
    private static float[] Random(int n, int seed, float scale = 1f)
    {
        var rng = new Rng((ulong)seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)rng.NextGaussian() * scale;
        return a;
    }

    public static TheoryData<int, int, int> Sizes()
    {
        var d = new TheoryData<int, int, int>();
        foreach (int m in new[] { 1, 2, 3, 4, 5, 7, 8 })
            foreach (int n in new[] { 1, 15, 16, 17, 63, 64, 65, 130 })
                foreach (int k in new[] { 0, 1, 63, 64, 65, 200 })
                    d.Add(m, n, k);
        return d;
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void EqualsTheReferenceBitForBit_AndLeavesPaddingAlone(int m, int n, int k)
    {
        int lda = m + 2, ldb = n + 3, ldc = n + 5;
        var a = Random(Math.Max(1, k * lda), 1 + m);
        var b = Random(Math.Max(1, k * ldb), 2 + n);
        var c = Enumerable.Repeat(float.NaN, m * ldc).ToArray();      // stale NaN: must be overwritten, not added to
        var r = Enumerable.Repeat(7f, m * ldc).ToArray();
        for (int i = 0; i < m; i++) for (int j = n; j < ldc; j++) c[i * ldc + j] = 42f;
        ThinProduct.Run<float>(m, n, k, a, lda, b, ldb, c, ldc);
        ThinProduct.Reference<float>(m, n, k, a, lda, b, ldb, r, ldc);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
                Assert.True(BitConverter.SingleToInt32Bits(c[i * ldc + j]) == BitConverter.SingleToInt32Bits(r[i * ldc + j]),
                            $"C[{i},{j}] = {c[i * ldc + j]:R}, reference {r[i * ldc + j]:R} (m {m}, n {n}, k {k})");
            for (int j = n; j < ldc; j++) Assert.True(c[i * ldc + j] == 42f, $"C padding [{i},{j}] was written");
        }
    }

    [Theory]
    [InlineData(3, 512, 12800)]   // ADD-LSTM's [dWx ; db] = [xs | 1]ᵀ · dA
    [InlineData(3, 128, 12800)]   // ADD-RNN's
    [InlineData(8, 100, 999)]
    [InlineData(1, 1000, 4096)]
    public void MatchesTheGemm_AndTheThreadCountDoesNotChangeTheBits(int m, int n, int k)
    {
        var a = Random(k * m, 3);
        var b = Random(k * n, 4, 0.01f);
        var gemm = new float[m * n];
        Gemm.Run(true, false, m, n, k, 1f, a, m, b, n, 0f, gemm, n);
        int saved = Gemm.Threads;
        float[] c1 = new float[m * n], c2 = new float[m * n];
        try
        {
            Gemm.Threads = 1;
            ThinProduct.Run<float>(m, n, k, a, m, b, n, c1, n);
            Gemm.Threads = 2;
            ThinProduct.Run<float>(m, n, k, a, m, b, n, c2, n);
        }
        finally { Gemm.Threads = saved; }
        Assert.Equal(c1, c2);
        double maxDiff = 0, scale = 0;
        for (int i = 0; i < gemm.Length; i++) { maxDiff = Math.Max(maxDiff, Math.Abs(c1[i] - gemm[i])); scale = Math.Max(scale, Math.Abs(gemm[i])); }
        Assert.True(maxDiff <= 1e-5 * Math.Max(scale, 1e-3) * Math.Sqrt(k), $"C vs GEMM: max diff {maxDiff:G3} (max |C| {scale:G3})");
    }

    [Fact]
    public void NaNAndInfinityPropagate_AndDoubleUsesTheReference()
    {
        int m = 3, n = 70, k = 130;
        var a = Random(k * m, 5);
        var b = Random(k * n, 6);
        b[10 * n + 3] = float.NaN;          // column 3: NaN in every row of C
        b[20 * n + 66] = float.PositiveInfinity;
        a[20 * m + 1] = 0f;                 // 0 · ∞ = NaN in row 1 only; rows 0 and 2 get ±∞
        var c = new float[m * n];
        ThinProduct.Run<float>(m, n, k, a, m, b, n, c, n);
        for (int i = 0; i < m; i++) Assert.True(float.IsNaN(c[i * n + 3]), $"C[{i},3] = {c[i * n + 3]}");
        Assert.True(float.IsNaN(c[1 * n + 66]));
        Assert.True(float.IsInfinity(c[0 * n + 66]) && float.IsInfinity(c[2 * n + 66]));

        var ad = a.Select(x => (double)x).ToArray(); var bd = Random(k * n, 6).Select(x => (double)x).ToArray();
        double[] cd = new double[m * n], rd = new double[m * n];
        ThinProduct.Run<double>(m, n, k, ad, m, bd, n, cd, n);
        ThinProduct.Reference<double>(m, n, k, ad, m, bd, n, rd, n);
        Assert.Equal(rd, cd);
    }
}
