using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Unroll.Tensors;

namespace Unroll.Kernels;

/// <summary>
/// A matrix-product backend: row-major <c>C ← alpha·op(A)·op(B) + beta·C</c> with op(X) = X or Xᵀ.
/// op(A) is m×k, op(B) is k×n, C is m×n. Leading dimensions are row strides: element (i,j) of a row-major
/// matrix X with leading dimension ldx is <c>x[i*ldx + j]</c>; when transA is set, A is stored k×m.
/// beta = 0 overwrites C (NaN/∞ already in C do not propagate), as BLAS does.
/// </summary>
public interface IGemmBackend
{
    /// <summary>Short name shown by <c>unroll info</c>, e.g. "managed-avx512".</summary>
    string Name { get; }
    void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
              ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc);
    void Gemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, int lda,
              ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc);
}

/// <summary>
/// The active GEMM backend and typed entry points. Select with <see cref="Backend"/> or the environment variable
/// <c>UNROLL_GEMM</c> (<c>managed</c>, <c>openblas</c>, <c>reference</c>).
/// </summary>
public static class Gemm
{
    private static IGemmBackend? _backend;
    private static int _threads = Environment.ProcessorCount;

    /// <summary>
    /// Threads a backend may use for one product (default: all cores; the CLI's <c>--threads</c> sets it).
    /// The managed backend runs small products on the calling thread regardless.
    /// </summary>
    public static int Threads
    {
        get => _threads;
        set
        {
            if (value < 1) throw new ArgumentException($"Gemm.Threads must be at least 1 (got {value}).");
            _threads = value;
        }
    }

    /// <summary>The backend used by every node. Defaults from <c>UNROLL_GEMM</c>.</summary>
    public static IGemmBackend Backend
    {
        get => _backend ??= GemmBackends.FromEnvironment();
        set => _backend = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Checks sizes and leading dimensions; throws <see cref="ArgumentException"/> naming the operand.</summary>
    public static void Validate(bool transA, bool transB, int m, int n, int k, int aLen, int lda, int bLen, int ldb, int cLen, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"Gemm: negative size m={m} n={n} k={k}.");
        int aRows = transA ? k : m, aCols = transA ? m : k;
        int bRows = transB ? n : k, bCols = transB ? k : n;
        Need("A", aRows, aCols, aLen, lda);
        Need("B", bRows, bCols, bLen, ldb);
        Need("C", m, n, cLen, ldc);

        static void Need(string name, int rows, int cols, int len, int ld)
        {
            if (rows == 0 || cols == 0) return;
            if (ld < cols) throw new ArgumentException($"Gemm: leading dimension of {name} is {ld} < {cols} columns.");
            long need = (long)(rows - 1) * ld + cols;
            if (len < need) throw new ArgumentException($"Gemm: {name} ({rows}×{cols}, ld {ld}) needs {need} elements, has {len}.");
        }
    }

    /// <summary>
    /// Generic entry point for float or double. <paramref name="parallel"/> = false runs the product on the calling
    /// thread only (managed backend; OpenBLAS keeps its own threading, see <see cref="Serial"/>).
    /// </summary>
    public static void Run<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda,
                              ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc, bool parallel = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var serial = parallel ? default : Serial();
        Dispatch(Backend, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    /// <summary>
    /// <c>C ← alpha·op(A)·op(B) + 1·biasᵀ</c>: the product plus <paramref name="bias"/> (n) in every row, C overwritten
    /// (an affine map's forward). On the managed backend the bias is the starting value of the accumulators of each
    /// tile's first kernel call (no separate pass over C, C never read); on other backends the bias is broadcast into
    /// C's rows and the product added with beta = 1.
    /// </summary>
    internal static void RunBias<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda,
                                    ReadOnlySpan<T> b, int ldb, ReadOnlySpan<T> bias, Span<T> c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (bias.Length != n) throw new ArgumentException($"Gemm: the bias has {bias.Length} elements, C has {n} columns.");
        var be = Backend;
        if (be is ManagedGemm managed && BiasInTiles)
        {
            managed.GemmBias(transA, transB, m, n, k, alpha, a, lda, b, ldb, bias, c, ldc);
            return;
        }
        BiasRows(bias, c, m, ldc);                                                       // C = bias in every row
        Dispatch(be, transA, transB, m, n, k, alpha, a, lda, b, ldb, T.One, c, ldc);    // C += alpha·op(A)·op(B)
    }

