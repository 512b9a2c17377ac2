using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Nodes;

/// <summary>
/// Embedding lookup for a batch of sequences: ys[n, t] = W[ids[n, t]].
/// ids: N·T integers (row-major (N, T)) in [0, V); W: (V, D) parameter; ys, dys: (N, T, D).
/// Backward: dW[ids[n, t]] += dys[n, t] (scatter-add; repeated ids accumulate). No gradient for the ids.
/// </summary>
/// <remarks>
/// Sharing W with a <see cref="TimeAffine{T}"/> built with <c>transposeW: true</c> ties input and output
/// embeddings: both add their gradients into the same <see cref="Parameter{T}.Grad"/>.
/// An id outside [0, V) throws <see cref="ArgumentException"/>. Values are copied exactly (NaN/∞/subnormals only if in W).
/// </remarks>
public sealed class TimeEmbedding<T> : IModule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _y;
    private int[] _ids = [];

    /// <summary>The embedding matrix W, shape (V, D).</summary>
    public Parameter<T> W { get; }
    public IEnumerable<Parameter<T>> Parameters => [W];
    /// <summary>Vocabulary size V.</summary>
    public int VocabSize => W.Value.Dim(0);
    /// <summary>Embedding width D.</summary>
    public int Dim => W.Value.Dim(1);

    /// <param name="w">Embedding matrix (V, D); may be shared (weight tying).</param>
    public TimeEmbedding(Parameter<T> w)
    {
        RowOps.RankOf("TimeEmbedding", w, 2);
        W = w;
    }

    /// <summary>ys (N, T, D) from ids (N·T, row-major (N, T)). The ids are copied for backward.</summary>
    public Tensor<T> Forward(ReadOnlySpan<int> ids, int n, int t)
    {
        if (n < 0 || t < 0 || ids.Length != n * t)
            throw new ArgumentException($"TimeEmbedding: ids have shape ({ids.Length}) but (N, T) = ({n}, {t}).");
        RowOps.CheckIds("TimeEmbedding", ids, VocabSize);
        if (_ids.Length != ids.Length) _ids = new int[ids.Length];
        ids.CopyTo(_ids);
        var y = Workspace.Ensure(ref _y, n, t, Dim);
        RowOps.Gather<T>(W.Value.Span, Dim, ids, y.Span);              // ys[n, t] = W[ids[n, t]]
        return y;
    }

    /// <summary>Adds dys (N, T, D) into the rows of W.Grad named by the ids of the last <see cref="Forward"/>.</summary>
    public void Backward(Tensor<T> dys)
    {
        var y = _y ?? throw new InvalidOperationException("TimeEmbedding.Backward called before Forward.");
        NodeChecks.SameShape("TimeEmbedding", "dys", dys, "ys", y);
        // inverts ys[n, t] = W[ids[n, t]]: dW[ids[n, t]] += dys[n, t]
        RowOps.ScatterAdd<T>(dys.Span, Dim, _ids, W.Grad.Span);
    }
}
