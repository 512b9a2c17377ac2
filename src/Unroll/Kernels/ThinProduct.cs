using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Unroll.Kernels;

/// <summary>
/// C (m × n) = Aᵀ · B for a THIN result — m ≤ <see cref="MaxRows"/> rows — over a deep sum: A (k × m), B (k × n),
/// e.g. the narrow-input weight gradient [dWx ; db] = [xs | 1]ᵀ · dA of the adding problem (m = D + 1 = 3,
/// k = N·T = 12800, n = 4H = 512). A GEMM pads such a product to its 10-row micro-panels and re-packs a transposed
/// A; it ran at 11–20 GFLOP/s (managed / OpenBLAS, <c>bench … gemm --shapes 14</c>), while the product is one
/// streaming pass over B: this kernel reads B once, row after row, with the partial sums of C in L1.
/// </summary>
/// <remarks>
/// Each element of C is Σ_p A[p, i]·B[p, j] summed in p order with fused multiply-adds (float, AVX-512), the same for any
/// split of the columns over threads: the result does not depend on the thread count. <see cref="Reference"/> is the
/// plain loop (the tests' oracle; also the path for double and for CPUs without AVX-512). NaN/∞ propagate as in
/// ordinary arithmetic.
/// </remarks>
internal sealed unsafe class ThinProduct : IPartitionedWork
{
    /// <summary>Results with at most this many rows use the kernel (one pass over B per 4 rows).</summary>
    internal const int MaxRows = 8;
    /// <summary>Rows of B per pass over a column block: the block's partial sums stay in registers for this many rows.</summary>
    private const int ChunkK = 64;
    /// <summary>Columns per register tile (4 vectors); a thread's column range is a multiple of it except at the end.</summary>
    private const int TileColumns = 64;
    /// <summary>Below this many multiply-adds (m·n·k) the product runs on the calling thread.</summary>
    private const long ParallelMinWork = 1L << 20;

    [ThreadStatic] private static ThinProduct? t_work;
    private float* _a, _b, _c;
    private int _m, _n, _k, _lda, _ldb, _ldc;

    /// <summary>Whether <see cref="Run{T}"/> takes the fast path for this element type and row count on this CPU.</summary>
    public static bool Applies<T>(int m) => typeof(T) == typeof(float) && m <= MaxRows && Avx512F.IsSupported;