    /// <summary>Rows 0..m of C (row stride <paramref name="ldc"/>) ← <paramref name="bias"/> (the first bias.Length columns).</summary>
    internal static void BiasRows<T>(ReadOnlySpan<T> bias, Span<T> c, int m, int ldc)
    {
        for (int i = 0; i < m; i++) bias.CopyTo(c.Slice(i * ldc, bias.Length));
    }

    /// <summary>Whether <see cref="RunBias{T}"/> writes the bias into the managed GEMM's tiles (environment
    /// UNROLL_GEMM_BIAS_TILES=0: broadcast pass + beta = 1 product instead, for A/B runs).</summary>
    internal static bool BiasInTiles { get; set; } = Environment.GetEnvironmentVariable("UNROLL_GEMM_BIAS_TILES") != "0";

    /// <summary>Calls <paramref name="be"/>'s float or double GEMM.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Dispatch<T>(IGemmBackend be, bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda,
                                     ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            be.Gemm(transA, transB, m, n, k, Unsafe.As<T, float>(ref alpha), MemoryMarshal.Cast<T, float>(a), lda,
                    MemoryMarshal.Cast<T, float>(b), ldb, Unsafe.As<T, float>(ref beta), MemoryMarshal.Cast<T, float>(c), ldc);
        else if (typeof(T) == typeof(double))
            be.Gemm(transA, transB, m, n, k, Unsafe.As<T, double>(ref alpha), MemoryMarshal.Cast<T, double>(a), lda,
                    MemoryMarshal.Cast<T, double>(b), ldb, Unsafe.As<T, double>(ref beta), MemoryMarshal.Cast<T, double>(c), ldc);
        else throw new NotSupportedException($"Gemm: element type {typeof(T).Name} is not supported (float, double).");
    }

    /// <summary>
    /// <c>C ← alpha·op(A)·op(B) + beta·C</c> with op(B) (k×n, <c>b.K</c>×<c>b.N</c>) pre-packed by
    /// <see cref="GemmPackedB{T}.Pack(bool, int, int, ReadOnlySpan{T}, int)"/>; op(A) is m×k (A stored k×m when
    /// <paramref name="transA"/>), C is m×n. <paramref name="parallel"/> = false runs on the calling thread only, so
    /// several threads may each run a product on their own rows of A and C with one shared <paramref name="b"/>.
    /// With <c>parallel</c> = true the managed backend splits the product over <see cref="Threads"/> like <see cref="Run{T}"/>.
    /// beta = 0 overwrites C (NaN in C does not propagate).
    /// </summary>
    /// <exception cref="InvalidOperationException"><paramref name="b"/> was never packed, or was packed for a backend other
    /// than the current <see cref="Backend"/> (pack it again after changing the backend).</exception>
    /// <exception cref="ArgumentException">A or C too short for their shape and leading dimension (names the operand).</exception>
    public static void RunPacked<T>(bool transA, int m, T alpha, ReadOnlySpan<T> a, int lda, GemmPackedB<T> b, T beta,
                                    Span<T> c, int ldc, bool parallel = true) where T : unmanaged, IFloatingPointIeee754<T>
        => RunPacked(Backend, transA, m, alpha, a, lda, b, 0, b.N, beta, c, ldc, parallel);

    /// <summary>
    /// As <see cref="RunPacked{T}(bool, int, T, ReadOnlySpan{T}, int, GemmPackedB{T}, T, Span{T}, int, bool)"/> for the
    /// columns <c>[j0, j1)</c> of op(B) and C only: <c>C[:, j0..j1) ← alpha·op(A)·op(B)[:, j0..j1) + beta·C[:, j0..j1)</c>,
    /// where <paramref name="c"/>/<paramref name="ldc"/> describe the whole C (column j of row i at <c>c[i·ldc + j]</c>)
    /// and the other columns are not touched. <paramref name="j0"/> must be a multiple of
    /// <see cref="GemmPackedB{T}.ColumnAlignment"/> (<see cref="GemmPackedB{T}.ColumnRange"/> splits N that way).
    /// Splitting the columns between threads (each with <c>parallel: false</c>) instead of the rows halves the packed
    /// B each thread streams: for a small batch (M = 20) that is the faster split (see docs/benchmarks.md).
    /// </summary>
    public static void RunPacked<T>(bool transA, int m, T alpha, ReadOnlySpan<T> a, int lda, GemmPackedB<T> b, int j0, int j1, T beta,
                                    Span<T> c, int ldc, bool parallel = true) where T : unmanaged, IFloatingPointIeee754<T>
        => RunPacked(Backend, transA, m, alpha, a, lda, b, j0, j1, beta, c, ldc, parallel);

    /// <summary>
    /// As <see cref="RunPacked{T}(bool, int, T, ReadOnlySpan{T}, int, GemmPackedB{T}, T, Span{T}, int, bool)"/> on a
    /// given backend instance, which must be the one <paramref name="b"/> was packed for
    /// (<see cref="GemmPackedB{T}.Pack(IGemmBackend, bool, int, int, ReadOnlySpan{T}, int)"/>).
    /// </summary>
    public static void RunPacked<T>(IGemmBackend backend, bool transA, int m, T alpha, ReadOnlySpan<T> a, int lda, GemmPackedB<T> b, T beta,
                                    Span<T> c, int ldc, bool parallel = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(b);
        RunPacked(backend, transA, m, alpha, a, lda, b, 0, b.N, beta, c, ldc, parallel);
    }

    /// <summary>The column-range product (see the overload without a backend) on a given backend instance.</summary>
    public static void RunPacked<T>(IGemmBackend backend, bool transA, int m, T alpha, ReadOnlySpan<T> a, int lda, GemmPackedB<T> b, int j0, int j1,
                                    T beta, Span<T> c, int ldc, bool parallel = true) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(b);
        if (b.Backend is null) throw new InvalidOperationException("Gemm.RunPacked: the GemmPackedB was never packed (call Pack first).");
        if (!ReferenceEquals(b.Backend, backend))
            throw new InvalidOperationException($"Gemm.RunPacked: B was packed for the GEMM backend '{b.Backend.Name}' but the product runs on " +
                                                $"'{backend.Name}'; call GemmPackedB.Pack again after changing Gemm.Backend.");
        int n = b.N, k = b.K;
        if (j0 < 0 || j1 < j0 || j1 > n)
            throw new ArgumentException($"Gemm.RunPacked: column range [{j0}, {j1}) is not within op(B)'s {n} columns.");
        if (j0 % b.ColumnAlignment != 0)
            throw new ArgumentException($"Gemm.RunPacked: first column {j0} is not a multiple of the packed panel width {b.ColumnAlignment} (use GemmPackedB.ColumnRange).");
        // C must hold columns 0..j1 of m rows (columns below j0 are not touched but are addressed by ldc).
        Validate(transA, false, m, j1, k, a.Length, lda, k * j1, Math.Max(1, j1), c.Length, ldc);
        if (b.IsManagedLayout)
        {
            ((ManagedGemm)backend).RunPacked(transA, m, alpha, a, lda, b, j0, j1, beta, c, ldc, parallel);
            return;
        }
        if (j1 == j0 || m == 0) return;
        var bd = b.Dense.Slice(j0);
        var cd = c.Slice(j0);
        using var serial = parallel ? default : Serial();
        Dispatch(backend, transA, false, m, j1 - j0, k, alpha, a, lda, bd, Math.Max(1, n), beta, cd, ldc);
    }

    /// <summary>
    /// Until the returned scope is disposed, every product started on this thread by the managed backend (and other
    /// kernels on its worker pool) runs on this thread only: <c>using (Gemm.Serial()) { ... }</c>. Work already
    /// running as a part of a pool job is serial the same way automatically, so a GEMM nested in a parallel region
    /// never re-enters the pool. OpenBLAS's own threads are not affected.
    /// </summary>
    public static SerialScope Serial()
    {
        GemmWorkers.EnterSerial();
        return new SerialScope(true);
    }

    /// <summary>Ends a <see cref="Serial"/> scope when disposed (once); <c>default</c> is an empty scope.</summary>
    public struct SerialScope : IDisposable
    {
        private bool _active;
        internal SerialScope(bool active) => _active = active;
        public void Dispose()
        {
            if (!_active) return;
            _active = false;
            GemmWorkers.ExitSerial();
        }
    }

    /// <summary>
    /// 2-D convenience: <c>c ← alpha·op(a)·op(b) + beta·c</c> on whole tensors viewed as matrices
    /// (all leading dimensions but the last are flattened into rows).
    /// </summary>
    public static void MatMul<T>(Tensor<T> a, bool transA, Tensor<T> b, bool transB, Tensor<T> c, T alpha, T beta, string who = "MatMul")
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int aCols = a.Dim(-1), aRows = a.Length / Math.Max(aCols, 1);
        int bCols = b.Dim(-1), bRows = b.Length / Math.Max(bCols, 1);
        int cCols = c.Dim(-1), cRows = c.Length / Math.Max(cCols, 1);
        int m = transA ? aCols : aRows, k = transA ? aRows : aCols;
        int kb = transB ? bCols : bRows, n = transB ? bRows : bCols;
        if (k != kb || cRows != m || cCols != n)
            throw new ArgumentException($"{who}: shapes {a.ShapeString}{(transA ? "ᵀ" : "")} · {b.ShapeString}{(transB ? "ᵀ" : "")} → {c.ShapeString} do not match.");
        Run(transA, transB, m, n, k, alpha, a.Span, aCols, b.Span, bCols, beta, c.Span, cCols);
    }
}

