using System.Numerics;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// <see cref="Gemm.RunBias{T}"/> in all its modes. The test switches the process-wide <see cref="Gemm.BiasInTiles"/> and
/// <see cref="GemmTuning.BiasInRegisters"/>, and the bias in the accumulators rounds differently from the bias added
/// to the product (bias + Σ against Σ + bias), so it runs in <see cref="PoolAloneCollection"/>: a test in another class
/// that compares the bits of two runs (a resumed checkpoint, a thread-count invariance) must not see the switch flip
/// between them.
/// </summary>
[Collection(PoolAloneCollection.Name)]
public class GemmBiasTests
{
    [Fact]
    public void BiasInTheTilesMatchesBroadcastThenProduct()
    {
        // Gemm.RunBias: C = alpha·op(A)·op(B) + biasᵀ with the bias written into each tile before its first depth block —
        // one and several depth blocks, edge tiles (rows, columns), a deep product (two depth halves), NaN in the old C,
        // all transposes, float and double, and the broadcast fallback (BiasInTiles off). In the tiles, the bias either
        // starts the kernel's accumulators (GemmTuning.BiasInRegisters: full panels read it in place, a half panel of
        // exactly NR/2 columns too, ragged ones through a zero-padded copy) or is copied into the C tile first.
        // Oracle: the reference GEMM.
        var rng = new Rng(37);
        foreach (var (m, n, k) in new[] { (1, 1, 1), (13, 37, 5), (23, 70, 300), (120, 45, 700), (30, 50, 2100), (700, 33, 101),
                                          (20, 16, 9), (10, 48, 17), (21, 64, 40), (11, 8, 3) })
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    foreach (var (tiles, regs) in new[] { (true, true), (true, false), (false, false) })
                    {
                        CheckBias<float>(rng, ta, tb, m, n, k, tiles, regs);
                        if (m * n * k < 1_000_000) CheckBias<double>(rng, ta, tb, m, n, k, tiles, regs);
                    }
    }

    private static void CheckBias<T>(Rng rng, bool ta, bool tb, int m, int n, int k, bool tiles, bool regs) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2, ldc = n + 3;
        var a = GemmCheck.Random<T>(rng, (ta ? k : m) * lda);
        var b = GemmCheck.Random<T>(rng, (tb ? n : k) * ldb);
        var bias = GemmCheck.Random<T>(rng, n);
        var got = new T[m * ldc];
        Array.Fill(got, T.NaN);                                             // overwritten, never read
        for (int i = 0; i < m; i++) for (int j = n; j < ldc; j++) got[i * ldc + j] = T.CreateChecked(777.0);
        var expect = (T[])got.Clone();
        for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) expect[i * ldc + j] = bias[j];
        T alpha = T.CreateChecked(0.75);
        GemmTests.RunOn(ReferenceGemm.Instance, ta, tb, m, n, k, alpha, a, lda, b, ldb, T.One, expect, ldc);
        bool saved = Gemm.BiasInTiles, savedRegs = GemmTuning.BiasInRegisters;
        try
        {
            Gemm.BiasInTiles = tiles;
            GemmTuning.BiasInRegisters = regs;
            Gemm.RunBias<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, bias, got, ldc);
        }
        finally { Gemm.BiasInTiles = saved; GemmTuning.BiasInRegisters = savedRegs; }
        double tol = (typeof(T) == typeof(float) ? 1e-5 : 1e-13) * Math.Sqrt(k + 1);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double e = double.CreateChecked(expect[i * ldc + j]), g = double.CreateChecked(got[i * ldc + j]);
                Assert.True(Math.Abs(g - e) <= tol * Math.Max(1, Math.Abs(e)) * 4,
                            $"RunBias {typeof(T).Name} ta={ta} tb={tb} ({m},{n},{k}) tiles={tiles} regs={regs}: C[{i},{j}] = {g}, reference {e}");
            }
            for (int j = n; j < ldc; j++) Assert.True(got[i * ldc + j] == T.CreateChecked(777.0), $"C padding [{i},{j}] written");
        }
    }

}