    /// <summary>
    /// C (m × n, row stride <paramref name="ldc"/>) ← Aᵀ · B, overwriting C; A is k × m (stride <paramref name="lda"/>),
    /// B is k × n (stride <paramref name="ldb"/>). Falls back to <see cref="Reference"/> where <see cref="Applies{T}"/> is false.
    /// </summary>
    public static void Run<T>(int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Gemm.Validate(true, false, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (!Applies<T>(m)) { Reference(m, n, k, a, lda, b, ldb, c, ldc); return; }
        if (m == 0 || n == 0) return;
        fixed (T* pa = a, pb = b, pc = c)
        {
            float* fc = (float*)pc;
            for (int i = 0; i < m; i++) new Span<float>(fc + (long)i * ldc, n).Clear();
            if (k == 0) return;
            int tiles = (n + TileColumns - 1) / TileColumns;
            int parts = Math.Min(Gemm.Threads, tiles);
            if (parts > 1 && (long)m * n * k >= ParallelMinWork)
            {
                var w = t_work ??= new ThinProduct();
                w._a = (float*)pa; w._b = (float*)pb; w._c = fc;
                w._m = m; w._n = n; w._k = k; w._lda = lda; w._ldb = ldb; w._ldc = ldc;
                try
                {
                    if (GemmWorkers.Shared.TryRun(w, parts)) return;
                }
                finally { w._a = w._b = w._c = null; }
            }
            Columns((float*)pa, lda, (float*)pb, ldb, fc, ldc, m, k, 0, n);
        }
    }

    /// <summary>Part <paramref name="part"/>: a contiguous range of whole column tiles (called by the pool).</summary>
    public void RunPart(int part, int parts)
    {
        int tiles = (_n + TileColumns - 1) / TileColumns;
        int j0 = (int)((long)tiles * part / parts) * TileColumns, j1 = Math.Min(_n, (int)((long)tiles * (part + 1) / parts) * TileColumns);
        if (j0 < j1) Columns(_a, _lda, _b, _ldb, _c, _ldc, _m, _k, j0, j1);
    }

    /// <summary>C[:, j0..j1) += Aᵀ · B[:, j0..j1), C already cleared: rows of C in groups of 4, B in chunks of rows.</summary>
    private static void Columns(float* a, int lda, float* b, int ldb, float* c, int ldc, int m, int k, int j0, int j1)
    {
        for (int i0 = 0; i0 < m; i0 += 4)
        {
            int mi = Math.Min(4, m - i0);
            for (int k0 = 0; k0 < k; k0 += ChunkK)
            {
                int k1 = Math.Min(k, k0 + ChunkK);
                int j = j0;
                for (; j + TileColumns <= j1; j += TileColumns) Tile(a + i0, lda, b, ldb, c + (long)i0 * ldc, ldc, mi, k0, k1, j);
                for (; j + 16 <= j1; j += 16) Strip(a + i0, lda, b, ldb, c + (long)i0 * ldc, ldc, mi, k0, k1, j);
                for (; j < j1; j++)                                                   // fewer than 16 columns left
                    for (int i = 0; i < mi; i++)
                    {
                        float s = c[(long)(i0 + i) * ldc + j];
                        for (int p = k0; p < k1; p++) s = MathF.FusedMultiplyAdd(a[(long)p * lda + i0 + i], b[(long)p * ldb + j], s);
                        c[(long)(i0 + i) * ldc + j] = s;
                    }
            }
        }
    }

    /// <summary>A's value at (p, i) for i &lt; mi, else 0 (rows past m contribute nothing and are not stored).</summary>
    private static float AAt(float* a, int lda, int p, int i, int mi) => i < mi ? a[(long)p * lda + i] : 0f;

    /// <summary>4 rows × 64 columns of C: 16 accumulators, one pass over B's rows [k0, k1).</summary>
    private static void Tile(float* a, int lda, float* b, int ldb, float* c, int ldc, int mi, int k0, int k1, int j)
    {
        float* c0 = c + j, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        Vector512<float> s00 = Vector512.Load(c0), s01 = Vector512.Load(c0 + 16), s02 = Vector512.Load(c0 + 32), s03 = Vector512.Load(c0 + 48);
        Vector512<float> s10 = default, s11 = default, s12 = default, s13 = default;
        Vector512<float> s20 = default, s21 = default, s22 = default, s23 = default;
        Vector512<float> s30 = default, s31 = default, s32 = default, s33 = default;
        if (mi > 1) { s10 = Vector512.Load(c1); s11 = Vector512.Load(c1 + 16); s12 = Vector512.Load(c1 + 32); s13 = Vector512.Load(c1 + 48); }
        if (mi > 2) { s20 = Vector512.Load(c2); s21 = Vector512.Load(c2 + 16); s22 = Vector512.Load(c2 + 32); s23 = Vector512.Load(c2 + 48); }
        if (mi > 3) { s30 = Vector512.Load(c3); s31 = Vector512.Load(c3 + 16); s32 = Vector512.Load(c3 + 32); s33 = Vector512.Load(c3 + 48); }
        for (int p = k0; p < k1; p++)
        {
            float* bp = b + (long)p * ldb + j;
            var b0 = Vector512.Load(bp); var b1 = Vector512.Load(bp + 16); var b2 = Vector512.Load(bp + 32); var b3 = Vector512.Load(bp + 48);
            var a0 = Vector512.Create(a[(long)p * lda]);
            s00 = Vector512.FusedMultiplyAdd(a0, b0, s00); s01 = Vector512.FusedMultiplyAdd(a0, b1, s01);
            s02 = Vector512.FusedMultiplyAdd(a0, b2, s02); s03 = Vector512.FusedMultiplyAdd(a0, b3, s03);
            var a1 = Vector512.Create(AAt(a, lda, p, 1, mi));
            s10 = Vector512.FusedMultiplyAdd(a1, b0, s10); s11 = Vector512.FusedMultiplyAdd(a1, b1, s11);
            s12 = Vector512.FusedMultiplyAdd(a1, b2, s12); s13 = Vector512.FusedMultiplyAdd(a1, b3, s13);
            var a2 = Vector512.Create(AAt(a, lda, p, 2, mi));
            s20 = Vector512.FusedMultiplyAdd(a2, b0, s20); s21 = Vector512.FusedMultiplyAdd(a2, b1, s21);
            s22 = Vector512.FusedMultiplyAdd(a2, b2, s22); s23 = Vector512.FusedMultiplyAdd(a2, b3, s23);
            var a3 = Vector512.Create(AAt(a, lda, p, 3, mi));
            s30 = Vector512.FusedMultiplyAdd(a3, b0, s30); s31 = Vector512.FusedMultiplyAdd(a3, b1, s31);
            s32 = Vector512.FusedMultiplyAdd(a3, b2, s32); s33 = Vector512.FusedMultiplyAdd(a3, b3, s33);
        }
        s00.Store(c0); s01.Store(c0 + 16); s02.Store(c0 + 32); s03.Store(c0 + 48);
        if (mi > 1) { s10.Store(c1); s11.Store(c1 + 16); s12.Store(c1 + 32); s13.Store(c1 + 48); }
        if (mi > 2) { s20.Store(c2); s21.Store(c2 + 16); s22.Store(c2 + 32); s23.Store(c2 + 48); }
        if (mi > 3) { s30.Store(c3); s31.Store(c3 + 16); s32.Store(c3 + 32); s33.Store(c3 + 48); }
    }

    /// <summary>4 rows × 16 columns of C (the columns after the last whole tile).</summary>
    private static void Strip(float* a, int lda, float* b, int ldb, float* c, int ldc, int mi, int k0, int k1, int j)
    {
        float* c0 = c + j, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        Vector512<float> s0 = Vector512.Load(c0);
        Vector512<float> s1 = mi > 1 ? Vector512.Load(c1) : default, s2 = mi > 2 ? Vector512.Load(c2) : default, s3 = mi > 3 ? Vector512.Load(c3) : default;
        for (int p = k0; p < k1; p++)
        {
            var bv = Vector512.Load(b + (long)p * ldb + j);
            s0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[(long)p * lda]), bv, s0);
            s1 = Vector512.FusedMultiplyAdd(Vector512.Create(AAt(a, lda, p, 1, mi)), bv, s1);
            s2 = Vector512.FusedMultiplyAdd(Vector512.Create(AAt(a, lda, p, 2, mi)), bv, s2);
            s3 = Vector512.FusedMultiplyAdd(Vector512.Create(AAt(a, lda, p, 3, mi)), bv, s3);
        }
        s0.Store(c0);
        if (mi > 1) s1.Store(c1);
        if (mi > 2) s2.Store(c2);
        if (mi > 3) s3.Store(c3);
    }

    /// <summary>The plain form, same signature: C (m × n) ← Aᵀ · B, each element summed over p in order.</summary>
    internal static void Reference<T>(int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Gemm.Validate(true, false, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                T s = T.Zero;
                for (int p = 0; p < k; p++) s = T.FusedMultiplyAdd(a[p * lda + i], b[p * ldb + j], s);
                c[i * ldc + j] = s;
            }
    }
}
