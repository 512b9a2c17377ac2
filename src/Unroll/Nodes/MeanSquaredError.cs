using System.Numerics;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Nodes;

/// <summary>
/// L = (1/M) Σ_i (pred_i − target_i)², the mean over all M elements (as PyTorch's MSELoss with reduction "mean").
/// pred, target, dpred, diff: any shape (all equal). Backward: dpred = dloss · 2 (pred − target) / M.
/// </summary>
/// <remarks>
/// NaN/∞ in pred or target give a NaN/∞ loss; finite inputs give a finite loss unless the squares overflow
/// (|pred − target| ≳ 1e19 in float). M = 0 gives loss 0 (not 0/0). Subnormals may appear in dpred when
/// differences are tiny (≲ 1e-38 · M in float). The target gets no gradient.
/// </remarks>
public sealed class MeanSquaredError<T> : IModule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _diff, _dx;

    public IEnumerable<Parameter<T>> Parameters => [];
    /// <summary>pred − target of the last <see cref="Forward"/>.</summary>
    public Tensor<T>? Difference => _diff;

    /// <summary>Mean squared error of <paramref name="pred"/> against <paramref name="target"/> (same shape).</summary>
    public T Forward(Tensor<T> pred, Tensor<T> target)
    {
        NodeChecks.SameShape("MeanSquaredError", "pred", pred, "target", target);
        var d = Workspace.Ensure(ref _diff, pred.Shape);
        TP.Subtract<T>(pred.Span, target.Span, d.Span);              // d = pred − target
        if (d.Length == 0) return T.Zero;
        return TP.SumOfSquares<T>(d.Span) / T.CreateTruncating(d.Length);   // L = Σ d² / M
    }

    /// <summary>dpred = dloss · 2 d / M, a workspace owned by the node.</summary>
    public Tensor<T> Backward(T dloss)
    {
        var d = _diff ?? throw new InvalidOperationException("MeanSquaredError.Backward called before Forward.");
        var dx = Workspace.Ensure(ref _dx, d.Shape);
        // inverts L = Σ d² / M, d = pred − target
        if (d.Length == 0) return dx;
        T scale = dloss * T.CreateTruncating(2) / T.CreateTruncating(d.Length);
        TP.Multiply<T>(d.Span, scale, dx.Span);
        return dx;
    }

    /// <summary>Backward with dloss = 1.</summary>
    public Tensor<T> Backward() => Backward(T.One);
}
