using System.Numerics;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Nodes;

/// <summary>
/// y = tanh(x), elementwise. x, y, dy, dx: any shape (all equal).
/// Backward: dx = dy ⊙ (1 − y²) — the factor that is never above 1 and ≈ 0 where units saturate.
/// NaN in x gives NaN in y; ±∞ gives ±1 (and a zero gradient).
/// </summary>
public sealed class Tanh<T> : INode<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _y, _dx;

    /// <summary>The cached output y (same shape as x), reachable for instruments.</summary>
    public Tensor<T>? Output => _y;
    public IEnumerable<Parameter<T>> Parameters => [];

    public Tensor<T> Forward(Tensor<T> x)
    {
        var y = Workspace.Ensure(ref _y, x.Shape);
        TP.Tanh<T>(x.Span, y.Span);                       // y = tanh(x)
        return y;
    }

    public Tensor<T> Backward(Tensor<T> dy)
    {
        var y = _y ?? throw new InvalidOperationException("Tanh.Backward called before Forward.");
        NodeChecks.SameShape("Tanh", "dy", dy, "y", y);
        var dx = Workspace.Ensure(ref _dx, y.Shape);
        // inverts y = tanh(x): dx = dy ⊙ (1 − y²)
        TP.Multiply<T>(y.Span, y.Span, dx.Span);          // y²
        TP.Subtract<T>(T.One, dx.Span, dx.Span);          // 1 − y²
        TP.Multiply<T>(dx.Span, dy.Span, dx.Span);        // dy ⊙ (1 − y²)
        return dx;
    }
}

/// <summary>Shape checks shared by all nodes: they throw <see cref="ArgumentException"/> naming node and shapes.</summary>
public static class NodeChecks
{
    public static void SameShape<T>(string node, string nameA, Tensor<T> a, string nameB, Tensor<T> b) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!a.SameShape(b))
            throw new ArgumentException($"{node}: {nameA} has shape {a.ShapeString} but {nameB} has shape {b.ShapeString}.");
    }

    public static void Rank<T>(string node, string name, Tensor<T> a, int rank) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (a.Rank != rank)
            throw new ArgumentException($"{node}: {name} must have rank {rank}, got shape {a.ShapeString}.");
    }
}
