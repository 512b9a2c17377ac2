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
/// The mask is drawn from the injected <see cref="Rng"/> at every training <see cref="Forward"/>, so the same seed
/// gives the same masks: ⌈n/2⌉ draws of <see cref="Rng.NextUInt64"/>; element 2k (row-major) uses the low 32 bits u
/// of draw k, element 2k + 1 the high 32 bits, and an element is dropped iff u &lt; round(p·2³²) (so the drop
/// probability is p rounded to a multiple of 2⁻³²). This draw order replaced one <see cref="Rng.NextDouble"/> per
/// element (dropped iff &lt; p) in issue 6: the same seed now gives different masks than before, and a mask uses
/// half as many draws. NaN/±∞ in x stay where kept and become 0·NaN = NaN / 0·∞ = NaN where dropped (IEEE-754);
/// finite x stays finite unless |x|/(1 − p) exceeds the type's range (float: |x| ≳ 3.4e38·(1 − p)). No subnormals
/// are produced beyond those already in x (the scale 1/(1 − p) ≥ 1).
/// </remarks>
public sealed class Dropout<T> : INode<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Rng _rng;
    private readonly uint _threshold;       // dropped iff the element's 32 random bits are < this
    private Tensor<T>? _y, _dx, _mask;
    private ulong[] _draws = [];
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
        int draws = (m.Length + 1) / 2;
        if (_draws.Length < draws) _draws = new ulong[draws];
        _rng.NextUInt64s(_draws.AsSpan(0, draws));
        MaskAndApply(_draws.AsSpan(0, draws), _threshold, T.CreateTruncating(1.0 / (1.0 - P)), x.Span, m.Span, y.Span);   // y = x ⊙ m
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

    /// <summary>
    /// Builds the mask and applies it in one pass: u_i = 32 bits of <paramref name="draws"/> (element 2k: low half of
    /// draws[k], 2k + 1: high half), m_i = u_i &lt; threshold ? 0 : keep, y_i = x_i · m_i.
    /// draws: ⌈n/2⌉; x, m, y: n. Float on a little-endian machine: SIMD (compare the bits as uint lanes, select,
    /// multiply); otherwise <see cref="MaskAndApplyReference"/>. Same bits either way (a multiply by 0 or keep).
    /// </summary>
    internal static void MaskAndApply(ReadOnlySpan<ulong> draws, uint threshold, T keep, ReadOnlySpan<T> x, Span<T> m, Span<T> y)
    {
        int n = x.Length;
        if (m.Length != n || y.Length != n || draws.Length < (n + 1) / 2)
            throw new ArgumentException($"Dropout.MaskAndApply: sizes x {n}, m {m.Length}, y {y.Length}, draws {draws.Length}.");
        if (typeof(T) != typeof(float) || !BitConverter.IsLittleEndian || !Vector.IsHardwareAccelerated)
        {
            MaskAndApplyReference(draws, threshold, keep, x, m, y);
            return;
        }
        var u = MemoryMarshal.Cast<ulong, uint>(draws)[..n];            // little-endian: uint 2k = low half of draw k
        var xf = MemoryMarshal.Cast<T, float>(x);
        var mf = MemoryMarshal.Cast<T, float>(m);
        var yf = MemoryMarshal.Cast<T, float>(y);
        var thr = new Vector<uint>(threshold);
        var keepV = new Vector<float>(float.CreateTruncating(keep));
        int w = Vector<float>.Count, i = 0;
        for (; i <= n - w; i += w)
        {
            var drop = Vector.AsVectorInt32(Vector.LessThan(new Vector<uint>(u[i..]), thr));   // unsigned compare
            var mv = Vector.ConditionalSelect(drop, Vector<float>.Zero, keepV);
            mv.CopyTo(mf[i..]);
            (new Vector<float>(xf[i..]) * mv).CopyTo(yf[i..]);
        }
        for (; i < n; i++)
        {
            float mi = u[i] < threshold ? 0f : float.CreateTruncating(keep);
            mf[i] = mi;
            yf[i] = xf[i] * mi;
        }
    }

    /// <summary>Plain reference of <see cref="MaskAndApply"/> (same signature, element by element).</summary>
    internal static void MaskAndApplyReference(ReadOnlySpan<ulong> draws, uint threshold, T keep, ReadOnlySpan<T> x, Span<T> m, Span<T> y)
    {
        for (int i = 0; i < x.Length; i++)
        {
            uint u = (uint)(draws[i >> 1] >> (32 * (i & 1)));
            m[i] = u < threshold ? T.Zero : keep;
            y[i] = x[i] * m[i];
        }
    }
}
