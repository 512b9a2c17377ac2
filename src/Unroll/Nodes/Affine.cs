using System.Numerics;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Nodes;

/// <summary>
/// y = x · W + b. x: (N, D); W: (D, O) parameter; b: (O) parameter; y, dy: (N, O); dx: (N, D).
/// Backward: dx = dy · Wᵀ, dW += xᵀ · dy, db += Σ_rows dy (gradients added, never overwritten).
/// </summary>
/// <remarks>
/// x is cached by reference (no copy): it must not change between <see cref="Forward"/> and <see cref="Backward"/>.
/// The bias is applied by writing b into every row of y and running the GEMM with beta = 1 (one pass over y).
/// NaN/±∞ propagate as IEEE-754 says; finite inputs overflow only if the products exceed the type's range.
/// Subnormals appear only if products of inputs are themselves subnormal.
/// </remarks>
public sealed class Affine<T> : INode<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _x, _y, _dx;

    /// <summary>The weight W, shape (D, O).</summary>
    public Parameter<T> W { get; }
    /// <summary>The bias b, shape (O).</summary>
    public Parameter<T> B { get; }
    public IEnumerable<Parameter<T>> Parameters => [W, B];

    /// <param name="w">Weight of shape (D, O).</param>
    /// <param name="b">Bias of shape (O).</param>
    public Affine(Parameter<T> w, Parameter<T> b)
    {
        var wv = RowOps.RankOf("Affine", w, 2);
        var bv = RowOps.RankOf("Affine", b, 1);
        if (bv.Length != wv.Dim(1))
            throw new ArgumentException($"Affine: W has shape {wv.ShapeString} but b has shape {bv.ShapeString} (need b length == W columns).");
        W = w; B = b;
    }

    /// <summary>y (N, O) = x (N, D) · W + b. Returns a workspace owned by the node.</summary>
    public Tensor<T> Forward(Tensor<T> x)
    {
        NodeChecks.Rank("Affine", "x", x, 2);
        if (x.Dim(1) != W.Value.Dim(0))
            throw new ArgumentException($"Affine: x has shape {x.ShapeString} but W has shape {W.Value.ShapeString} (need x.D == W rows).");
        _x = x;
        var y = Workspace.Ensure(ref _y, x.Dim(0), W.Value.Dim(1));
        int n = x.Dim(0), d = x.Dim(1), o = W.Value.Dim(1);
        Gemm.RunBias(false, false, n, o, d, T.One, x.Span, d, W.Value.Span, o, B.Value.Span, y.Span, o);   // y = x · W + b
        return y;
    }

    /// <summary>dx (N, D) from dy (N, O); adds into W.Grad and B.Grad.</summary>
    public Tensor<T> Backward(Tensor<T> dy)
    {
        var x = _x ?? throw new InvalidOperationException("Affine.Backward called before Forward.");
        NodeChecks.SameShape("Affine", "dy", dy, "y", _y!);
        var dx = Workspace.Ensure(ref _dx, x.Shape);
        // inverts y = x · W + b
        Gemm.MatMul(dy, false, W.Value, true, dx, T.One, T.Zero, "Affine");    // dx = dy · Wᵀ
        Gemm.MatMul(x, true, dy, false, W.Grad, T.One, T.One, "Affine");       // dW += xᵀ · dy
        RowOps.AddColumnSums<T>(dy.Span, B.Grad.Span);                           // db += Σ_rows dy
        return dx;
    }
}