/// <summary>
/// The plain triple loop, accumulated in double. Slow and obviously correct: every fast backend is tested against it.
/// </summary>
public sealed class ReferenceGemm : IGemmBackend
{
    public static readonly ReferenceGemm Instance = new();
    public string Name => "reference";

    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
                     ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        Kernels.Gemm.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                ref float cij = ref c[i * ldc + j];
                cij = beta == 0f ? (float)(alpha * s) : (float)(alpha * s + (double)beta * cij);
            }
    }

    public void Gemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, int lda,
                     ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
    {
        Kernels.Gemm.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                ref double cij = ref c[i * ldc + j];
                cij = beta == 0 ? alpha * s : alpha * s + beta * cij;
            }
    }
}

/// <summary>Backend registry.</summary>
public static class GemmBackends
{
    /// <summary>Names accepted by <see cref="ByName"/>.</summary>
    public static readonly string[] Names = ["managed", "openblas", "reference"];

    /// <summary>Resolves <c>UNROLL_GEMM</c> (default: the managed SIMD backend).</summary>
    public static IGemmBackend FromEnvironment()
    {
        var name = Environment.GetEnvironmentVariable("UNROLL_GEMM");
        return ByName(string.IsNullOrWhiteSpace(name) ? "default" : name);
    }

    /// <summary>
    /// Backend by name: "managed" (default; also "managed-avx512", "managed-avx2", "managed-scalar" to force an
    /// instruction set), "openblas" (needs libopenblas at run time), "reference" (naive, for testing).
    /// </summary>
    /// <exception cref="ArgumentException">Unknown name, or the backend is not available on this machine.</exception>
    public static IGemmBackend ByName(string name) => name.Trim().ToLowerInvariant() switch
    {
        "managed" or "default" => ManagedGemm.Instance,
        "managed-avx512" => Managed(GemmIsa.Avx512),
        "managed-avx2" => Managed(GemmIsa.Avx2),
        "managed-scalar" => Managed(GemmIsa.Scalar),
        "openblas" => OpenBlasGemm.Load(),
        "reference" => ReferenceGemm.Instance,
        _ => throw new ArgumentException($"unknown GEMM backend '{name}' (expected: {string.Join(", ", Names)})"),
    };

    private static ManagedGemm Managed(GemmIsa isa)
    {
        try { return isa == ManagedGemm.Instance.Isa ? ManagedGemm.Instance : new ManagedGemm(isa); }
        catch (NotSupportedException e) { throw new ArgumentException(e.Message, e); }
    }
}
