using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Nodes;

/// <summary>
/// Softmax + cross-entropy over a sequence, mean over the N·T positions whose target is not ignored:
/// L = (1/C) Σ_{n,t: y_nt ≠ ignore} −log softmax(x_nt)[y_nt].
/// logits x, probabilities p, dlogits: (N, T, V); targets: N·T integers (row-major (N, T)) in [0, V) or ignoreIndex.
/// Backward: dx_nt = dloss/C · (p_nt − onehot(y_nt)); 0 at ignored positions.
/// </summary>
/// <remarks>
/// The (N, T, V) tensor is processed as N·T rows by the same kernels as <see cref="SoftmaxWithLoss{T}"/>
/// (<see cref="SoftmaxCrossEntropy"/>): stable for logits of ±1e4, finite loss for finite logits, no log(0), loss 0
/// when every target is ignored; NaN/+∞ in a row's logits gives NaN. Subnormals may appear in p for logits far
/// below the row maximum. No copy of the logits is made.
/// </remarks>
public sealed class TimeSoftmaxWithLoss<T> : IModule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _p, _dx;
    private int[] _t = [];
    private int _ignore = -1, _count;
    private bool _probsValid;

    public IEnumerable<Parameter<T>> Parameters => [];
    /// <summary>Softmax probabilities (N, T, V) of the last <see cref="Forward"/> (null before; stale after <see cref="ForwardBackward"/>).</summary>
    public Tensor<T>? Probabilities => _probsValid ? _p : null;
    /// <summary>Number of non-ignored targets in the last forward pass.</summary>
    public int Count => _count;

    /// <summary>Mean cross-entropy of <paramref name="logits"/> (N, T, V) against <paramref name="targets"/> (N·T, row-major (N, T)).</summary>
    public T Forward(Tensor<T> logits, ReadOnlySpan<int> targets, int ignoreIndex = -1)
    {
        int rows = Check(logits, targets, ignoreIndex), v = logits.Dim(2);
        var p = Workspace.Ensure(ref _p, logits.Shape);
        double sum = SoftmaxCrossEntropy.Forward<T>(logits.Span, rows, v, targets, ignoreIndex, p.Span, out _count);   // p = softmax(x); L = mean −log p[y]
        Remember(targets, ignoreIndex);
        _probsValid = true;
        return _count == 0 ? T.Zero : T.CreateTruncating(sum / _count);
    }

    /// <summary>dlogits (N, T, V) = dloss/C · (p − onehot(y)), 0 at ignored positions. A workspace owned by the node.</summary>
    public Tensor<T> Backward(T dloss)
    {
        if (!_probsValid) throw new InvalidOperationException("TimeSoftmaxWithLoss.Backward called before Forward (or after ForwardBackward).");
        var p = _p!;
        var dx = Workspace.Ensure(ref _dx, p.Shape);
        // inverts L = (1/C) Σ_{n,t} −log softmax(x_nt)[y_nt]
        T scale = _count == 0 ? T.Zero : dloss / T.CreateTruncating(_count);
        SoftmaxCrossEntropy.Backward<T>(p.Span, p.Dim(0) * p.Dim(1), p.Dim(2), _t, _ignore, scale, dx.Span);
        return dx;
    }

    /// <summary>Backward with dloss = 1.</summary>
    public Tensor<T> Backward() => Backward(T.One);

    /// <summary>
    /// Fused forward + backward (one pass per row, no probability buffer): returns the mean loss and writes dlogits
    /// (N, T, V) for <paramref name="dloss"/> into the node's workspace <paramref name="dlogits"/> — or, with
    /// <paramref name="inPlace"/>, over <paramref name="logits"/> itself (then <paramref name="dlogits"/> is
    /// <paramref name="logits"/>): for a caller that does not need the logits afterwards, this saves a second
    /// N·T·V buffer (28 MB for a 700 × 10000 language-model batch) and the memory traffic of writing it.
    /// Afterwards <see cref="Probabilities"/> is null and <see cref="Backward(T)"/> needs a new <see cref="Forward"/>.
    /// </summary>
    public T ForwardBackward(Tensor<T> logits, ReadOnlySpan<int> targets, T dloss, out Tensor<T> dlogits, int ignoreIndex = -1,
                             bool inPlace = false)
    {
        int rows = Check(logits, targets, ignoreIndex);
        dlogits = inPlace ? logits : Workspace.Ensure(ref _dx, logits.Shape);
        double mean = SoftmaxCrossEntropy.LossAndGradient<T>(logits.Span, rows, logits.Dim(2), targets, ignoreIndex, dloss, dlogits.Span, out _count);
        Remember(targets, ignoreIndex);
        _probsValid = false;
        return T.CreateTruncating(mean);
    }

    private static int Check(Tensor<T> logits, ReadOnlySpan<int> targets, int ignoreIndex)
    {
        NodeChecks.Rank("TimeSoftmaxWithLoss", "logits", logits, 3);
        int rows = logits.Dim(0) * logits.Dim(1);
        if (targets.Length != rows)
            throw new ArgumentException($"TimeSoftmaxWithLoss: logits have shape {logits.ShapeString} but targets have {targets.Length} elements (need N·T = {rows}).");
        SoftmaxCrossEntropy.CheckTargets("TimeSoftmaxWithLoss", targets, logits.Dim(2), ignoreIndex);
        return rows;
    }

    private void Remember(ReadOnlySpan<int> targets, int ignoreIndex)
    {
        if (_t.Length != targets.Length) _t = new int[targets.Length];
        targets.CopyTo(_t);
        _ignore = ignoreIndex;
    }
}
