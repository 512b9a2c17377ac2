using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Nodes;

/// <summary>
/// y = x + b, with b broadcast over rows (the textbook's Repeat node). x, y, dy, dx: (N, H) — or any rank whose last
/// dimension is H, e.g. (N, T, H); b: (H) parameter.
/// Backward: dx = dy, db += Σ_rows dy (the column sum; added, never overwritten).
/// </summary>
/// <remarks>NaN/±∞ propagate elementwise (∞ + −∞ = NaN). Finite inputs stay finite unless the sum overflows.</remarks>
public sealed class AddBias<T> : INode<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _y, _dx;

    /// <summary>The bias b, shape (H).</summary>
    public Parameter<T> B { get; }
    public IEnumerable<Parameter<T>> Parameters => [B];

    /// <param name="b">Bias of shape (H).</param>
    public AddBias(Parameter<T> b)
    {
        RowOps.RankOf("AddBias", b, 1);
        B = b;
    }

    /// <summary>y = x + b (row broadcast). x: (..., H). Returns a workspace owned by the node.</summary>
    public Tensor<T> Forward(Tensor<T> x)
    {
        if (x.Rank < 1 || x.Dim(-1) != B.Value.Length)
            throw new ArgumentException($"AddBias: x has shape {x.ShapeString} but b has shape {B.Value.ShapeString} (need last dimension == H).");
        var y = Workspace.Ensure(ref _y, x.Shape);
        x.Span.CopyTo(y.Span);
        RowOps.AddToRows<T>(B.Value.Span, y.Span);                     // y = x + b
        return y;
    }

    /// <summary>dx = dy (a copy in a node-owned workspace); adds the column sums of dy into b.Grad.</summary>
    public Tensor<T> Backward(Tensor<T> dy)
    {
        var y = _y ?? throw new InvalidOperationException("AddBias.Backward called before Forward.");
        NodeChecks.SameShape("AddBias", "dy", dy, "y", y);
        var dx = Workspace.Ensure(ref _dx, y.Shape);
        // inverts y = x + b (b repeated over rows): dx = dy, db += Σ_rows dy
        dy.Span.CopyTo(dx.Span);
        RowOps.AddColumnSums<T>(dy.Span, B.Grad.Span);
        return dx;
    }
}
