using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Unroll.Kernels;

/// <summary>
/// A register-blocked GEMM microkernel: <c>C[0..MR, 0..NR] ← Σₚ a[p·MR + i] · b[p·bs + j] + beta·C</c>
/// over <c>p &lt; kc</c>. <c>a</c> is a packed MR-row micro-panel (column of MR values per p), <c>b</c> is NR
/// contiguous values per p with row stride <c>bs</c> (NR for a packed panel, ldb when B is read in place).
/// beta = 0 stores without reading C. The static abstract members let the driver specialise per kernel.
/// </summary>
internal unsafe interface IMicroKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    static abstract int MR { get; }
    static abstract int NR { get; }
    static abstract bool IsSupported { get; }
    static abstract void Run(int kc, T* a, T* b, nint bs, T* c, nint ldc, T beta);
    /// <summary>
    /// As <see cref="Run"/> on the first NR/2 columns only (C gets MR×NR/2 values; b keeps its row stride bs): the
    /// ragged last column panel of a product (N mod NR ≤ NR/2) costs half the multiply-adds.
    /// </summary>
    static abstract void RunHalf(int kc, T* a, T* b, nint bs, T* c, nint ldc, T beta);
    /// <summary>
    /// As <see cref="Run"/> with C = init + A·B: every row's accumulators start from <c>init[0..NR)</c> (a bias row;
    /// NR values must be readable) and C is only written, not read.
    /// </summary>
    static abstract void RunFrom(int kc, T* a, T* b, nint bs, T* c, nint ldc, T* init);
    /// <summary>
    /// As <see cref="Run"/>, and fetches into L2 one 64-byte line per depth step from <paramref name="next"/> on (kc
    /// lines): part of a micro-panel a later call will read, while this call's FMAs hide the latency.
    /// </summary>
    static abstract void RunNext(int kc, T* a, T* b, nint bs, T* c, nint ldc, T beta, byte* next);
    /// <summary>As <see cref="RunHalf"/> with C = init + A·B (init: NR/2 values readable).</summary>
    static abstract void RunHalfFrom(int kc, T* a, T* b, nint bs, T* c, nint ldc, T* init);
}

