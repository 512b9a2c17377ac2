using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Unroll.Kernels;

/// <summary>SIMD instruction set a <see cref="ManagedGemm"/> uses.</summary>
public enum GemmIsa
{
    /// <summary>Portable scalar code.</summary>
    Scalar,
    /// <summary>256-bit vectors with fused multiply-add.</summary>
    Avx2,
    /// <summary>512-bit vectors (AVX-512F).</summary>
    Avx512,
}

/// <summary>
/// The default GEMM backend: managed, packed, cache-blocked (BLIS-style) with a register-blocked SIMD microkernel
/// (AVX-512: 10×32 floats; AVX2+FMA: 6×16; scalar 4×4 last), multi-threaded over <see cref="Gemm.Threads"/>
/// persistent workers. No native install needed; no allocation per call once warm.
/// </summary>
/// <remarks>
/// Products smaller than <see cref="ParallelMinWork"/> multiply-adds run on the calling thread.
/// </remarks>
public sealed class ManagedGemm : IGemmBackend
{
    /// <summary>The best instruction set this CPU supports.</summary>
    public static GemmIsa BestIsa =>
        Avx512Kernel<float>.IsSupported ? GemmIsa.Avx512 : Avx2Kernel<float>.IsSupported ? GemmIsa.Avx2 : GemmIsa.Scalar;

    /// <summary>The backend on the best instruction set of this CPU.</summary>
    public static readonly ManagedGemm Instance = new(BestIsa);

    /// <summary>Products with fewer multiply-adds (m·n·k) run single-threaded.</summary>
    public const long ParallelMinWork = 1L << 18;

    public GemmIsa Isa { get; }
    public string Name { get; }

    private readonly Job<float> _jobF = new();
    private readonly Job<double> _jobD = new();

