using System.Numerics;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Nodes;

/// <summary>
/// Inverted dropout: in training, y = x ⊙ m with m_i = 1/(1 − p) with probability 1 − p and 0 with probability p,
/// so E[y] = x; in evaluation (<see cref="Training"/> = false) or with p = 0, y = x.
/// x, y, dy, dx, mask: any shape (all equal). Backward: dx = dy ⊙ m (identity when not dropping).
/// </summary>
/// <remarks>
/// The mask is drawn from the injected <see cref="Rng"/> (one uniform per element, row-major order) at every
/// training <see cref="Forward"/>, so the same seed gives the same masks. NaN/±∞ in x stay where kept and become
/// 0·NaN = NaN / 0·∞ = NaN where dropped (IEEE-754); finite x stays finite unless |x|/(1 − p) exceeds the
/// type's range (float: |x| ≳ 3.4e38·(1 − p)). No subnormals are produced beyond
/// those already in x (the scale 1/(1 − p) ≥ 1).
/// </remarks>
public sealed class Dropout<T> : INode<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Rng _rng;
    private Tensor<T>? _y, _dx, _mask;
    private bool _masked;     // the last Forward applied a mask (training and p > 0)

    /// <summary>Drop probability p in [0, 1).</summary>
    public double P { get; }
    /// <summary>True: sample a mask at every Forward. False: identity (evaluation).</summary>
    public bool Training { get; set; } = true;
    /// <summary>The mask m of the last training Forward (values 0 or 1/(1 − p)); null before it.</summary>
    public Tensor<T>? Mask => _masked ? _mask : null;
    public IEnumerable<Parameter<T>> Parameters => [];

    /// <param name="p">Drop probability in [0, 1).</param>
    /// <param name="rng">The injected randomness source for the masks.</param>
    public Dropout(double p, Rng rng)
    {
        if (!(p >= 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), $"Dropout: p must be in [0, 1), got {p}.");
        P = p;
        _rng = rng ?? throw new ArgumentNullException(nameof(rng));
    }

    public Tensor<T> Forward(Tensor<T> x)
    {
        var y = Workspace.Ensure(ref _y, x.Shape);
        _masked = Training && P > 0;
        if (!_masked) { x.Span.CopyTo(y.Span); return y; }            // y = x
        var m = Workspace.Ensure(ref _mask, x.Shape);
        T keep = T.CreateTruncating(1.0 / (1.0 - P));
        var ms = m.Span;
        for (int i = 0; i < ms.Length; i++) ms[i] = _rng.NextDouble() < P ? T.Zero : keep;
        TP.Multiply<T>(x.Span, ms, y.Span);                          // y = x ⊙ m
        return y;
    }

    public Tensor<T> Backward(Tensor<T> dy)
    {
        var y = _y ?? throw new InvalidOperationException("Dropout.Backward called before Forward.");
        NodeChecks.SameShape("Dropout", "dy", dy, "y", y);
        var dx = Workspace.Ensure(ref _dx, y.Shape);
        // inverts y = x ⊙ m (or y = x): dx = dy ⊙ m (or dy)
        if (_masked) TP.Multiply<T>(dy.Span, _mask!.Span, dx.Span);
        else dy.Span.CopyTo(dx.Span);
        return dx;
    }
}
