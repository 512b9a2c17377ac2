using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Unroll.Kernels;

/// <summary>
/// Elementary functions on 16 floats in AVX-512 registers, for fused kernels that keep a whole computation in
/// registers (softmax-CE, the recurrent cells' gate kernels), plus the partial-vector load/store those kernels use
/// for a row's tail. Accuracy (measured by <c>SimdMathTests</c> over a dense sweep of [−100, 100], tiny values, ±0,
/// ±∞ and NaN, against the double-precision functions): <see cref="ExpF"/> ≤ 2 ulp, <see cref="SigmoidF"/> 2.40 ulp
/// (at x = −16.66), <see cref="TanhF"/> 1.21 ulp (at x = −0.655) — relative, also for |x| → 0 (no cancellation).
/// The tests hold them to ≤ 3 and ≤ 2 ulp.
/// </summary>
public static class SimdMath
{
    /// <summary>
    /// e^x for 16 floats (Cephes expf: x = n·ln2 + r, |r| ≤ ln2/2, degree-6 polynomial, 2^n applied exactly by
    /// vscalefps for n = −126…128); ≤ 2 ulp against the correctly rounded result. x &lt; −87.3365 (result below the
    /// smallest normal float) gives 0 — no subnormals; x &gt; 88.7228 gives +∞; NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpF(Vector512<float> x)
    {
        var n = Vector512.Round(x * Vector512.Create(1.44269504088896341f));             // n = round(x / ln2)
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);        // r = x − n·ln2 (ln2 in two parts)
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.9875691500E-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894E-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459E-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201E-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;             // e^r
        // e^r·2^n by vscalefps: exact for every normal result, so the same bits as scaling by 2^(n/2) and then by
        // 2^(n − n/2) (the former form: 8 integer and float operations instead of 1). NaN n or p gives NaN; the
        // selects below decide every x outside [−87.34, 88.72], including ±∞ (whose r, and so p, is NaN).
        var y = Avx512F.Scale(p, n);
        y = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(-87.3365447f)), Vector512<float>.Zero, y);
        return Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(88.7228394f)), Vector512.Create(float.PositiveInfinity), y);
    }

    /// <summary>
    /// σ(x) = 1 / (1 + e^(−x)) for 16 floats (reciprocal by <see cref="Reciprocal"/>, no division); ≤ 2.40 ulp
    /// relative (measured over [−100, 100]). x &lt; −87.34 gives 0 (the true value is below float's smallest normal,
    /// 1.18e-38 — no subnormal results); x ≥ 17 rounds to exactly 1. σ(+∞) = 1, σ(−∞) = 0; NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> SigmoidF(Vector512<float> x)
    {
        var y = Reciprocal(Vector512<float>.One + ExpF(-x));
        // x < −87.34: e^(−x) may be +∞, whose reciprocal step gives NaN — σ is below MinNormal there: 0
        return Vector512.AndNot(y, Vector512.LessThan(x, Vector512.Create(-87.3365447f)));
    }

    /// <summary>
    /// 1/d for finite d ≥ 1 (the denominators of σ and tanh): the 14-bit hardware estimate (vrcp14ps) and one
    /// Newton–Raphson step, r ← r + r·(1 − d·r): ≈ 2^−28 relative before rounding, 0.53 ulp measured over
    /// [1, 1e30] (<c>SimdMathTests</c>), instead of a 512-bit division. NaN gives NaN; d = +∞ gives NaN (callers exclude it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Reciprocal(Vector512<float> d)
    {
        var r = Avx512F.Reciprocal14(d);
        return Vector512.FusedMultiplyAdd(r, Vector512.FusedMultiplyAdd(-d, r, Vector512<float>.One), r);
    }

    /// <summary>
    /// tanh(x) for 16 floats, computed on |x| with the sign copied back (so tanh(−0) = −0, odd symmetry exact):
    /// |x| &lt; 0.625: Cephes tanhf's odd polynomial x + x³·P(x²) (relative accuracy down to the smallest x, no
    /// cancellation); |x| ≥ 0.625: 1 − 2/(e^(2|x|) + 1) with the reciprocal by <see cref="Reciprocal"/>; |x| &gt; 9.5:
    /// exactly ±1 (the float nearest tanh x is ±1 from |x| ≈ 9.01 on), so no ∞ ever reaches the reciprocal. ≤ 1.21 ulp relative (measured over [−100, 100]
    /// and tiny |x| down to 2^−149); NaN gives NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> TanhF(Vector512<float> x)
    {
        var ax = Vector512.Abs(x);
        var z = ax * ax;
        var p = Vector512.Create(-5.70498872745E-3f);
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(2.06390887954E-2f));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(-5.37397155531E-2f));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(1.33314422036E-1f));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(-3.33332819422E-1f));
        var small = Vector512.FusedMultiplyAdd(p * z, ax, ax);                             // |x| + |x|³·P(x²)
        var e = ExpF(ax + ax);
        var large = Vector512.FusedMultiplyAdd(Vector512.Create(-2f), Reciprocal(e + Vector512<float>.One), Vector512<float>.One); // 1 − 2/(e^(2|x|) + 1)
        // |x| > 9.5: tanh rounds to 1 (and e may be +∞, whose reciprocal step gives NaN); NaN > 9.5 is false, so NaN stays NaN
        large = Vector512.ConditionalSelect(Vector512.GreaterThan(ax, Vector512.Create(9.5f)), Vector512<float>.One, large);
        var y = Vector512.ConditionalSelect(Vector512.LessThan(ax, Vector512.Create(0.625f)), small, large);
        return y | (x & Vector512.Create(-0f));                                             // sign of x (NaN stays NaN)
    }

    /// <summary>x where |x| ≥ <paramref name="min"/>, else +0 (NaN and ±∞ unchanged) — <see cref="Subnormals.FlushBelow{T}"/> on a vector.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FlushBelow(Vector512<float> x, Vector512<float> min) =>
        Vector512.AndNot(x, Vector512.LessThan(Vector512.Abs(x), min));

    /// <summary>How a fused row kernel's body reads and writes its 16 lanes at j: <see cref="FullVector"/> in the main loop, <see cref="TailVector"/> once for the row's tail.</summary>
    public interface IRowAccess
    {
        /// <summary>Elements [j, j+16) of <paramref name="s"/>.</summary>
        static abstract Vector512<float> Load(ReadOnlySpan<float> s, int j);
        /// <summary>Stores to elements [j, j+16) of <paramref name="d"/>.</summary>
        static abstract void Store(Vector512<float> v, Span<float> d, int j);
    }

    /// <summary>All 16 lanes exist (j + 16 ≤ length): plain vector load/store, no check.</summary>
    public readonly struct FullVector : IRowAccess
    {
        /// <inheritdoc/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(ReadOnlySpan<float> s, int j) => Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(s), (nuint)j);
        /// <inheritdoc/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(Vector512<float> v, Span<float> d, int j) => v.StoreUnsafe(ref MemoryMarshal.GetReference(d), (nuint)j);
    }

    /// <summary>The row's tail (0 &lt; length − j &lt; 16): AVX-512 masked load/store — lanes past the end read as 0 (no fault) and are not written.</summary>
    public readonly struct TailVector : IRowAccess
    {
        /// <inheritdoc/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe Vector512<float> Load(ReadOnlySpan<float> s, int j)
        {
            var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(s.Length - j)).AsSingle();
            fixed (float* p = s) return Avx512F.MaskLoad(p + j, mask, Vector512<float>.Zero);
        }
        /// <inheritdoc/>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static unsafe void Store(Vector512<float> v, Span<float> d, int j)
        {
            var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(d.Length - j)).AsSingle();
            fixed (float* p = d) Avx512F.MaskStore(p + j, mask, v);
        }
    }
}
