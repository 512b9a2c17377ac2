using System.Numerics;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Nodes;

/// <summary>
/// y = x · W. x: (N, D); W: (D, H) parameter; y, dy: (N, H); dx: (N, D).
/// Backward: dx = dy · Wᵀ, and dW += xᵀ · dy (added, never overwritten).
/// </summary>
/// <remarks>
/// x is cached by reference (no copy): it must not change between <see cref="Forward"/> and <see cref="Backward"/>.
/// NaN/±∞ in x or W propagate through the product as IEEE-754 says (a NaN spreads to its whole output row and column
/// of dW); finite inputs can only overflow to ±∞ if the products exceed the type's range. Subnormals appear in y only if
/// the inputs' products are subnormal (|x·w| below ~1e-38 in float).
/// </remarks>
public sealed class MatMul<T> : INode<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _x, _y, _dx;

    /// <summary>The weight W, shape (D, H).</summary>
    public Parameter<T> W { get; }
    public IEnumerable<Parameter<T>> Parameters => [W];

    /// <param name="w">Weight of shape (D, H); its <c>Grad</c> accumulates xᵀ·dy.</param>
    public MatMul(Parameter<T> w)
    {
        RowOps.RankOf("MatMul", w, 2);
        W = w;
    }

    /// <summary>y (N, H) = x (N, D) · W (D, H). Returns a workspace owned by the node.</summary>
    public Tensor<T> Forward(Tensor<T> x)
    {
        NodeChecks.Rank("MatMul", "x", x, 2);
        if (x.Dim(1) != W.Value.Dim(0))
            throw new ArgumentException($"MatMul: x has shape {x.ShapeString} but W has shape {W.Value.ShapeString} (need x.D == W rows).");
        _x = x;
        var y = Workspace.Ensure(ref _y, x.Dim(0), W.Value.Dim(1));
        Gemm.MatMul(x, false, W.Value, false, y, T.One, T.Zero, "MatMul");   // y = x · W
        return y;
    }

    /// <summary>dx (N, D) from dy (N, H); adds xᵀ·dy into W.Grad.</summary>
    public Tensor<T> Backward(Tensor<T> dy)
    {
        var x = _x ?? throw new InvalidOperationException("MatMul.Backward called before Forward.");
        NodeChecks.SameShape("MatMul", "dy", dy, "y", _y!);
        var dx = Workspace.Ensure(ref _dx, x.Shape);
        // inverts y = x · W
        Gemm.MatMul(dy, false, W.Value, true, dx, T.One, T.Zero, "MatMul");   // dx = dy · Wᵀ
        Gemm.MatMul(x, true, dy, false, W.Grad, T.One, T.One, "MatMul");      // dW += xᵀ · dy
        return dx;
    }
}
