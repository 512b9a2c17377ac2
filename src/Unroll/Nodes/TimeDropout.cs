using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Nodes;

/// <summary>
/// Inverted dropout on a sequence: x, y, dy, dx, mask: (N, T, D); an independent mask element per (n, t, d), as
/// in the textbook's TimeDropout. Same rules as <see cref="Dropout{T}"/> (which does the work): scale 1/(1 − p) on
/// kept units, identity in evaluation or with p = 0, masks drawn from the injected <see cref="Rng"/> (draw
/// order: <see cref="Dropout{T}"/>'s remarks).
/// </summary>
/// <remarks>NaN/∞ and subnormal behaviour: as <see cref="Dropout{T}"/>.</remarks>
public sealed class TimeDropout<T> : INode<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Dropout<T> _inner;

    /// <param name="p">Drop probability in [0, 1).</param>
    /// <param name="rng">The injected randomness source for the masks.</param>
    public TimeDropout(double p, Rng rng) => _inner = new Dropout<T>(p, rng);

    /// <summary>Drop probability p.</summary>
    public double P => _inner.P;
    /// <summary>True: sample a mask at every Forward. False: identity.</summary>
    public bool Training { get => _inner.Training; set => _inner.Training = value; }
    /// <summary>The mask (N, T, D) of the last training Forward; null otherwise.</summary>
    public Tensor<T>? Mask => _inner.Mask;
    public IEnumerable<Parameter<T>> Parameters => [];

    /// <summary>y (N, T, D) = x ⊙ m (training) or x.</summary>
    public Tensor<T> Forward(Tensor<T> xs)
    {
        NodeChecks.Rank("TimeDropout", "xs", xs, 3);
        return _inner.Forward(xs);                                   // ys = xs ⊙ m
    }

    /// <summary>dx (N, T, D) = dy ⊙ m (training) or dy.</summary>
    public Tensor<T> Backward(Tensor<T> dys)
    {
        // inverts ys = xs ⊙ m
        return _inner.Backward(dys);
    }
}
