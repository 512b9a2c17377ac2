using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Nodes;

/// <summary>
/// Softmax + cross-entropy, mean over the non-ignored rows:
/// L = (1/C) Σ_{i: t_i ≠ ignore} −log softmax(x_i)[t_i], C = number of non-ignored targets.
/// logits x, probabilities p, dlogits: (N, V); targets: N integers in [0, V) or equal to ignoreIndex (default −1).
/// Backward: dx_i = dloss/C · (p_i − onehot(t_i)); rows with an ignored target get 0.
/// </summary>
/// <remarks>
/// Numerically stable (max-shifted log-sum-exp, no log(0)): finite logits always give a finite loss, also for ±1e4.
/// When every target is ignored, C = 0 and the loss is 0 with a zero gradient (not 0/0). NaN or +∞ in a row's
/// logits gives NaN. Subnormals can appear in p for logits far below the row maximum (see
/// <see cref="SoftmaxCrossEntropy"/>). The logits are never copied: <see cref="Forward"/> writes the exponentials
/// directly into the probability workspace that <see cref="Backward(T)"/> needs; <see cref="ForwardBackward"/> is
/// the fully fused path (loss and gradient in one pass, no probability buffer).
/// </remarks>
public sealed class SoftmaxWithLoss<T> : IModule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _p, _dx;
    private int[] _t = [];
    private int _ignore = -1, _count;
    private bool _probsValid;

    public IEnumerable<Parameter<T>> Parameters => [];
    /// <summary>Softmax probabilities (N, V) of the last <see cref="Forward"/> (null before; stale after <see cref="ForwardBackward"/>).</summary>
    public Tensor<T>? Probabilities => _probsValid ? _p : null;
    /// <summary>Number of non-ignored targets in the last forward pass (the mean's denominator).</summary>
    public int Count => _count;

    /// <summary>Mean cross-entropy of <paramref name="logits"/> (N, V) against <paramref name="targets"/> (N).</summary>
    public T Forward(Tensor<T> logits, ReadOnlySpan<int> targets, int ignoreIndex = -1)
    {
        var (n, v) = Check(logits, targets, ignoreIndex);
        var p = Workspace.Ensure(ref _p, n, v);
        double sum = SoftmaxCrossEntropy.Forward<T>(logits.Span, n, v, targets, ignoreIndex, p.Span, out _count);   // p = softmax(x); L = mean −log p[t]
        Remember(targets, ignoreIndex);
        _probsValid = true;
        return _count == 0 ? T.Zero : T.CreateTruncating(sum / _count);
    }

    /// <summary>dlogits (N, V) = dloss/C · (p − onehot(t)), 0 on ignored rows. A workspace owned by the node.</summary>
    public Tensor<T> Backward(T dloss)
    {
        if (!_probsValid) throw new InvalidOperationException("SoftmaxWithLoss.Backward called before Forward (or after ForwardBackward).");
        var p = _p!;
        var dx = Workspace.Ensure(ref _dx, p.Shape);
        // inverts L = (1/C) Σ −log softmax(x_i)[t_i]
        T scale = _count == 0 ? T.Zero : dloss / T.CreateTruncating(_count);
        SoftmaxCrossEntropy.Backward<T>(p.Span, p.Dim(0), p.Dim(1), _t, _ignore, scale, dx.Span);
        return dx;
    }

    /// <summary>Backward with dloss = 1.</summary>
    public Tensor<T> Backward() => Backward(T.One);

    /// <summary>
    /// Fused forward + backward: returns the mean loss and writes dlogits for <paramref name="dloss"/> into
    /// <paramref name="dlogits"/> (N, V; the node's workspace) in one pass per row without a probability buffer.
    /// Afterwards <see cref="Probabilities"/> is null and <see cref="Backward(T)"/> needs a new <see cref="Forward"/>.
    /// </summary>
    public T ForwardBackward(Tensor<T> logits, ReadOnlySpan<int> targets, T dloss, out Tensor<T> dlogits, int ignoreIndex = -1)
    {
        var (n, v) = Check(logits, targets, ignoreIndex);
        dlogits = Workspace.Ensure(ref _dx, n, v);
        double mean = SoftmaxCrossEntropy.LossAndGradient<T>(logits.Span, n, v, targets, ignoreIndex, dloss, dlogits.Span, out _count);
        Remember(targets, ignoreIndex);
        _probsValid = false;
        return T.CreateTruncating(mean);
    }

    private (int n, int v) Check(Tensor<T> logits, ReadOnlySpan<int> targets, int ignoreIndex)
    {
        NodeChecks.Rank("SoftmaxWithLoss", "logits", logits, 2);
        int n = logits.Dim(0), v = logits.Dim(1);
        if (targets.Length != n)
            throw new ArgumentException($"SoftmaxWithLoss: logits have shape {logits.ShapeString} but targets have shape ({targets.Length}).");
        SoftmaxCrossEntropy.CheckTargets("SoftmaxWithLoss", targets, v, ignoreIndex);
        return (n, v);
    }

    private void Remember(ReadOnlySpan<int> targets, int ignoreIndex)
    {
        if (_t.Length != targets.Length) _t = new int[targets.Length];
        targets.CopyTo(_t);
        _ignore = ignoreIndex;
    }
}
