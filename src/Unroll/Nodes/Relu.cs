using System.Numerics;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Nodes;

/// <summary>
/// y = max(x, 0), elementwise. x, y, dy, dx: any shape (all equal).
/// Backward: dx = dy where y &gt; 0, else 0 (the subgradient at x = 0 is 0, as in PyTorch).
/// </summary>
/// <remarks>
/// NaN in x gives NaN in y (and a zero gradient, since NaN &gt; 0 is false); +∞ passes through, −∞ gives 0.
/// Produces no subnormals that were not already in x.
/// </remarks>
public sealed class Relu<T> : INode<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _y, _dx;

    /// <summary>The cached output y (same shape as x), reachable for instruments.</summary>
    public Tensor<T>? Output => _y;
    public IEnumerable<Parameter<T>> Parameters => [];

    public Tensor<T> Forward(Tensor<T> x)
    {
        var y = Workspace.Ensure(ref _y, x.Shape);
        TP.Max<T>(x.Span, T.Zero, y.Span);                // y = max(x, 0)
        return y;
    }

    public Tensor<T> Backward(Tensor<T> dy)
    {
        var y = _y ?? throw new InvalidOperationException("Relu.Backward called before Forward.");
        NodeChecks.SameShape("Relu", "dy", dy, "y", y);
        var dx = Workspace.Ensure(ref _dx, y.Shape);
        // inverts y = max(x, 0): dx = dy ⊙ [y > 0]
        ReadOnlySpan<T> ys = y.Span, dys = dy.Span;
        Span<T> dxs = dx.Span;
        for (int i = 0; i < dxs.Length; i++) dxs[i] = ys[i] > T.Zero ? dys[i] : T.Zero;
        return dx;
    }
}
