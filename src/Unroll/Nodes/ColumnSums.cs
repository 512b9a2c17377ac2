using System.Numerics;
using Unroll.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Nodes;

/// <summary>
/// acc (cols) += Σ_rows dy (rows × cols): the bias gradient of an affine map over many rows (an LM output layer:
/// 700 × 10000). Split into blocks of <see cref="BlockColumns"/> columns that run on the GEMM worker pool when large;
/// each block adds the rows in order, so every column's sum is formed exactly as by the plain row-by-row loop
/// (<see cref="Reference"/>), whatever the number of threads: bit for bit the same result.
/// NaN/∞ in dy propagate into acc as in ordinary addition.
/// </summary>
internal sealed unsafe class ColumnSums<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Columns per block: the block of acc (4 KiB for float) stays in L1 while the rows stream through.</summary>
    internal const int BlockColumns = 1024;
    /// <summary>Below this many elements of dy the sum runs on the calling thread.</summary>
    internal const int ParallelMinElements = 1 << 18;

    [ThreadStatic] private static ColumnSums<T>? t_work;
    private T* _dy, _acc;
    private int _rows, _cols;

    /// <summary>acc (cols) += Σ_rows dy (rows × cols), dy row-major with dy.Length = rows·acc.Length.</summary>
    public static void Add(ReadOnlySpan<T> dy, Span<T> acc)
    {
        int cols = acc.Length;
        if (cols == 0) return;
        if (dy.Length % cols != 0)
            throw new ArgumentException($"ColumnSums: dy has {dy.Length} elements, not a multiple of acc's {cols} columns.");
        int rows = dy.Length / cols;
        int blocks = (cols + BlockColumns - 1) / BlockColumns;
        fixed (T* pd = dy) fixed (T* pa = acc)
        {
            if (blocks > 1 && (long)rows * cols >= ParallelMinElements && Gemm.Threads > 1)
            {
                var w = t_work ??= new ColumnSums<T>();
                w._dy = pd; w._acc = pa; w._rows = rows; w._cols = cols;
                try
                {
                    if (GemmWorkers.Shared.TryRun(w, blocks, helpers: Gemm.Threads - 1)) return;
                }
                finally { w._dy = null; w._acc = null; }
            }
            SumColumns(pd, pa, rows, cols, 0, cols);
        }
    }

    /// <summary>Block <paramref name="part"/> of the current sum (called by the pool).</summary>
    public void RunPart(int part, int parts)
    {
        int c0 = part * BlockColumns, c1 = Math.Min(_cols, c0 + BlockColumns);
        SumColumns(_dy, _acc, _rows, _cols, c0, c1);
    }

    /// <summary>acc[c0..c1) += Σ_rows dy[:, c0..c1), rows in order.</summary>
    private static void SumColumns(T* dy, T* acc, int rows, int cols, int c0, int c1)
    {
        var a = new Span<T>(acc + c0, c1 - c0);
        for (int r = 0; r < rows; r++) TP.Add<T>(a, new ReadOnlySpan<T>(dy + (nint)r * cols + c0, c1 - c0), a);
    }

    /// <summary>The plain form (the oracle of the tests): acc += each row of dy in turn.</summary>
    internal static void Reference(ReadOnlySpan<T> dy, Span<T> acc)
    {
        int cols = acc.Length;
        if (cols == 0) return;
        for (int off = 0; off < dy.Length; off += cols) TP.Add<T>(acc, dy.Slice(off, cols), acc);
    }
}
