using System.Numerics;
using System.Runtime.InteropServices;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Nodes;

/// <summary>
/// Inverted dropout: in training, y = x ⊙ m with m_i = 1/(1 − p) with probability 1 − p and 0 with probability p,
/// so E[y] = x; in evaluation (<see cref="Training"/> = false) or with p = 0, y = x.
/// x, y, dy, dx, mask: any shape (all equal). Backward: dx = dy ⊙ m (identity when not dropping).
/// </summary>
/// <remarks>
/// The mask comes from the injected <see cref="Rng"/>, so the same seed gives the same masks: ONE draw of
/// <see cref="Rng.NextUInt64"/> per training <see cref="Forward"/> is the key κ, and element pair k (elements 2k and
/// 2k + 1, row-major) takes the 64 bits h_k = <see cref="Hash"/>(κ, k) (SplitMix64's finaliser of κ + (k + 1)·φ):
/// element 2k uses the low 32 bits u, element 2k + 1 the high 32 bits, and an element is dropped iff u &lt; round(p·2³²)
/// (so the drop probability is p rounded to a multiple of 2⁻³²). Every element's bits depend only on κ and its index,
/// so large masks are built in blocks on both cores with the same result on any thread count. This counter-based
/// stream replaced (fifth session) one sequential draw per element pair, which itself replaced one
/// <see cref="Rng.NextDouble"/> per element (issue 6): the same seed gives different masks than either before.
/// NaN/±∞ in x stay where kept and become 0·NaN = NaN / 0·∞ = NaN where dropped (IEEE-754); finite x stays finite
/// unless |x|/(1 − p) exceeds the type's range (float: |x| ≳ 3.4e38·(1 − p)). No subnormals are produced beyond those
/// already in x (the scale 1/(1 − p) ≥ 1).
/// </remarks>
public sealed class Dropout<T> : INode<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Rng _rng;
    private readonly uint _threshold;       // dropped iff the element's 32 random bits are < this
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
        _threshold = Threshold(p);
        _rng = rng ?? throw new ArgumentNullException(nameof(rng));
    }

    /// <summary>round(p·2³²), at most 2³² − 1: an element whose 32 random bits are below it is dropped.</summary>
    internal static uint Threshold(double p) => (uint)Math.Min(Math.Round(p * 4294967296.0), uint.MaxValue);

    public Tensor<T> Forward(Tensor<T> x)
    {
        var y = Workspace.Ensure(ref _y, x.Shape);
        _masked = Training && P > 0;
        if (!_masked) { x.Span.CopyTo(y.Span); return y; }            // y = x
        var m = Workspace.Ensure(ref _mask, x.Shape);
        ulong key = _rng.NextUInt64();                                                  // the key κ of this mask
        MaskAndApply(key, _threshold, T.CreateTruncating(1.0 / (1.0 - P)), x.Span, m.Span, y.Span);   // y = x ⊙ m
        return y;
    }

    public Tensor<T> Backward(Tensor<T> dy)
    {
        var y = _y ?? throw new InvalidOperationException("Dropout.Backward called before Forward.");
        NodeChecks.SameShape("Dropout", "dy", dy, "y", y);
        var dx = Workspace.Ensure(ref _dx, y.Shape);
        // inverts y = x ⊙ m (or y = x): dx = dy ⊙ m (or dy)
        if (_masked) DropoutBlocks<T>.Multiply(dy.Span, _mask!.Span, dx.Span);
        else dy.Span.CopyTo(dx.Span);
        return dx;
    }

    /// <summary>φ = 2⁶⁴/golden ratio, SplitMix64's increment.</summary>
    internal const ulong Golden = 0x9E3779B97F4A7C15UL;

    /// <summary>h_k = SplitMix64's finaliser of κ + (k + 1)·φ: the 64 random bits of element pair k under key κ.</summary>
    internal static ulong Hash(ulong key, long k)
    {
        ulong z = key + (ulong)(k + 1) * Golden;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>u_i: the 32 random bits of element <paramref name="i"/> — the low half of h_⌊i/2⌋ for even i, the high half for odd.</summary>
    internal static uint Bits(ulong key, long i) => (uint)(Hash(key, i >> 1) >> (32 * (int)(i & 1)));

    /// <summary>
    /// Builds the mask and applies it in one pass: u_i = 32 bits of h_⌊i/2⌋ = <see cref="Hash"/>(κ, ⌊i/2⌋) (element 2k:
    /// low half, 2k + 1: high half), m_i = u_i &lt; threshold ? 0 : keep, y_i = x_i · m_i. x, m, y: n.
    /// Float: in blocks on both cores when n is large, 8 hashes (16 elements) per step in 64-bit lanes on AVX-512
    /// (element by element elsewhere); double: <see cref="MaskAndApplyReference"/>. Same bits either way (the same
    /// hash, a multiply by 0 or keep).
    /// </summary>
    internal static void MaskAndApply(ulong key, uint threshold, T keep, ReadOnlySpan<T> x, Span<T> m, Span<T> y)
    {
        int n = x.Length;
        if (m.Length != n || y.Length != n)
            throw new ArgumentException($"Dropout.MaskAndApply: sizes x {n}, m {m.Length}, y {y.Length}.");
        if (typeof(T) != typeof(float) || !BitConverter.IsLittleEndian)
        {
            MaskAndApplyReference(key, threshold, keep, x, m, y);
            return;
        }
        DropoutBlocks<T>.Mask(key, threshold, float.CreateTruncating(keep), x, m, y);
    }

    /// <summary>Plain reference of <see cref="MaskAndApply"/> (same signature, element by element).</summary>
    internal static void MaskAndApplyReference(ulong key, uint threshold, T keep, ReadOnlySpan<T> x, Span<T> m, Span<T> y)
    {
        for (int i = 0; i < x.Length; i++)
        {
            m[i] = Bits(key, i) < threshold ? T.Zero : keep;
            y[i] = x[i] * m[i];
        }
    }
}