    /// <summary>A backend on a given instruction set (tests use this to cover every path on one machine).</summary>
    /// <exception cref="NotSupportedException">The CPU (or the runtime's configuration) lacks the instruction set.</exception>
    public ManagedGemm(GemmIsa isa)
    {
        bool ok = isa switch
        {
            GemmIsa.Avx512 => Avx512Kernel<float>.IsSupported,
            GemmIsa.Avx2 => Avx2Kernel<float>.IsSupported,
            _ => true,
        };
        if (!ok) throw new NotSupportedException($"ManagedGemm: this CPU does not support {isa}.");
        Isa = isa;
        Name = "managed-" + isa.ToString().ToLowerInvariant();
    }

    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
                     ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        => Run(_jobF, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    public void Gemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, int lda,
                     ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
        => Run(_jobD, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>
    /// C (m × n) ← alpha·op(A)·op(B) + 1·biasᵀ: <paramref name="bias"/> (n) added to every row of the product inside each
    /// C tile's first depth block (see <see cref="GemmArgs{T}.Bias"/>) — no broadcast pass over C and no read of C from
    /// memory. Arguments as <see cref="IGemmBackend.Gemm(bool, bool, int, int, int, float, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, float, Span{float}, int)"/>;
    /// bias.Length = n, checked by the caller (<see cref="Kernels.Gemm.RunBias{T}"/>).
    /// </summary>
    internal void GemmBias<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda,
                              ReadOnlySpan<T> b, int ldb, ReadOnlySpan<T> bias, Span<T> c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Run(JobFor<T>(), transA, transB, m, n, k, alpha, a, lda, b, ldb, T.Zero, c, ldc, bias);
    }

    /// <summary>The reusable work item for element type <typeparamref name="T"/> (float or double).</summary>
    private Job<T> JobFor<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
        typeof(T) == typeof(float) ? (Job<T>)(object)_jobF : (Job<T>)(object)_jobD;

    private unsafe void Run<T>(Job<T> job, bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda,
                               ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc, ReadOnlySpan<T> bias = default)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Kernels.Gemm.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == T.Zero)
        {
            ScaleC(c, m, n, ldc, beta);
            Kernels.Gemm.BiasRows(bias, c, m, ldc);                                     // C = 0 + bias (nothing without one)
            return;
        }
        fixed (T* pa = a, pb = b, pc = c, pbias = bias)
        {
            var g = new GemmArgs<T>
            {
                A = pa, B = pb, C = pc, Lda = lda, Ldb = ldb, Ldc = ldc, M = m, N = n, K = k,
                TransA = transA, TransB = transB, Alpha = alpha, Beta = beta, Bias = bias.IsEmpty ? null : pbias,
            };
            if (SplitsDepth(m, n, k)) ExecuteDepthHalves(job, g);
            else Execute(job, g, parallel: true);
        }
    }

    /// <summary>
    /// Deep products — depth K at least <see cref="DepthSplitFactor"/> times the larger of M and N, e.g. the adding
    /// problem's dW_h += h_{t−1}ᵀ·da over all 12 800 rows (128 × 512 × 12800) or an LM output layer's dxs = dlogits·W
    /// (700 × 650 × 10000) — are cut into two fixed halves of the depth, C = (beta·C + op(A)₀·op(B)₀) + op(A)₁·op(B)₁,
    /// one half per core: each core reads and packs only its half of A and B, where a split of C's rows or columns has
    /// both cores pack all of one operand. Measured (docs/benchmarks.md, fifth session): 1.08–1.10× on
    /// (128, 12800, 512) TN, neutral on the output layers' shapes. Decided on the shape alone, so the bits do not depend on the
    /// thread count (one thread computes both halves in turn). UNROLL_GEMM_DEPTH_SPLIT=0 turns it off (A/B runs).
    /// </summary>
    public static bool DepthSplit { get; set; } = Environment.GetEnvironmentVariable("UNROLL_GEMM_DEPTH_SPLIT") != "0";

    /// <summary>See <see cref="DepthSplit"/>: K ≥ this × max(M, N).</summary>
    public const int DepthSplitFactor = 4;

    internal static bool SplitsDepth(int m, int n, int k) =>
        DepthSplit && k >= 1024 && k >= DepthSplitFactor * Math.Max(m, n) && (long)m * n * k >= ParallelMinWork;

    /// <summary>The second half's partial C (M × N) of <see cref="ExecuteDepthHalves{T}"/>, per calling thread and element type.</summary>
    private static class DepthScratch<T>
    {
        [ThreadStatic] public static T[]? Current;
    }

    private unsafe void ExecuteDepthHalves<T>(Job<T> job, in GemmArgs<T> g) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = g.M, n = g.N, k0 = g.K / 2;
        var scratch = DepthScratch<T>.Current;
        if (scratch is null || scratch.Length < m * n) DepthScratch<T>.Current = scratch = GC.AllocateUninitializedArray<T>(m * n, pinned: true);
        fixed (T* ps = scratch)
        {
            var first = g;
            first.K = k0;                                                               // beta·C (or bias) + op(A)[:, 0..k0)·op(B)[0..k0, :] into C
            var second = g;
            second.K = g.K - k0;                                                         // op(A)[:, k0..K)·op(B)[k0..K, :] into scratch
            second.A = g.TransA ? g.A + (nint)k0 * g.Lda : g.A + k0;
            second.B = g.TransB ? g.B + k0 : g.B + (nint)k0 * g.Ldb;
            second.C = ps; second.Ldc = n; second.Beta = T.Zero; second.Bias = null;   // the bias goes with the first half
            ExecuteHalves(job, first, second);
            for (int i = 0; i < m; i++)                                                  // C += second half, in row order
            {
                var row = new Span<T>(g.C + (nint)i * g.Ldc, n);
                System.Numerics.Tensors.TensorPrimitives.Add<T>(row, new ReadOnlySpan<T>(ps + (nint)i * n, n), row);
            }
        }
    }

    /// <summary>
    /// <c>C ← alpha·op(A)·op(B) + beta·C</c> with op(B) pre-packed for this backend (arguments already validated by
    /// <see cref="Kernels.Gemm.RunPacked{T}(IGemmBackend, bool, int, T, ReadOnlySpan{T}, int, GemmPackedB{T}, T, Span{T}, int, bool)"/>).
    /// </summary>
    internal unsafe void RunPacked<T>(bool transA, int m, T alpha, ReadOnlySpan<T> a, int lda, GemmPackedB<T> b, int j0, int j1, T beta,
                                      Span<T> c, int ldc, bool parallel) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = j1 - j0, k = b.K;
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == T.Zero)
        {
            ScaleC(c.Slice(j0), m, n, ldc, beta);
            return;
        }
        fixed (T* pa = a, pc = c)
        {
            var g = new GemmArgs<T>
            {
                A = pa, C = pc + j0, Lda = lda, Ldc = ldc, M = m, N = n, K = k, TransA = transA, Alpha = alpha, Beta = beta,
                PackedB = b.Data, PackedKc = b.KcStep, PackedNPad = b.NPad, PackedCol0 = j0,
                ReversePanels = b.NextSweepReversed(),
            };
            Execute(JobFor<T>(), g, parallel);
        }
    }

    /// <summary>(NR of this backend's kernel, depth-block size for depth k): the layout <see cref="GemmPackedB{T}"/> packs.</summary>
    internal (int nr, int kcStep) PackedLayout<T>(int k) where T : unmanaged, IFloatingPointIeee754<T> => Isa switch
    {
        GemmIsa.Avx512 => (Avx512Kernel<T>.NR, GemmDriver<T, Avx512Kernel<T>>.KcStep(k)),
        GemmIsa.Avx2 => (Avx2Kernel<T>.NR, GemmDriver<T, Avx2Kernel<T>>.KcStep(k)),
        _ => (ScalarKernel<T>.NR, GemmDriver<T, ScalarKernel<T>>.KcStep(k)),
    };

    /// <summary>Packs columns [j0, j1) (j0 a multiple of NR) of op(B) into <paramref name="dst"/> in this backend's
    /// micro-panel layout (see <see cref="GemmPackedB{T}"/>).</summary>
    internal unsafe void PackWhole<T>(bool transB, int k, int n, T* b, int ldb, int kcStep, T* dst, int j0, int j1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (Isa)
        {
            case GemmIsa.Avx512: GemmDriver<T, Avx512Kernel<T>>.PackWhole(transB, k, n, b, ldb, kcStep, dst, j0, j1); break;
            case GemmIsa.Avx2: GemmDriver<T, Avx2Kernel<T>>.PackWhole(transB, k, n, b, ldb, kcStep, dst, j0, j1); break;
            default: GemmDriver<T, ScalarKernel<T>>.PackWhole(transB, k, n, b, ldb, kcStep, dst, j0, j1); break;
        }
    }

    /// <summary>
    /// Runs one product on this backend's kernel: on the calling thread when <paramref name="parallel"/> is false,
    /// the product is small, this thread is inside a pool part or a <see cref="Kernels.Gemm.Serial"/> scope, or the
    /// pool is busy; otherwise split over <see cref="Kernels.Gemm.Threads"/> threads.
    /// </summary>
    private unsafe void Execute<T>(Job<T> job, in GemmArgs<T> g, bool parallel) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = g.M, n = g.N;
        var compute = KernelFor<T>(m, out int mr, out int nr);
        int threads = Math.Max(1, Kernels.Gemm.Threads);
        long work = (long)m * n * g.K;
        int parts = !parallel || work < ParallelMinWork || GemmWorkers.SerialHere
            ? 1 : Math.Min(threads, Math.Max(CeilDiv(m, mr), CeilDiv(n, nr)));
        if (parts > 1 && Monitor.TryEnter(job))
        {
            try
            {
                job.Set(g, compute, mr, nr);
                if (GemmWorkers.Shared.TryRun(job, parts, helpers: parts - 1)) return;
            }
            finally { Monitor.Exit(job); }
        }
        compute(g, 0, m, 0, n);
    }

    /// <summary>The two depth halves of <see cref="ExecuteDepthHalves{T}"/>: one per core when the pool is free, else in turn here.</summary>
    private unsafe void ExecuteHalves<T>(Job<T> job, in GemmArgs<T> first, in GemmArgs<T> second) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var compute = KernelFor<T>(first.M, out int mr, out int nr);
        if (Kernels.Gemm.Threads > 1 && !GemmWorkers.SerialHere && Monitor.TryEnter(job))
        {
            try
            {
                job.SetHalves(first, second, compute, mr, nr);
                if (GemmWorkers.Shared.TryRun(job, 2, helpers: 1)) return;
            }
            finally { job.ClearHalves(); Monitor.Exit(job); }
        }
        compute(first, 0, first.M, 0, first.N);
        compute(second, 0, second.M, 0, second.N);
    }

    /// <summary>This backend's kernel (and its MR × NR) for a product of <paramref name="m"/> rows.</summary>
    private unsafe delegate*<in GemmArgs<T>, int, int, int, int, void> KernelFor<T>(int m, out int mr, out int nr) where T : unmanaged, IFloatingPointIeee754<T>
    {
        bool short8 = Isa == GemmIsa.Avx512 && UseShortKernel(m);
        (mr, nr) = Isa switch
        {
            GemmIsa.Avx512 when short8 => (Avx512Kernel8<T>.MR, Avx512Kernel8<T>.NR),
            GemmIsa.Avx512 => (Avx512Kernel<T>.MR, Avx512Kernel<T>.NR),
            GemmIsa.Avx2 => (Avx2Kernel<T>.MR, Avx2Kernel<T>.NR),
            _ => (ScalarKernel<T>.MR, ScalarKernel<T>.NR),
        };
        return Isa switch
        {
            GemmIsa.Avx512 when short8 => &GemmDriver<T, Avx512Kernel8<T>>.Compute,
            GemmIsa.Avx512 => &GemmDriver<T, Avx512Kernel<T>>.Compute,
            GemmIsa.Avx2 => &GemmDriver<T, Avx2Kernel<T>>.Compute,
            _ => &GemmDriver<T, ScalarKernel<T>>.Compute,
        };
    }

    private static int CeilDiv(int x, int d) => (x + d - 1) / d;

    /// <summary>Products with at most this many rows may use the 8-row AVX-512 kernel (<see cref="UseShortKernel"/>).</summary>
    public const int ShortKernelMaxM = 128;

    /// <summary>
    /// Short products (M ≤ <see cref="ShortKernelMaxM"/>, e.g. a recurrent step of 32 or 64 batch rows) use the 8-row
    /// kernel when it computes fewer padded rows than the 10-row one: both are bound by their FMAs, so the cost is the
    /// rows computed, ⌈M/8⌉·8 against ⌈M/10⌉·10 (M = 32: 32 against 40; M = 64: 64 against 70; M = 20: 24 against 20,
    /// so the 10-row kernel stays). B's packed layout depends only on NR and the depth blocks, the same for both, so
    /// pre-packed B serves either. Settable for A/B measurements (<c>UNROLL_GEMM_SHORT8=0</c> turns it off).
    /// </summary>
    public static bool ShortKernel { get; set; } = Environment.GetEnvironmentVariable("UNROLL_GEMM_SHORT8") != "0";

    internal static bool UseShortKernel(int m) =>
        ShortKernel && m <= ShortKernelMaxM && CeilDiv(m, 8) * 8 < CeilDiv(m, 10) * 10;

    private static void ScaleC<T>(Span<T> c, int m, int n, int ldc, T beta) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, n);
            if (beta == T.Zero) row.Clear();
            else if (beta != T.One) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    /// <summary>
    /// The reusable work item of one call: splits C into <c>parts</c> rectangles along its longer tiled dimension
    /// (columns in NR multiples, or rows in MR multiples), each computed over the full depth by one thread.
    /// </summary>
    private sealed unsafe class Job<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        private GemmArgs<T> _g, _h0, _h1;
        private delegate*<in GemmArgs<T>, int, int, int, int, void> _compute;
        private int _mr, _nr;
        private bool _halves;

        public void Set(in GemmArgs<T> g, delegate*<in GemmArgs<T>, int, int, int, int, void> compute, int mr, int nr)
        {
            _g = g; _compute = compute; _mr = mr; _nr = nr;
        }

        /// <summary>Until <see cref="ClearHalves"/>: part h (of 2) computes depth half h over all of its C, not a split of C.</summary>
        public void SetHalves(in GemmArgs<T> first, in GemmArgs<T> second, delegate*<in GemmArgs<T>, int, int, int, int, void> compute, int mr, int nr)
        {
            _h0 = first; _h1 = second; _compute = compute; _mr = mr; _nr = nr; _halves = true;
        }

        public void ClearHalves() => _halves = false;

        public void RunPart(int part, int parts)
        {
            if (_halves)
            {
                ref readonly var h = ref part == 0 ? ref _h0 : ref _h1;
                _compute(h, 0, h.M, 0, h.N);
                return;
            }
            int mt = CeilDiv(_g.M, _mr), nt = CeilDiv(_g.N, _nr);
            // Each thread packs its own panels, so the operand along the split is packed once and the other one
            // `parts` times: split columns (A re-packed) when A is the smaller operand, else rows (B re-packed).
            bool columns = GemmTuning.Split switch { 1 => nt >= parts, 2 => mt < parts, _ => mt < parts || (nt >= parts && _g.N >= _g.M) };
            if (columns)
            {
                int t0 = (int)((long)nt * part / parts), t1 = (int)((long)nt * (part + 1) / parts);
                _compute(_g, 0, _g.M, Math.Min(_g.N, t0 * _nr), Math.Min(_g.N, t1 * _nr));
            }
            else
            {
                int t0 = (int)((long)mt * part / parts), t1 = (int)((long)mt * (part + 1) / parts);
                _compute(_g, Math.Min(_g.M, t0 * _mr), Math.Min(_g.M, t1 * _mr), 0, _g.N);
            }
        }
    }
}
