using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Nodes;

/// <summary>
/// y[i] = W[ids[i]] (row lookup). ids: n integers in [0, V); W: (V, D) parameter; y, dy: (n, D).
/// Backward: dW[ids[i]] += dy[i] (scatter-add: a repeated id accumulates every one of its rows' gradients).
/// There is no gradient with respect to the ids.
/// </summary>
/// <remarks>
/// An id outside [0, V) throws <see cref="ArgumentException"/> naming the node, the position and the value.
/// Values are copied exactly, so NaN/±∞/subnormals in W reach y only if they are in W.
/// </remarks>
public sealed class Embedding<T> : IModule<T> where T : unmanaged, IFloatingPointIeee754<T>
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

    /// <param name="w">Embedding matrix of shape (V, D); may be shared with an output layer (weight tying).</param>
    public Embedding(Parameter<T> w)
    {
        RowOps.RankOf("Embedding", w, 2);
        W = w;
    }

    /// <summary>y (n, D) = the rows of W at <paramref name="ids"/>. The ids are copied (cached for backward).</summary>
    public Tensor<T> Forward(ReadOnlySpan<int> ids)
    {
        RowOps.CheckIds("Embedding", ids, VocabSize);
        if (_ids.Length != ids.Length) _ids = new int[ids.Length];
        ids.CopyTo(_ids);
        var y = Workspace.Ensure(ref _y, ids.Length, Dim);
        RowOps.Gather<T>(W.Value.Span, Dim, ids, y.Span);              // y[i] = W[ids[i]]
        return y;
    }

    /// <summary>Adds dy (n, D) into the rows of W.Grad named by the ids of the last <see cref="Forward"/>.</summary>
    public void Backward(Tensor<T> dy)
    {
        var y = _y ?? throw new InvalidOperationException("Embedding.Backward called before Forward.");
        NodeChecks.SameShape("Embedding", "dy", dy, "y", y);
        // inverts y[i] = W[ids[i]]: dW[ids[i]] += dy[i]
        RowOps.ScatterAdd<T>(dy.Span, Dim, _ids, W.Grad.Span);
    }
}
