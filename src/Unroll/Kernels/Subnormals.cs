using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Unroll.Kernels;

/// <summary>
/// Flush-to-zero in software: replaces subnormal values (0 &lt; |x| &lt; T.MinNormal, i.e. below ~1.2e-38 in float,
/// ~2.2e-308 in double) by zero. .NET exposes no way to set the CPU's FTZ/DAZ flags, and arithmetic on subnormal
/// operands or results takes a slow microcode path on x86; long backward passes through time, where the gradient
/// vanishes geometrically, produce exactly such values — and products of small (normal) gradients with weights are
/// subnormal too. The recurrent layers therefore flush the per-step gradients they feed back into the next GEMM below
/// <see cref="SafeProductThreshold{T}"/> (see <c>TimeRecurrentBase.GradFlushThreshold</c>). NaN and ±∞ are unchanged;
/// flushed values (and −0) become +0.
/// </summary>
public static class Subnormals
{
    /// <summary>The smallest positive normal value of <typeparamref name="T"/>.</summary>
    public static T MinNormal<T>() where T : unmanaged, IFloatingPointIeee754<T> =>
        typeof(T) == typeof(float) ? T.CreateChecked(1.17549435E-38f) : T.CreateChecked(2.2250738585072014E-308);

    /// <summary>SIMD kernel: x ← 0 where x is subnormal (|x| &lt; MinNormal and x ≠ 0).</summary>
    public static void FlushToZero<T>(Span<T> x) where T : unmanaged, IFloatingPointIeee754<T> => FlushBelow(x, MinNormal<T>());

    /// <summary>
    /// √MinNormal (≈ 1.08e-19 in float, 1.49e-154 in double): the product of two values at or above it is never
    /// subnormal, so flushing GEMM operands below it keeps the whole product free of subnormals.
    /// </summary>
    public static T SafeProductThreshold<T>() where T : unmanaged, IFloatingPointIeee754<T> => T.Sqrt(MinNormal<T>());

    /// <summary>SIMD kernel: x ← +0 where |x| &lt; <paramref name="min"/> (NaN and ±∞ unchanged).</summary>
    public static void FlushBelow<T>(Span<T> x, T min) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<T>.Count)
        {
            var vmin = new Vector<T>(min);
            ref T r0 = ref MemoryMarshal.GetReference(x);
            for (; i <= x.Length - Vector<T>.Count; i += Vector<T>.Count)
            {
                ref T ri = ref Unsafe.Add(ref r0, i);
                var v = Vector.LoadUnsafe(ref ri);
                // |v| < min is true for subnormals and ±0 (both become +0), false for NaN, ±∞ and normals.
                var tiny = Vector.LessThan(Vector.Abs(v), vmin);
                Vector.AndNot(v, tiny).StoreUnsafe(ref ri);
            }
        }
        for (; i < x.Length; i++)
            if (T.Abs(x[i]) < min) x[i] = T.Zero;
    }

    /// <summary>Plain reference kernel of <see cref="FlushBelow{T}"/> (the SIMD kernel is tested against it).</summary>
    public static void FlushBelowReference<T>(Span<T> x, T min) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < x.Length; i++)
            if (!T.IsNaN(x[i]) && T.Abs(x[i]) < min) x[i] = T.Zero;
    }
}
