namespace Unroll.Tensors;

/// <summary>
/// The one seeded source of randomness, injected everywhere randomness is needed (initialisation, dropout,
/// batching, sampling, task generators). xoshiro256** seeded through SplitMix64; its whole state can be saved
/// and restored (<see cref="GetState"/>/<see cref="SetState"/>) so resumed runs continue the same trajectory.
/// </summary>
/// <remarks>Same seed ⇒ same sequence on every machine (integer arithmetic only; Gaussian via Box–Muller in double).</remarks>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;

    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>
    /// Fills <paramref name="dest"/> with the next dest.Length values of <see cref="NextUInt64"/>, in order (the same
    /// values and the same state afterwards as that many calls; the state is kept in registers for the loop).
    /// </summary>
    public void NextUInt64s(Span<ulong> dest)
    {
        ulong s0 = _s0, s1 = _s1, s2 = _s2, s3 = _s3;
        for (int i = 0; i < dest.Length; i++)
        {
            dest[i] = ulong.RotateLeft(s1 * 5, 7) * 9;
            ulong t = s1 << 17;
            s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3;
            s2 ^= t;
            s3 = ulong.RotateLeft(s3, 45);
        }
        (_s0, _s1, _s2, _s3) = (s0, s1, s2, s3);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, 1) with 24 random bits.</summary>
    public float NextSingle() => (NextUInt64() >> 40) * (1.0f / (1 << 24));

    /// <summary>Uniform integer in [0, n) without modulo bias. n must be positive.</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), "Rng.NextInt: n must be positive.");
        ulong bound = (ulong)n;
        ulong threshold = (0UL - bound) % bound;
        while (true)
        {
            ulong r = NextUInt64();
            if (r >= threshold) return (int)(r % bound);
        }
    }

    /// <summary>Uniform integer in [lo, hi).</summary>
    public int NextInt(int lo, int hi) => lo + NextInt(hi - lo);

    /// <summary>Standard normal sample (Box–Muller; both values used in turn).</summary>
    public double NextGaussian()
    {
        if (_hasSpare) { _hasSpare = false; return _spare; }
        double u1;
        do u1 = NextDouble(); while (u1 <= double.Epsilon);
        double u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spare = r * Math.Sin(2 * Math.PI * u2);
        _hasSpare = true;
        return r * Math.Cos(2 * Math.PI * u2);
    }
    private bool _hasSpare;
    private double _spare;

    /// <summary>A new independent generator derived from this one (advances this one).</summary>
    public Rng Fork() => new(NextUInt64());

    /// <summary>The whole state (5 words; the last encodes the cached Gaussian).</summary>
    public ulong[] GetState() => [_s0, _s1, _s2, _s3, _hasSpare ? (ulong)BitConverter.DoubleToInt64Bits(_spare) : 0UL, _hasSpare ? 1UL : 0UL];

    /// <summary>Restores a state from <see cref="GetState"/>.</summary>
    public void SetState(ReadOnlySpan<ulong> s)
    {
        if (s.Length != 6) throw new ArgumentException("Rng.SetState: expected 6 words.");
        (_s0, _s1, _s2, _s3) = (s[0], s[1], s[2], s[3]);
        _hasSpare = s[5] != 0;
        _spare = BitConverter.Int64BitsToDouble((long)s[4]);
    }
}