/// <summary>Portable 4×4 scalar microkernel (16 accumulators), used when no SIMD unit is available.</summary>
internal unsafe struct ScalarKernel<T> : IMicroKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int MR => 4;
    public static int NR => 4;
    public static bool IsSupported => true;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(int kc, T* a, T* b, nint bs, T* c, nint ldc, T beta)
    {
        T c00 = T.Zero, c01 = T.Zero, c02 = T.Zero, c03 = T.Zero, c10 = T.Zero, c11 = T.Zero, c12 = T.Zero, c13 = T.Zero;
        T c20 = T.Zero, c21 = T.Zero, c22 = T.Zero, c23 = T.Zero, c30 = T.Zero, c31 = T.Zero, c32 = T.Zero, c33 = T.Zero;
        for (int p = 0; p < kc; p++)
        {
            T b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
            T a0 = a[0]; c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            T a1 = a[1]; c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            T a2 = a[2]; c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            T a3 = a[3]; c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            a += 4; b += bs;
        }
        Put(c, c00, c01, c02, c03, beta); c += ldc;
        Put(c, c10, c11, c12, c13, beta); c += ldc;
        Put(c, c20, c21, c22, c23, beta); c += ldc;
        Put(c, c30, c31, c32, c33, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RunHalf(int kc, T* a, T* b, nint bs, T* c, nint ldc, T beta)
    {
        T c00 = T.Zero, c01 = T.Zero, c10 = T.Zero, c11 = T.Zero, c20 = T.Zero, c21 = T.Zero, c30 = T.Zero, c31 = T.Zero;
        for (int p = 0; p < kc; p++)
        {
            T b0 = b[0], b1 = b[1];
            c00 += a[0] * b0; c01 += a[0] * b1; c10 += a[1] * b0; c11 += a[1] * b1;
            c20 += a[2] * b0; c21 += a[2] * b1; c30 += a[3] * b0; c31 += a[3] * b1;
            a += 4; b += bs;
        }
        Put2(c, c00, c01, beta); c += ldc;
        Put2(c, c10, c11, beta); c += ldc;
        Put2(c, c20, c21, beta); c += ldc;
        Put2(c, c30, c31, beta);
    }

    /// <inheritdoc cref="IMicroKernel{T}.RunNext"/>
    public static void RunNext(int kc, T* a, T* b, nint bs, T* c, nint ldc, T beta, byte* next) => Run(kc, a, b, bs, c, ldc, beta);

    /// <inheritdoc cref="IMicroKernel{T}.RunFrom"/>
    public static void RunFrom(int kc, T* a, T* b, nint bs, T* c, nint ldc, T* init)
    {
        for (int i = 0; i < 4; i++) new ReadOnlySpan<T>(init, 4).CopyTo(new Span<T>(c + i * ldc, 4));
        Run(kc, a, b, bs, c, ldc, T.One);
    }

    /// <inheritdoc cref="IMicroKernel{T}.RunHalfFrom"/>
    public static void RunHalfFrom(int kc, T* a, T* b, nint bs, T* c, nint ldc, T* init)
    {
        for (int i = 0; i < 4; i++) new ReadOnlySpan<T>(init, 2).CopyTo(new Span<T>(c + i * ldc, 2));
        RunHalf(kc, a, b, bs, c, ldc, T.One);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put2(T* c, T x0, T x1, T beta)
    {
        if (beta == T.Zero) { c[0] = x0; c[1] = x1; }
        else { c[0] = x0 + beta * c[0]; c[1] = x1 + beta * c[1]; }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(T* c, T x0, T x1, T x2, T x3, T beta)
    {
        if (beta == T.Zero) { c[0] = x0; c[1] = x1; c[2] = x2; c[3] = x3; }
        else { c[0] = x0 + beta * c[0]; c[1] = x1 + beta * c[1]; c[2] = x2 + beta * c[2]; c[3] = x3 + beta * c[3]; }
    }
}

/// <summary>Blocking parameters of the managed GEMM (internal so the benchmark can sweep them).</summary>
internal static class GemmTuning
{
    /// <summary>Depth of a packed block (rows of a B panel, columns of an A block).</summary>
    public static int KC = 256;
    /// <summary>Bytes of a packed A block (MC×KC), meant to stay in L2.</summary>
    public static int ABlockBytes = 196608;
    /// <summary>
    /// Bytes of a packed B panel (KC×NC). 1 MiB keeps the panel in L2 next to the A block: for small M (an RNN step,
    /// batch 20) each B micro-panel is used only M/MR times, so the packed copy must be cheap to write and re-read.
    /// (Reading B in place with stride ldb measured slower than packing: every row of a micro-panel is a new page.)
    /// </summary>
    public static int BPanelBytes = 1 << 20;
    /// <summary>
    /// When C's columns span several B panels (N &gt; NC), pack each A block once (on the first panel) and keep all of
    /// op(A)'s part of the thread — at most <see cref="CacheAMaxElements"/> elements — instead of re-packing it per panel.
    /// </summary>
    public static bool CacheA = true;
    public static int CacheAMaxElements = 1 << 21;
    /// <summary>Packing row by row (a transposed A, a plain B: rows far apart): prefetch the row this many rows ahead (0: none).</summary>
    public static int PackPrefetchRows = 4;
    /// <summary>Use the NR/2-wide microkernel for a last column panel of at most NR/2 columns.</summary>
    public static bool HalfEdge = true;
    /// <summary>
    /// Packing a transposed B by 16×16 blocks: prefetch the rows this far ahead; packing a row-major A (an NN product's,
    /// by 8×8 transposes): the next micro-panel's rows. 0 or less: neither (<c>UNROLL_GEMM_PACK_AHEAD</c>). Only for
    /// operands of at least <see cref="PackAheadMinBytes"/>.
    /// </summary>
    public static int PackAheadRows = int.TryParse(Environment.GetEnvironmentVariable("UNROLL_GEMM_PACK_AHEAD"), out var pa) ? pa : 16;
    /// <summary>
    /// Pre-packed products whose part has at most this many rows run panel by panel (GemmDriver.SweepPanels); 0: never
    /// (<c>UNROLL_GEMM_SWEEP_ROWS</c>, for A/B measurements). 32 takes the LM steps (M = 20, W_h of 650: 6.8 MB, three
    /// depth blocks; `steps --ab-sweep` 1.02–1.05 NN, 1.04–1.09 NT) but not the adding problem's (M = 64, W_h in L2
    /// anyway: 0.95 NN, 1.07 NT, nothing to gain).
    /// </summary>
    public static int SweepMaxRows = int.TryParse(Environment.GetEnvironmentVariable("UNROLL_GEMM_SWEEP_ROWS"), out var sw) ? sw : 32;
    /// <summary>
    /// Panel sweep: each full-tile kernel call of one panel fetches a part of the next panel's micro-panel of the same
    /// depth block into L2 (<c>IMicroKernel.RunNext</c>), so the packed W_h streams from L3 ahead of its use
    /// (<c>UNROLL_GEMM_SWEEP_NEXT=0</c>: off, for A/B measurements; `steps --ab-next`).
    /// </summary>
    public static bool SweepFetchNext = Environment.GetEnvironmentVariable("UNROLL_GEMM_SWEEP_NEXT") != "0";
    /// <summary>See <see cref="SweepFetchNext"/>: only for a packed B of at least this many bytes (one L2's worth: 1 MiB per thread's half and more).</summary>
    public static long SweepFetchMinBytes = 1 << 20;
    /// <summary>
    /// A bias (GemmArgs.Bias) starts the accumulators of each tile's first depth block (<c>RunFrom</c>) instead of being
    /// copied into the C tile first (<c>UNROLL_GEMM_BIAS_REGS=0</c>: the copy, for A/B measurements).
    /// </summary>
    public static bool BiasInRegisters = Environment.GetEnvironmentVariable("UNROLL_GEMM_BIAS_REGS") != "0";
    /// <summary>Fetch row pieces ahead only for an operand of at least this many bytes (see GemmDriver.FromMemory).</summary>
    public static long PackAheadMinBytes = 16L << 20;
    /// <summary>Pack a transposed B by 16×16 AVX-512 transposes, else by 8×8 AVX ones (<c>UNROLL_GEMM_T16=0</c>, for A/B measurements).</summary>
    public static bool Transpose16 = Environment.GetEnvironmentVariable("UNROLL_GEMM_T16") != "0";
    /// <summary>How a parallel product splits C: 0 = by operand sizes (default), 1 = always columns, 2 = always rows (experiments).</summary>
    public static int Split;
    /// <summary>
    /// A product with at least <see cref="SingleBlockMinRows"/> rows and a depth of at most this runs as one
    /// depth block (kc = K; the A block and B panel shrink to keep their byte budgets): C is then read and written
    /// once instead of once per block of <see cref="KC"/>. Every pass over a large C evicts the packed operands from
    /// L2 (docs/benchmarks.md, "one depth block"). Not when that would re-pack a large A for several narrower B panels.
    /// 0 turns it off (<c>UNROLL_GEMM_SINGLE_BLOCK_K=0</c>, for A/B measurements).
    /// </summary>
    public static int SingleBlockMaxK = int.TryParse(Environment.GetEnvironmentVariable("UNROLL_GEMM_SINGLE_BLOCK_K"), out var k) ? k : 768;
    /// <summary>See <see cref="SingleBlockMaxK"/>: short products (a recurrent step, M = 20) keep C in cache anyway.</summary>
    public static int SingleBlockMinRows = 100;

}

/// <summary>One GEMM call's operands as raw pointers (pinned by the caller for the duration of the call).</summary>
internal unsafe struct GemmArgs<T> where T : unmanaged
{
    public T* A, B, C;
    public int Lda, Ldb, Ldc, M, N, K;
    public bool TransA, TransB;
    public T Alpha, Beta;
    /// <summary>
    /// Non-null: op(B) is already packed (see <see cref="GemmPackedB{T}"/>) in this kernel's micro-panel layout, depth
    /// blocks of <see cref="PackedKc"/> rows, each block <see cref="PackedNPad"/> columns wide: B and Ldb are unused.
    /// </summary>
    public T* PackedB;
    public int PackedKc, PackedNPad;
    /// <summary>Column of the packed op(B) that column 0 of this product (and of C) corresponds to (a multiple of NR).</summary>
    public int PackedCol0;
    /// <summary>
    /// Non-null (with Beta = 0): C = alpha·op(A)·op(B) + 1·biasᵀ, the bias (N) added to every row — the starting value
    /// of the accumulators of each tile's first depth block (<see cref="GemmTuning.BiasInRegisters"/>; else copied into
    /// the C tile just before that kernel call), instead of a separate broadcast pass over C and a beta = 1 product
    /// that reads C back from memory.
    /// </summary>
    public T* Bias;
    /// <summary>
    /// Pre-packed B with few rows (<see cref="GemmDriver{T, TK}.SweepsPanels"/>): visit the column panels from the last
    /// to the first. A recurrent layer alternates the direction from one step to the next, so that the panels of
    /// W_h read last in one step — still in L2 — are the first the next step reads.
    /// </summary>
    public bool ReversePanels;
}

/// <summary>
/// Per-thread packing buffers: pinned, 64-byte aligned, grown on demand and then reused (no allocation in steady state).
/// </summary>
internal sealed unsafe class GemmBuffers<T> where T : unmanaged
{
    [ThreadStatic] private static GemmBuffers<T>? t_current;
    public static GemmBuffers<T> Current => t_current ??= new GemmBuffers<T>();

    private T[]? _a, _b, _t;
    /// <summary>Elements of the first scratch tile: more than any kernel's MR×NR + NR (AVX-512 doubles: 10×16 + 16; floats 10×32 + 32).</summary>
    private const int MaxTile = 1024;
    public T* A, B, Tile;

    public void Ensure(int aLen, int bLen, int tileLen)
    {
        // The first allocation is already as large as the tuning's blocks can get (an A block of ABlockBytes, a B
        // panel of BPanelBytes, plus margin), so a thread allocates once per buffer, not again when it first meets
        // a larger product — e.g. a pool worker that first runs a part of some shape in the middle of a timed,
        // allocation-free training loop. Only a cached A (GemmTuning.CacheA, up to CacheAMaxElements) grows beyond.
        if (_a is null || _a.Length < aLen + 64) A = Alloc(ref _a, Math.Max(aLen, GemmTuning.ABlockBytes / sizeof(T) * 5 / 4));
        if (_b is null || _b.Length < bLen + 64) B = Alloc(ref _b, Math.Max(bLen, GemmTuning.BPanelBytes / sizeof(T) * 5 / 4));
        // The scratch tile too: the panel sweep asks for MR×NR, the blocked loop for MR×NR + NR (a padded bias row),
        // and a worker whose first product was a sweep must not grow it later inside a timed loop (a C4 run once
        // showed 206 B per update on a worker thread).
        if (_t is null || _t.Length < tileLen + 64) Tile = Alloc(ref _t, Math.Max(tileLen, MaxTile));
    }

    private static T* Alloc(ref T[]? arr, int len)
    {
        arr = GC.AllocateUninitializedArray<T>(len + 64, pinned: true);
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(arr));
        return (T*)((p + 63) & ~(nint)63);
    }
}

/// <summary>
/// BLIS-style blocked GEMM over one rectangle <c>[r0,r1)×[c0,c1)</c> of C, specialised per microkernel
/// <typeparamref name="TK"/>. Loops: jc (NC columns) → pc (KC depth; pack B panel) → ic (MC rows; pack A block,
/// alpha folded in) → jr (NR) → ir (MR) → microkernel. The B micro-panel (KC×NR) stays in L1 across the ir loop,
/// the A block (MC×KC) and the B panel (KC×NC) in L2. Edge tiles go through a small MR×NR scratch tile.
/// </summary>
internal static unsafe class GemmDriver<T, TK> where T : unmanaged, IFloatingPointIeee754<T> where TK : struct, IMicroKernel<T>
{
    private static int KC => GemmTuning.KC;
    /// <summary>Rows of A packed per block of depth <paramref name="kc"/> (<see cref="GemmTuning.ABlockBytes"/>, a multiple of MR).</summary>
    public static int MCFor(int kc) => Math.Max(TK.MR, GemmTuning.ABlockBytes / (kc * sizeof(T)) / TK.MR * TK.MR);
    /// <summary>Columns of B packed per panel of depth <paramref name="kc"/> (<see cref="GemmTuning.BPanelBytes"/>, a multiple of NR).</summary>
    public static int NCFor(int kc) => Math.Max(TK.NR, GemmTuning.BPanelBytes / (kc * sizeof(T)) / TK.NR * TK.NR);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Compute(in GemmArgs<T> g, int r0, int r1, int c0, int c1)
    {
        if (r0 >= r1 || c0 >= c1) return;
        int mr = TK.MR, nr = TK.NR;
        // Depth blocks of equal size (650 → 217+217+216 rather than 256+256+138): no short, inefficient last block —
        // or one block of all of K for a tall product of depth ≤ SingleBlockMaxK (C read and written once, not per block).
        bool packed = g.PackedB != null;
        // Decided on the whole product, not this part, so that every split over threads sums each element of C in
        // the same order: the bits do not depend on the thread count.
        int kcStep = packed ? g.PackedKc : KcStep(g.K, g.M, g.N), kcMax = kcStep;
        int MC = MCFor(kcStep), NC = NCFor(kcStep);
        int mcMax = Math.Min(MC, RoundUp(r1 - r0, mr));
        int ncMax = Math.Min(NC, RoundUp(c1 - c0, nr));
        // Several column panels: keep every packed A block (depth block pc at pc·mPad, row block ic at (ic−r0)·kc).
        int mPad = RoundUp(r1 - r0, mr);
        bool cacheA = GemmTuning.CacheA && c1 - c0 > NC && (long)mPad * g.K <= GemmTuning.CacheAMaxElements;
        var buf = GemmBuffers<T>.Current;
        if (SweepsPanels(g, r1 - r0))
        {
            buf.Ensure(mPad * g.K, 0, mr * nr);
            SweepPanels(g, r0, r1, c0, c1, kcStep, mPad, buf);
            return;
        }
        buf.Ensure(cacheA ? mPad * g.K : mcMax * kcMax, packed ? 0 : ncMax * kcMax, mr * nr + nr);   // tile + a padded bias row

        for (int jc = c0; jc < c1; jc += NC)
        {
            int nc = Math.Min(NC, c1 - jc);
            for (int pc = 0; pc < g.K; pc += kcStep)
            {
                int kc = Math.Min(kcStep, g.K - pc);
                bool biasHere = pc == 0 && g.Bias != null;                     // first block: C tile = bias, then += A·B
                T beta = pc == 0 && !biasHere ? g.Beta : T.One;
                // Pre-packed: block pc starts at pc·NPad (earlier blocks hold pc rows in all), panel jc at jc·kc.
                T* bBlock = packed ? g.PackedB + (nint)pc * g.PackedNPad + (nint)(g.PackedCol0 + jc) * kc : buf.B;
                if (!packed) PackB(g, pc, kc, jc, nc, bBlock);
                for (int ic = r0; ic < r1; ic += MC)
                {
                    int mc = Math.Min(MC, r1 - ic);
                    T* aBlock = cacheA ? buf.A + (nint)pc * mPad + (nint)(ic - r0) * kc : buf.A;
                    if (!cacheA || jc == c0) PackA(g, ic, mc, pc, kc, aBlock);
                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        int n1 = Math.Min(nr, nc - jr);
                        T* bp = bBlock + (nint)jr * kc;
                        T* cp = g.C + (nint)ic * g.Ldc + jc + jr;
                        bool half = n1 * 2 <= nr && GemmTuning.HalfEdge;   // ragged last panel: NR/2-wide kernel
                        // The bias row for kernels that start their accumulators from it (NR values must be
                        // readable: a ragged panel's n1 < NR values go through a zero-padded copy).
                        T* init = null;
                        if (biasHere && GemmTuning.BiasInRegisters)
                        {
                            init = g.Bias + jc + jr;
                            if (n1 < (half ? nr / 2 : nr))
                            {
                                T* pad = buf.Tile + mr * nr;
                                for (int j = 0; j < nr; j++) pad[j] = j < n1 ? init[j] : T.Zero;
                                init = pad;
                            }
                        }
                        for (int ir = 0; ir < mc; ir += mr)
                        {
                            int m1 = Math.Min(mr, mc - ir);
                            T* ap = aBlock + (nint)ir * kc;
                            if (biasHere && init == null) WriteBias(g.Bias + jc + jr, n1, cp + (nint)ir * g.Ldc, g.Ldc, m1);
                            RunTile(kc, ap, bp, cp + (nint)ir * g.Ldc, g.Ldc, m1, n1, half, beta, init, buf);
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// One m1×n1 tile of C at <paramref name="c"/>: C = beta·C + A·B over depth kc (or, with <paramref name="init"/>, C =
    /// init + A·B, C not read). A full tile runs the kernel in place; a ragged last panel of at most NR/2 columns
    /// (<paramref name="half"/>) the NR/2-wide kernel, in place when its rows are full and it is exactly NR/2 wide;
    /// any other edge tile goes through the scratch tile and <see cref="StoreEdge"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RunTile(int kc, T* a, T* b, T* c, nint ldc, int m1, int n1, bool half, T beta, T* init, GemmBuffers<T> buf)
    {
        int mr = TK.MR, nr = TK.NR;
        T* t = c;
        nint ldt = ldc;
        bool edge = m1 < mr || (half ? n1 * 2 < nr : n1 < nr);
        if (edge) { t = buf.Tile; ldt = nr; }
        if (half)
        {
            if (init != null) TK.RunHalfFrom(kc, a, b, nr, t, ldt, init);
            else TK.RunHalf(kc, a, b, nr, t, ldt, edge ? T.Zero : beta);
        }
        else if (init != null) TK.RunFrom(kc, a, b, nr, t, ldt, init);
        else TK.Run(kc, a, b, nr, t, ldt, edge ? T.Zero : beta);
        if (edge) StoreEdge(buf.Tile, nr, c, ldc, m1, n1, init != null ? T.Zero : beta);
    }

    /// <summary>
    /// A product with a pre-packed B (no bias) whose part has at most <see cref="GemmTuning.SweepMaxRows"/> rows — a
    /// recurrent step (M = 20) — runs column panel by column panel, each panel through all depth blocks
    /// (<see cref="SweepPanels"/>); <see cref="GemmTuning.SweepMaxRows"/> = 0 turns this off.
    /// </summary>
    internal static bool SweepsPanels(in GemmArgs<T> g, int rows) =>
        g.PackedB != null && g.Bias == null && rows <= GemmTuning.SweepMaxRows;

    /// <summary>
    /// The small-M pre-packed product: all of op(A)'s rows [r0, r1) packed first (every depth block), then for each
    /// NR-column panel of [c0, c1) — last to first when <see cref="GemmArgs{T}.ReversePanels"/> — the depth blocks in
    /// order, each over all row panels. Every C tile gets the same kernel calls in the same depth order as in the
    /// blocked loop, so the bits are the same; the C tile stays in L1 across the depth blocks, and W_h's panels are
    /// read in one sweep whose direction the caller can alternate (see <see cref="GemmArgs{T}.ReversePanels"/>), the
    /// next panel fetched into L2 by the current one's kernel calls (<see cref="GemmTuning.SweepFetchNext"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SweepPanels(in GemmArgs<T> g, int r0, int r1, int c0, int c1, int kcStep, int mPad, GemmBuffers<T> buf)
    {
        int mr = TK.MR, nr = TK.NR, m = r1 - r0;
        for (int pc = 0; pc < g.K; pc += kcStep)
            PackA(g, r0, m, pc, Math.Min(kcStep, g.K - pc), buf.A + (nint)pc * mPad);
        int panels = (c1 - c0 + nr - 1) / nr;
        // Fetch ahead only a packed B too large to stay in L2 (C1's W_h of 100×400 is 160 KB: nothing to gain).
        bool fetch = GemmTuning.SweepFetchNext && (long)g.K * g.PackedNPad * sizeof(T) >= GemmTuning.SweepFetchMinBytes;
        for (int q = 0; q < panels; q++)
        {
            int jr = c0 + (g.ReversePanels ? panels - 1 - q : q) * nr;
            int jrNext = q + 1 < panels && fetch ? c0 + (g.ReversePanels ? panels - 2 - q : q + 1) * nr : -1;
            int n1 = Math.Min(nr, c1 - jr);
            bool half = n1 * 2 <= nr && GemmTuning.HalfEdge;
            T* cp = g.C + (nint)r0 * g.Ldc + jr;
            for (int pc = 0; pc < g.K; pc += kcStep)
            {
                int kc = Math.Min(kcStep, g.K - pc);
                T beta = pc == 0 ? g.Beta : T.One;
                T* bp = g.PackedB + (nint)pc * g.PackedNPad + (nint)(g.PackedCol0 + jr) * kc;
                T* aBlock = buf.A + (nint)pc * mPad;
                // The next panel's micro-panel of this depth block (kc·NR values: 2·kc lines for NR = 32 floats): the
                // first full-tile call fetches its first kc lines into L2, the second call the other kc.
                byte* next = jrNext >= 0 ? (byte*)(g.PackedB + (nint)pc * g.PackedNPad + (nint)(g.PackedCol0 + jrNext) * kc) : null;
                int lines = kc * nr * sizeof(T) / 64;
                for (int ir = 0, call = 0; ir < m; ir += mr, call++)
                {
                    int m1 = Math.Min(mr, m - ir);
                    T* ap = aBlock + (nint)ir * kc;
                    if (next != null && m1 == mr && n1 == nr && (call + 1) * kc <= lines)
                        TK.RunNext(kc, ap, bp, nr, cp + (nint)ir * g.Ldc, g.Ldc, beta, next + (nint)call * kc * 64);
                    else RunTile(kc, ap, bp, cp + (nint)ir * g.Ldc, g.Ldc, m1, n1, half, beta, null, buf);
                }
            }
        }
    }

    /// <summary>
    /// dst[p·ldd + j] = scale·src[j·lds + p] for j &lt; n1 rounded down to 8 and all p &lt; kc, by 8×8 AVX transposes
    /// (scalar for the last kc mod 8). Returns the number of rows j done.
    /// </summary>
    private static int PackTransposed8(float* src, int lds, int n1, int kc, float* dst, int ldd, float scale, int pfDist = 0, int rowsValid = 0)
    {
        int jEnd = n1 / 8 * 8, pEnd = kc / 8 * 8;
        var sv = Vector256.Create(scale);
        for (int j = 0; j < jEnd; j += 8)
        {
            float* s0 = src + (nint)j * lds;
            // Rows j + pfDist.. (the next panel's, below rowsValid) get the same 64-byte piece fetched every 16 depths.
            int pfRows = pfDist > 0 ? Math.Min(8, rowsValid - j - pfDist) : 0;
            int p = 0;
            for (; p < pEnd; p += 8)
            {
                float* s = s0 + p;
                if ((p & 15) == 0) for (int r = 0; r < pfRows; r++) Sse.Prefetch0(s + (nint)(pfDist + r) * lds);
                var r0 = Avx.LoadVector256(s) * sv; var r1 = Avx.LoadVector256(s + lds) * sv;
                var r2 = Avx.LoadVector256(s + 2 * (nint)lds) * sv; var r3 = Avx.LoadVector256(s + 3 * (nint)lds) * sv;
                var r4 = Avx.LoadVector256(s + 4 * (nint)lds) * sv; var r5 = Avx.LoadVector256(s + 5 * (nint)lds) * sv;
                var r6 = Avx.LoadVector256(s + 6 * (nint)lds) * sv; var r7 = Avx.LoadVector256(s + 7 * (nint)lds) * sv;
                var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
                var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
                var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
                var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
                var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
                var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
                var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
                var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
                float* d = dst + (nint)p * ldd + j;
                Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
                Avx.Store(d + ldd, Avx.Permute2x128(u1, u5, 0x20));
                Avx.Store(d + 2 * (nint)ldd, Avx.Permute2x128(u2, u6, 0x20));
                Avx.Store(d + 3 * (nint)ldd, Avx.Permute2x128(u3, u7, 0x20));
                Avx.Store(d + 4 * (nint)ldd, Avx.Permute2x128(u0, u4, 0x31));
                Avx.Store(d + 5 * (nint)ldd, Avx.Permute2x128(u1, u5, 0x31));
                Avx.Store(d + 6 * (nint)ldd, Avx.Permute2x128(u2, u6, 0x31));
                Avx.Store(d + 7 * (nint)ldd, Avx.Permute2x128(u3, u7, 0x31));
            }
            for (; p < kc; p++)
                for (int jj = 0; jj < 8; jj++) dst[(nint)p * ldd + j + jj] = scale * s0[(nint)jj * lds + p];
        }
        return jEnd;
    }

    /// <summary>
    /// dst[p·ldd + j] = src[j·lds + p] for j &lt; n1 rounded down to 16 and all p &lt; kc, by 16×16 AVX-512 transposes
    /// (four shuffle stages: 0.25 shuffles per element against 0.375 for 8×8, and whole 64-byte lines read per row);
    /// the last kc mod 16 depths through <see cref="PackTransposed8"/>. Returns the number of rows j done.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int PackTransposed16(float* src, int lds, int n1, int kc, float* dst, int ldd, int rowsValid)
    {
        int jEnd = n1 / 16 * 16, pEnd = kc / 16 * 16;
        nint l = lds;
        int pf = GemmTuning.PackAheadRows;
        for (int j = 0; j < jEnd; j += 16)
        {
            float* s0 = src + (nint)j * lds;
            // Each row's piece is only kc values (≈ 1 KB): too short for the hardware prefetcher to ramp up, so the
            // same piece of the rows pf ahead (the next group's) is fetched while this group is transposed.
            int pfRows = pf > 0 ? Math.Min(16, rowsValid - j - pf) : 0;
            for (int p = 0; p < pEnd; p += 16)
            {
                float* s = s0 + p;
                for (int r = 0; r < pfRows; r++) Sse.Prefetch0(s + (pf + r) * l);
                // rows a..p of the 16×16 block (row r = depth values p..p+15 of column j + r of op(B))
                var ra = Avx512F.LoadVector512(s); var rb = Avx512F.LoadVector512(s + l);
                var rc = Avx512F.LoadVector512(s + 2 * l); var rd = Avx512F.LoadVector512(s + 3 * l);
                var re = Avx512F.LoadVector512(s + 4 * l); var rf = Avx512F.LoadVector512(s + 5 * l);
                var rg = Avx512F.LoadVector512(s + 6 * l); var rh = Avx512F.LoadVector512(s + 7 * l);
                var ri = Avx512F.LoadVector512(s + 8 * l); var rj = Avx512F.LoadVector512(s + 9 * l);
                var rk = Avx512F.LoadVector512(s + 10 * l); var rl = Avx512F.LoadVector512(s + 11 * l);
                var rm = Avx512F.LoadVector512(s + 12 * l); var rn = Avx512F.LoadVector512(s + 13 * l);
                var ro = Avx512F.LoadVector512(s + 14 * l); var rp = Avx512F.LoadVector512(s + 15 * l);
                float* d = dst + (nint)p * ldd + j;
                // Stage 1: pairs of rows interleaved per 128-bit lane L: lo = (a4L b4L a4L+1 b4L+1), hi = (a4L+2 b4L+2 a4L+3 b4L+3).
                var ab0 = Avx512F.UnpackLow(ra, rb); var ab1 = Avx512F.UnpackHigh(ra, rb);
                var cd0 = Avx512F.UnpackLow(rc, rd); var cd1 = Avx512F.UnpackHigh(rc, rd);
                var ef0 = Avx512F.UnpackLow(re, rf); var ef1 = Avx512F.UnpackHigh(re, rf);
                var gh0 = Avx512F.UnpackLow(rg, rh); var gh1 = Avx512F.UnpackHigh(rg, rh);
                var ij0 = Avx512F.UnpackLow(ri, rj); var ij1 = Avx512F.UnpackHigh(ri, rj);
                var kl0 = Avx512F.UnpackLow(rk, rl); var kl1 = Avx512F.UnpackHigh(rk, rl);
                var mn0 = Avx512F.UnpackLow(rm, rn); var mn1 = Avx512F.UnpackHigh(rm, rn);
                var op0 = Avx512F.UnpackLow(ro, rp); var op1 = Avx512F.UnpackHigh(ro, rp);
                // Stage 2: four rows' value 4L+q in lane L (q = 0..3), for rows a–d, e–h, i–l, m–p; stages 3–4 gather lanes.
                Column4(Avx512F.Shuffle(ab0, cd0, 0x44), Avx512F.Shuffle(ef0, gh0, 0x44), Avx512F.Shuffle(ij0, kl0, 0x44), Avx512F.Shuffle(mn0, op0, 0x44), d, ldd);
                Column4(Avx512F.Shuffle(ab0, cd0, 0xEE), Avx512F.Shuffle(ef0, gh0, 0xEE), Avx512F.Shuffle(ij0, kl0, 0xEE), Avx512F.Shuffle(mn0, op0, 0xEE), d + ldd, ldd);
                Column4(Avx512F.Shuffle(ab1, cd1, 0x44), Avx512F.Shuffle(ef1, gh1, 0x44), Avx512F.Shuffle(ij1, kl1, 0x44), Avx512F.Shuffle(mn1, op1, 0x44), d + 2 * (nint)ldd, ldd);
                Column4(Avx512F.Shuffle(ab1, cd1, 0xEE), Avx512F.Shuffle(ef1, gh1, 0xEE), Avx512F.Shuffle(ij1, kl1, 0xEE), Avx512F.Shuffle(mn1, op1, 0xEE), d + 3 * (nint)ldd, ldd);
            }
            if (pEnd < kc) PackTransposed8(s0 + pEnd, lds, 16, kc - pEnd, dst + (nint)pEnd * ldd + j, ldd, 1f);
        }
        return jEnd;
    }

    /// <summary>
    /// u, v, w, x hold, in lane L, value 4L+q of rows a–d, e–h, i–l, m–p: writes columns q, q+4, q+8, q+12 (d points
    /// at column q) by two stages of 128-bit lane shuffles (0x88: lanes 0, 2 of each source; 0xDD: lanes 1, 3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Column4(Vector512<float> u, Vector512<float> v, Vector512<float> w, Vector512<float> x, float* d, int ldd)
    {
        var uv0 = Avx512F.Shuffle4x128(u, v, 0x88); var uv1 = Avx512F.Shuffle4x128(u, v, 0xDD);   // (L0 L2 | L0 L2), (L1 L3 | L1 L3)
        var wx0 = Avx512F.Shuffle4x128(w, x, 0x88); var wx1 = Avx512F.Shuffle4x128(w, x, 0xDD);
        nint s = ldd;
        Avx512F.Store(d, Avx512F.Shuffle4x128(uv0, wx0, 0x88));            // lane 0 of each: value q
        Avx512F.Store(d + 8 * s, Avx512F.Shuffle4x128(uv0, wx0, 0xDD));    // lane 2: value q + 8
        Avx512F.Store(d + 4 * s, Avx512F.Shuffle4x128(uv1, wx1, 0x88));    // lane 1: value q + 4
        Avx512F.Store(d + 12 * s, Avx512F.Shuffle4x128(uv1, wx1, 0xDD));   // lane 3: value q + 12
    }

    /// <summary>
    /// True when an operand of rows × cols values is at least <see cref="GemmTuning.PackAheadMinBytes"/>: it comes from
    /// L3 or memory, where fetching the short row pieces ahead pays; a smaller one is mostly in cache, where the extra
    /// prefetch instructions cost (measured 4–5 % on a 650×2600 W_hᵀ).
    /// </summary>
    private static bool FromMemory(int rows, int cols) => (long)rows * cols * sizeof(T) >= GemmTuning.PackAheadMinBytes;

    internal static int RoundUp(int x, int m) => (x + m - 1) / m * m;

    /// <summary>
    /// Depth of the blocks of an m×n product over depth <paramref name="k"/> (the whole product's sizes, also for each of
    /// its parts on the pool): the whole depth as ONE block when m ≥ <see cref="GemmTuning.SingleBlockMinRows"/>,
    /// k ≤ <see cref="GemmTuning.SingleBlockMaxK"/>, and either the columns fit one B panel of that depth or op(A) can
    /// be packed once for all panels (<see cref="GemmTuning.CacheAMaxElements"/>; a part never has more rows than the
    /// product); else <see cref="KcStep(int)"/>.
    /// </summary>
    internal static int KcStep(int k, int m, int n) =>
        m >= GemmTuning.SingleBlockMinRows && k <= GemmTuning.SingleBlockMaxK
        && (n <= NCFor(Math.Max(1, k)) || (long)RoundUp(m, TK.MR) * k <= GemmTuning.CacheAMaxElements)
            ? Math.Max(1, k) : KcStep(k);

    /// <summary>Depth of the blocks over k = <paramref name="k"/>: equal blocks of at most KC (650 → 217+217+216 rather than 256+256+138).</summary>
    internal static int KcStep(int k)
    {
        int kBlocks = Math.Max(1, (k + KC - 1) / KC);
        return Math.Max(1, (k + kBlocks - 1) / kBlocks);
    }

    /// <summary>
    /// Packs columns [j0, j1) of op(B) (k×n) for <see cref="GemmPackedB{T}"/> (all of it: j0 = 0, j1 = n): depth block
    /// pc (rows pc..pc+kc of op(B), kc = <paramref name="kcStep"/> except the last) at dst + pc·nPad, laid out as
    /// <see cref="PackB"/> lays out a panel (NR-column micro-panels, zero-padded to nPad = n rounded up to NR), column
    /// j0 (a multiple of NR) at offset j0·kc within its block. Disjoint column ranges write disjoint parts of dst.
    /// </summary>
    internal static void PackWhole(bool transB, int k, int n, T* b, int ldb, int kcStep, T* dst, int j0, int j1)
    {
        int nPad = RoundUp(n, TK.NR);
        var g = new GemmArgs<T> { B = b, Ldb = ldb, TransB = transB, K = k, N = n };
        for (int pc = 0; pc < k; pc += kcStep)
        {
            int kc = Math.Min(kcStep, k - pc);
            PackB(g, pc, kc, j0, j1 - j0, dst + (nint)pc * nPad + (nint)j0 * kc);
        }
    }

    /// <summary>Rows 0..m1 of the C tile at <paramref name="c"/> ← bias[0..n1) (in L1 for the kernel call that follows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteBias(T* bias, int n1, T* c, nint ldc, int m1)
    {
        var b = new ReadOnlySpan<T>(bias, n1);
        for (int i = 0; i < m1; i++, c += ldc) b.CopyTo(new Span<T>(c, n1));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StoreEdge(T* t, int nr, T* c, nint ldc, int m1, int n1, T beta)
    {
        for (int i = 0; i < m1; i++, t += nr, c += ldc)
        {
            if (beta == T.Zero) for (int j = 0; j < n1; j++) c[j] = t[j];
            else for (int j = 0; j < n1; j++) c[j] = t[j] + beta * c[j];
        }
    }

    /// <summary>Packs op(A)[ic..ic+mc, pc..pc+kc]·alpha into MR-row micro-panels: dst[panel·MR·kc + p·MR + i], zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(in GemmArgs<T> g, int ic, int mc, int pc, int kc, T* dst)
    {
        int mr = TK.MR;
        T alpha = g.Alpha;
        if (g.TransA)
        {
            // A stored k×m: depth row p holds mc contiguous values of op(A)'s column p. Row by row (each row of A is
            // far from the previous one, so the row GemmTuning.PackPrefetchRows ahead is prefetched), split into the MR-row panels.
            int full = mc / mr * mr;
            bool simd = mr >= Vector128<T>.Count && Vector128.IsHardwareAccelerated;
            int ahead = GemmTuning.PackPrefetchRows;
            for (int p = 0; p < kc; p++)
            {
                T* src = g.A + (nint)(pc + p) * g.Lda + ic;
                if (ahead > 0 && p + ahead < kc)
                {
                    byte* pf = (byte*)(src + (nint)ahead * g.Lda);
                    for (int off = 0; off < mc * sizeof(T); off += 64) Sse.Prefetch0(pf + off);
                    Sse.Prefetch0(pf + mc * sizeof(T) - 1);
                }
                T* d = dst + (nint)p * mr;
                int ir = 0;
                if (simd)
                    for (; ir < full; ir += mr, d += (nint)mr * kc) ScaleCopy(src + ir, d, mr, alpha);
                for (; ir < mc; ir += mr, d += (nint)mr * kc)
                {
                    int m1 = Math.Min(mr, mc - ir), i = 0;
                    for (; i < m1; i++) d[i] = alpha * src[ir + i];
                    for (; i < mr; i++) d[i] = T.Zero;
                }
            }
            return;
        }
        for (int ir = 0; ir < mc; ir += mr, dst += (nint)mr * kc)
        {
            int m1 = Math.Min(mr, mc - ir);
            int i0 = 0;
            if (typeof(T) == typeof(float) && Avx.IsSupported)
            {
                float* a0 = (float*)(g.A + (nint)(ic + ir) * g.Lda + pc);
                float al = float.CreateTruncating(alpha);
                // Each row piece is kc values (≈ 1 KB): short streams, so the next panel's rows (MR ahead, within
                // this block) are fetched while this one is transposed (GemmTuning.PackAheadRows > 0 turns it on).
                int pfA = GemmTuning.PackAheadRows > 0 && FromMemory(g.M, g.K) ? mr : 0, valid = mc - ir;
                i0 = PackTransposed8(a0, g.Lda, m1, kc, (float*)dst, mr, al, pfA, valid);
                // The last m1 − i0 (< 8) rows: one more 8-row transpose ending at row m1 (10 rows: rows 2..9), which
                // rewrites rows it shares with the first with the same values — cheaper than the scalar loop below.
                if (i0 < m1 && m1 >= 8)
                {
                    PackTransposed8(a0 + (nint)(m1 - 8) * g.Lda, g.Lda, 8, kc, (float*)dst + (m1 - 8), mr, al, pfA, valid - (m1 - 8));
                    i0 = m1;
                }
            }
            for (int i = i0; i < m1; i++)
            {
                T* src = g.A + (nint)(ic + ir + i) * g.Lda + pc;
                T* d = dst + i;
                for (int p = 0; p < kc; p++, d += mr) *d = alpha * src[p];
            }
            for (int i = m1; i < mr; i++)
            {
                T* d = dst + i;
                for (int p = 0; p < kc; p++, d += mr) *d = T.Zero;
            }
        }
    }

    /// <summary>d[i] = alpha·src[i] for i &lt; n, n ≥ one Vector128 (the last vector overlaps the previous one).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaleCopy(T* src, T* d, int n, T alpha)
    {
        if (Vector256.IsHardwareAccelerated && n >= Vector256<T>.Count)
        {
            int w = Vector256<T>.Count;
            var av = Vector256.Create(alpha);
            int i = 0;
            for (; i + w <= n; i += w) (Vector256.Load(src + i) * av).Store(d + i);
            if (i < n) (Vector256.Load(src + n - w) * av).Store(d + n - w);
        }
        else
        {
            int w = Vector128<T>.Count;
            var av = Vector128.Create(alpha);
            int i = 0;
            for (; i + w <= n; i += w) (Vector128.Load(src + i) * av).Store(d + i);
            if (i < n) (Vector128.Load(src + n - w) * av).Store(d + n - w);
        }
    }

    /// <summary>Packs op(B)[pc..pc+kc, jc..jc+nc] into NR-column micro-panels: dst[panel·NR·kc + p·NR + j], zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(in GemmArgs<T> g, int pc, int kc, int jc, int nc, T* dst)
    {
        int nr = TK.NR;
        if (!g.TransB)
        {
            // Row by row of B (sequential reads, prefetcher-friendly), scattering NR-wide pieces to the panels.
            int full = nc / nr * nr, rem = nc - full;
            // A row piece of ≤ 2 KB (kc = 700: nc = 352 values) is too short a stream for the hardware prefetcher.
            int ahead = nc * sizeof(T) <= 2048 && FromMemory(g.K, g.N) ? GemmTuning.PackPrefetchRows : 0;
            for (int p = 0; p < kc; p++)
            {
                T* src = g.B + (nint)(pc + p) * g.Ldb + jc;
                if (ahead > 0 && p + ahead < kc)
                {
                    byte* pf = (byte*)(src + (nint)ahead * g.Ldb);
                    for (int off = 0; off < nc * sizeof(T); off += 64) Sse.Prefetch0(pf + off);
                    Sse.Prefetch0(pf + nc * sizeof(T) - 1);
                }
                T* d = dst + (nint)p * nr;
                int jr = 0;
                for (; jr < full; jr += nr, d += (nint)nr * kc)
                    Unsafe.CopyBlockUnaligned(d, src + jr, (uint)(TK.NR * sizeof(T)));
                if (rem > 0)
                {
                    for (int j = 0; j < rem; j++) d[j] = src[jr + j];
                    for (int j = rem; j < nr; j++) d[j] = T.Zero;
                }
            }
            return;
        }
        for (int jr = 0; jr < nc; jr += nr, dst += (nint)nr * kc)
        {
            int n1 = Math.Min(nr, nc - jr);
            {
                int j0 = 0;
                if (typeof(T) == typeof(float) && Avx512F.IsSupported && nr % 16 == 0 && GemmTuning.Transpose16)
                {
                    float* s0 = (float*)(g.B + (nint)(jc + jr) * g.Ldb + pc);
                    j0 = PackTransposed16(s0, g.Ldb, n1, kc, (float*)dst, nr, FromMemory(g.N, g.K) ? nc - jr : 0);
                    if (j0 < n1) j0 += PackTransposed8(s0 + (nint)j0 * g.Ldb, g.Ldb, n1 - j0, kc, (float*)dst + j0, nr, 1f);
                }
                else if (typeof(T) == typeof(float) && Avx.IsSupported && nr % 8 == 0)
                    j0 = PackTransposed8((float*)(g.B + (nint)(jc + jr) * g.Ldb + pc), g.Ldb, n1, kc, (float*)dst, nr, 1f);
                for (int j = j0; j < n1; j++)
                {
                    T* src = g.B + (nint)(jc + jr + j) * g.Ldb + pc;
                    T* d = dst + j;
                    for (int p = 0; p < kc; p++, d += nr) *d = src[p];
                }
                for (int j = n1; j < nr; j++)
                {
                    T* d = dst + j;
                    for (int p = 0; p < kc; p++, d += nr) *d = T.Zero;
                }
            }
        }
    }
}
