using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Unroll.Kernels;

/// <summary>
/// op(B) (k×n) packed once for repeated products <c>C ← alpha·op(A)·op(B) + beta·C</c> with different A
/// (<see cref="Gemm.RunPacked{T}(bool, int, T, ReadOnlySpan{T}, int, GemmPackedB{T}, T, Span{T}, int, bool)"/>):
/// a recurrent layer multiplies by the same W_h (or W_hᵀ) at every time step, and re-packing it each step costs
/// as much as a good part of the product itself.
/// </summary>
/// <remarks>
/// <para>Layout depends on the backend it was packed for (<see cref="Backend"/>):
/// for <see cref="ManagedGemm"/> it is the driver's micro-panel layout over the whole of op(B) — depth blocks of
/// <c>kcStep</c> rows (the same equal split of k the unpacked product uses), each block a row of NR-column
/// micro-panels (NR = the instruction set's kernel width), zero-padded to n rounded up to NR — so the product skips
/// packing B altogether. For any other backend (OpenBLAS, reference) it is a dense row-major k×n copy of op(B) that
/// <see cref="Gemm.RunPacked{T}(bool, int, T, ReadOnlySpan{T}, int, GemmPackedB{T}, T, Span{T}, int, bool)"/>
/// hands to that backend's ordinary GEMM (no saving there beyond the transposition, but the same code works).</para>
/// <para>Thread safety: after <see cref="Pack(bool, int, int, ReadOnlySpan{T}, int)"/> returns, any number of threads
/// may run products with it at the same time (its data is only read; a counter that alternates the order in which a
/// small product visits the panels is updated atomically and does not change any result). <c>Pack</c> itself must not
/// run while a product reads the object. The packed copy does not follow later changes of B: call <c>Pack</c> again
/// after an update.</para>
/// <para>No allocation once warm: the buffer (pinned, 64-byte aligned) is reused whenever the new packing fits.</para>
/// </remarks>
public sealed unsafe class GemmPackedB<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[]? _buf;
    private T* _data;
    private int _nr = 1;

    public GemmPackedB() { }

    /// <summary>Rows of op(B) (the depth of the product); 0 before the first <c>Pack</c>.</summary>
    public int K { get; private set; }
    /// <summary>Columns of op(B) (and of C); 0 before the first <c>Pack</c>.</summary>
    public int N { get; private set; }
    /// <summary>The backend the data was packed for (null before the first <c>Pack</c>).</summary>
    public IGemmBackend? Backend { get; private set; }

    /// <summary>
    /// A column-range product (<see cref="Gemm.RunPacked{T}(bool, int, T, ReadOnlySpan{T}, int, GemmPackedB{T}, int, int, T, Span{T}, int, bool)"/>)
    /// must start at a multiple of this: the kernel's panel width NR for the managed layout, 1 for the dense copy.
    /// </summary>
    public int ColumnAlignment => IsManagedLayout ? _nr : 1;

    /// <summary>
    /// Columns <c>[J0, J1)</c> of part <paramref name="part"/> when op(B)'s N columns are split into
    /// <paramref name="parts"/> nearly equal ranges whose starts are multiples of <see cref="ColumnAlignment"/>
    /// (a range may be empty when N is small).
    /// </summary>
    public (int J0, int J1) ColumnRange(int part, int parts)
    {
        if (parts < 1 || part < 0 || part >= parts) throw new ArgumentOutOfRangeException(nameof(part), $"GemmPackedB.ColumnRange: part {part} of {parts}.");
        int al = ColumnAlignment, tiles = (N + al - 1) / al;
        int t0 = (int)((long)tiles * part / parts), t1 = (int)((long)tiles * (part + 1) / parts);
        return (Math.Min(N, t0 * al), Math.Min(N, t1 * al));
    }

    /// <summary>Managed layout: depth of a block (the last may be shorter).</summary>
    internal int KcStep { get; private set; }
    /// <summary>Managed layout: n rounded up to the kernel's NR (row length of one depth block).</summary>
    internal int NPad { get; private set; }
    /// <summary>True when the data is in <see cref="ManagedGemm"/>'s micro-panel layout, false for the dense copy.</summary>
    internal bool IsManagedLayout { get; private set; }
    internal T* Data => _data;

    private int _sweeps;
    /// <summary>
    /// Alternates, product after product, the direction in which a small-M product visits the column panels
    /// (<see cref="GemmArgs{T}.ReversePanels"/>): the end of W_h read by one step is still in L2 for the next.
    /// </summary>
    internal bool NextSweepReversed() => (Interlocked.Increment(ref _sweeps) & 1) == 0;

    /// <summary>
    /// (Re)packs op(B) for the current <see cref="Gemm.Backend"/>: <paramref name="transB"/> = false → B is k×n with
    /// row stride <paramref name="ldb"/>; true → B is n×k (op(B) = Bᵀ). Reuses its buffer when the size fits.
    /// </summary>
    /// <exception cref="ArgumentException">Negative size, or B too short for its shape and leading dimension (names B).</exception>
    public void Pack(bool transB, int k, int n, ReadOnlySpan<T> b, int ldb) => Pack(Gemm.Backend, transB, k, n, b, ldb);

    /// <summary>As <see cref="Pack(bool, int, int, ReadOnlySpan{T}, int)"/> for a given backend (tests use this so as not to
    /// change the global <see cref="Gemm.Backend"/>); use the products' <c>backend</c> overload with the same instance.</summary>
    public void Pack(IGemmBackend backend, bool transB, int k, int n, ReadOnlySpan<T> b, int ldb)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
            throw new NotSupportedException($"GemmPackedB: element type {typeof(T).Name} is not supported (float, double).");
        Gemm.Validate(false, transB, 0, n, k, 0, 1, b.Length, ldb, 0, 1);
        fixed (T* pb = b)
        {
            if (backend is ManagedGemm mg)
            {
                var (nr, kcStep) = mg.PackedLayout<T>(k);
                int nPad = (n + nr - 1) / nr * nr;
                Ensure((long)nPad * k);
                KcStep = kcStep; NPad = nPad; IsManagedLayout = true; _nr = nr; K = k; N = n;
                if (k > 0 && n > 0) PackManaged(mg, transB, pb, ldb);
            }
            else
            {
                Ensure((long)k * n);
                for (int p = 0; p < k; p++)
                {
                    T* d = _data + (nint)p * n;
                    if (!transB) new ReadOnlySpan<T>(pb + (nint)p * ldb, n).CopyTo(new Span<T>(d, n));
                    else for (int j = 0; j < n; j++) d[j] = pb[(nint)j * ldb + p];
                }
                KcStep = k; NPad = n; IsManagedLayout = false; _nr = 1;
            }
        }
        K = k; N = n; Backend = backend;
    }

    /// <summary>Below this many elements op(B) is packed on the calling thread.</summary>
    internal const long ParallelPackMinElements = 1 << 18;

    // The current managed packing's source, for the pool's parts (set only during PackManaged).
    private ManagedGemm? _packBackend;
    private T* _packSrc;
    private int _packLdb;
    private bool _packTransB;

    /// <summary>
    /// Managed layout: packs in column ranges (NR-aligned, <see cref="ColumnRange"/>) on the worker pool when op(B) is
    /// large (W_h of H = 650: 1.7 M elements, ≈ 2 ms on one thread, once per Forward and per Backward); each range
    /// writes its own part of the buffer, so the result does not depend on how many threads ran.
    /// </summary>
    private void PackManaged(ManagedGemm mg, bool transB, T* pb, int ldb)
    {
        int tiles = (N + _nr - 1) / _nr;
        int parts = Math.Min(tiles, 4 * Gemm.Threads);
        if (parts > 1 && Gemm.Threads > 1 && (long)K * N >= ParallelPackMinElements)
        {
            _packBackend = mg; _packSrc = pb; _packLdb = ldb; _packTransB = transB;
            try
            {
                if (GemmWorkers.Shared.TryRun(this, parts, helpers: Gemm.Threads - 1)) return;
            }
            finally { _packBackend = null; _packSrc = null; }
        }
        mg.PackWhole(transB, K, N, pb, ldb, KcStep, _data, 0, N);
    }

    /// <summary>Column range <paramref name="part"/> of <paramref name="parts"/> of the current managed packing (pool part).</summary>
    void IPartitionedWork.RunPart(int part, int parts)
    {
        var (j0, j1) = ColumnRange(part, parts);
        if (j0 < j1) _packBackend!.PackWhole(_packTransB, K, N, _packSrc, _packLdb, KcStep, _data, j0, j1);
    }

    /// <summary>The dense k×n copy (row stride <see cref="N"/>) of the non-managed layout.</summary>
    internal ReadOnlySpan<T> Dense => new(_data, K * N);

    private void Ensure(long len)
    {
        if (len > Array.MaxLength - 64) throw new ArgumentException($"GemmPackedB: op(B) of {len} packed elements is too large.");
        if (_buf is not null && _buf.Length >= len + 16) return;
        _buf = GC.AllocateUninitializedArray<T>((int)len + 16, pinned: true);   // 16 spare: aligning to 64 bytes skips ≤ 15 elements
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_buf));
        _data = (T*)((p + 63) & ~(nint)63);
    }
}
