using System.Numerics;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Nodes;

/// <summary>
/// Row-wise helpers shared by the bias, affine and embedding nodes. All work on flat row-major spans
/// (no allocation): a matrix of <c>rows × cols</c> is <c>span[r * cols + c]</c>.
/// </summary>
internal static class RowOps
{
    /// <summary>Every row of <paramref name="y"/> (rows × b.Length) ← row + <paramref name="b"/>.</summary>
    public static void AddToRows<T>(ReadOnlySpan<T> b, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int cols = b.Length;
        if (cols == 0) return;
        for (int off = 0; off < y.Length; off += cols) { var row = y.Slice(off, cols); TP.Add<T>(row, b, row); }
    }

    /// <summary>
    /// <paramref name="y"/> (rows × o) = [x | 1]·[w ; b]: an affine map with its bias folded into ONE GEMM of depth d+1
    /// and beta = 0, so y is written once instead of b being broadcast into every row and then read and rewritten by a
    /// beta = 1 GEMM — what pays for a narrow d. x is rows × d, w is d × o, b is o. The augmented copies are kept in
    /// <paramref name="xAug"/> ((rows, d+1): the backward's [dW ; db] = [x | 1]ᵀ·dy reuses it) and
    /// <paramref name="wAug"/> ((d+1, o)), reallocated only when the sizes change.
    /// </summary>
    public static void AffineFoldedBias<T>(ReadOnlySpan<T> x, int rows, int d, ReadOnlySpan<T> w, ReadOnlySpan<T> b, int o,
                                          Span<T> y, ref Tensor<T>? xAug, ref Tensor<T>? wAug) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var xa = AppendOnesColumn(x, rows, d, ref xAug);
        var wa = Workspace.Ensure(ref wAug, d + 1, o).Span;
        w[..(d * o)].CopyTo(wa);
        b[..o].CopyTo(wa[(d * o)..]);
        Kernels.Gemm.Run(false, false, rows, o, d + 1, T.One, xa, d + 1, wa, o, T.Zero, y, o);
    }

    /// <summary><paramref name="xAug"/> (rows, d+1) ← [x | 1] for x (rows × d); reallocated only when the size changes.</summary>
    public static Span<T> AppendOnesColumn<T>(ReadOnlySpan<T> x, int rows, int d, ref Tensor<T>? xAug) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var xa = Workspace.Ensure(ref xAug, rows, d + 1).Span;
        for (int r = 0; r < rows; r++)
        {
            x.Slice(r * d, d).CopyTo(xa.Slice(r * (d + 1), d));
            xa[r * (d + 1) + d] = T.One;
        }
        return xa;
    }

    /// <summary><paramref name="acc"/> (cols) += the column sums of <paramref name="dy"/> (rows × cols); large inputs in
    /// column blocks on the worker pool, bit for bit the row-by-row sum (see <see cref="ColumnSums{T}"/>).</summary>
    public static void AddColumnSums<T>(ReadOnlySpan<T> dy, Span<T> acc) where T : unmanaged, IFloatingPointIeee754<T> =>
        ColumnSums<T>.Add(dy, acc);

    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="node"/> if an id is outside [0, vocab).</summary>
    public static void CheckIds(string node, ReadOnlySpan<int> ids, int vocab)
    {
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)vocab)
                throw new ArgumentException($"{node}: id {ids[i]} at position {i} is outside the vocabulary [0, {vocab}).");
    }

    /// <summary>Row i of <paramref name="y"/> (n × d) ← row ids[i] of <paramref name="w"/> (V × d). Ids must be valid.</summary>
    public static void Gather<T>(ReadOnlySpan<T> w, int d, ReadOnlySpan<int> ids, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < ids.Length; i++) w.Slice(ids[i] * d, d).CopyTo(y.Slice(i * d, d));
    }

    /// <summary>Row ids[i] of <paramref name="dw"/> (V × d) += row i of <paramref name="dy"/> (n × d); repeated ids accumulate.</summary>
    public static void ScatterAdd<T>(ReadOnlySpan<T> dy, int d, ReadOnlySpan<int> ids, Span<T> dw) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < ids.Length; i++)
        {
            var dst = dw.Slice(ids[i] * d, d);
            TP.Add<T>(dst, dy.Slice(i * d, d), dst);
        }
    }

    /// <summary>The parameter's value, checked to have rank <paramref name="rank"/>.</summary>
    public static Tensor<T> RankOf<T>(string node, Parameter<T> p, int rank) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.Value.Rank != rank)
            throw new ArgumentException($"{node}: parameter {p.Name} must have rank {rank}, got shape {p.Value.ShapeString}.");
        return p.Value;
    }
}
