using System.Numerics;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Nodes;

/// <summary>
/// y = σ(x) = 1 / (1 + e^(−x)), elementwise. x, y, dy, dx: any shape (all equal).
/// Backward: dx = dy ⊙ y ⊙ (1 − y) — at most dy/4, and ≈ 0 where units saturate.
/// </summary>
/// <remarks>
/// Never turns finite x into NaN: for large |x| the exponential overflows to +∞ and y becomes exactly 0 (or rounds to
/// exactly 1), giving a zero gradient. ±∞ gives 0 or 1; NaN gives NaN. Subnormals: y is subnormal for
/// x ≲ −88 (float) / −709 (double), and y·(1−y) in backward likewise — harmless but possibly slow on some CPUs.
/// </remarks>
public sealed class Sigmoid<T> : INode<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _y, _dx;

    /// <summary>The cached output y (same shape as x), reachable for instruments.</summary>
    public Tensor<T>? Output => _y;
    public IEnumerable<Parameter<T>> Parameters => [];

    public Tensor<T> Forward(Tensor<T> x)
    {
        var y = Workspace.Ensure(ref _y, x.Shape);
        TP.Sigmoid<T>(x.Span, y.Span);                    // y = σ(x)
        return y;
    }

    public Tensor<T> Backward(Tensor<T> dy)
    {
        var y = _y ?? throw new InvalidOperationException("Sigmoid.Backward called before Forward.");
        NodeChecks.SameShape("Sigmoid", "dy", dy, "y", y);
        var dx = Workspace.Ensure(ref _dx, y.Shape);
        // inverts y = σ(x): dx = dy ⊙ y ⊙ (1 − y)
        TP.Subtract<T>(T.One, y.Span, dx.Span);          // 1 − y
        TP.Multiply<T>(dx.Span, y.Span, dx.Span);         // y (1 − y)
        TP.Multiply<T>(dx.Span, dy.Span, dx.Span);        // dy ⊙ y (1 − y)
        return dx;
    }
}
