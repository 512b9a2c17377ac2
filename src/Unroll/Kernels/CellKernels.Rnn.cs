using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static Unroll.Kernels.SimdMath;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Kernels;

/// <summary>
/// The elementwise part of one Elman RNN step (tanh or ReLU) for ONE batch row, forward and backward, fused into a
/// single pass. Used by <c>Layers.TimeRNN</c> between the per-step GEMMs. Dispatch as in <see cref="LstmKernels"/>:
/// float on AVX-512 → one Vector512 pass (<see cref="SimdMath.TanhF"/>, ≤ 1.3 ulp); otherwise the reference kernel
/// beside it (same signature, the code the layer ran before).
/// </summary>
/// <remarks>NaN: tanh(NaN) = max(NaN, 0) = NaN; backward through ReLU passes dh only where h &gt; 0 (NaN h → 0).</remarks>
public static class RnnKernels
{
    /// <summary>h = tanh(a) or max(0, a) in place on the row <paramref name="a"/> (H).</summary>
    public static void ForwardRow<T>(Span<T> a, bool relu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated) ForwardRowF(MemoryMarshal.Cast<T, float>(a), relu);
        else ForwardRowReference(a, relu);
    }

    /// <summary>Reference for <see cref="ForwardRow{T}"/>: TensorPrimitives' Max / Tanh.</summary>
    public static void ForwardRowReference<T>(Span<T> a, bool relu) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var row = a;
        if (row.IsEmpty) return;
        if (relu) TP.Max<T>(row, T.Zero, row);                // h_t = max(0, a_t)
        else TP.Tanh<T>(row, row);                            // h_t = tanh(a_t)
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call: tier-0 Vector512 code is ~10x slower
    private static void ForwardRowF(Span<float> a, bool relu)
    {
        int j = 0;
        if (relu)
        {
            for (; j <= a.Length - Vector512<float>.Count; j += Vector512<float>.Count) ReluBody<FullVector>(a, j);
            if (j < a.Length) ReluBody<TailVector>(a, j);
        }
        else
        {
            for (; j <= a.Length - Vector512<float>.Count; j += Vector512<float>.Count) TanhBody<FullVector>(a, j);
            if (j < a.Length) TanhBody<TailVector>(a, j);
        }
    }

    // Max: IEEE maximum (NaN → NaN, max(−0, 0) = +0), as TensorPrimitives.Max
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ReluBody<TA>(Span<float> a, int j) where TA : struct, IRowAccess => TA.Store(Vector512.Max(TA.Load(a, j), Vector512<float>.Zero), a, j);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TanhBody<TA>(Span<float> a, int j) where TA : struct, IRowAccess => TA.Store(TanhF(TA.Load(a, j)), a, j);

    /// <summary>
    /// Backward of one row: <paramref name="dh"/> (H) = total ∂L/∂h_t, flushed in place; <paramref name="da"/> (H) =
    /// dh ⊙ (1 − h²) (tanh) or dh where h &gt; 0 (ReLU), flushed; <paramref name="h"/> (H) is the forward output.
    /// Flushing: magnitude below <paramref name="flushThreshold"/> → +0 (threshold ≤ 0: none). <paramref name="da"/>
    /// must not alias <paramref name="h"/> or <paramref name="dh"/>.
    /// </summary>
    public static void BackwardRow<T>(ReadOnlySpan<T> h, Span<T> dh, Span<T> da, bool relu, T flushThreshold) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(h.Length, dh.Length, da.Length);
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
            BackwardRowF(MemoryMarshal.Cast<T, float>(h), MemoryMarshal.Cast<T, float>(dh), MemoryMarshal.Cast<T, float>(da), relu, Unsafe.As<T, float>(ref flushThreshold));
        else BackwardRowReference(h, dh, da, relu, flushThreshold);
    }

    /// <summary>Reference for <see cref="BackwardRow{T}"/> (same contract).</summary>
    public static void BackwardRowReference<T>(ReadOnlySpan<T> h, Span<T> dh, Span<T> da, bool relu, T flushThreshold) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Check(h.Length, dh.Length, da.Length);
        var d = da;
        CellMath.Flush(dh, flushThreshold);
        if (relu)
        {
            // inverts h = max(0, a): da = dh where h > 0
            for (int j = 0; j < d.Length; j++) d[j] = h[j] > T.Zero ? dh[j] : T.Zero;
        }
        else CellMath.TanhBackward(h, dh, d);                 // inverts h = tanh(a): da = dh ⊙ (1 − h²)
        CellMath.Flush(d, flushThreshold);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call: tier-0 Vector512 code is ~10x slower
    private static void BackwardRowF(ReadOnlySpan<float> h, Span<float> dh, Span<float> da, bool relu, float flushThreshold)
    {
        var thr = Vector512.Create(flushThreshold);
        int j = 0;
        for (; j <= dh.Length - Vector512<float>.Count; j += Vector512<float>.Count) BackwardBody<FullVector>(h, dh, da, relu, thr, j);
        if (j < dh.Length) BackwardBody<TailVector>(h, dh, da, relu, thr, j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BackwardBody<TA>(ReadOnlySpan<float> h, Span<float> dh, Span<float> da, bool relu, Vector512<float> thr, int j) where TA : struct, IRowAccess
    {
        var hv = TA.Load(h, j);
        var dhv = FlushBelow(TA.Load(dh, j), thr);
        TA.Store(dhv, dh, j);
        var d = relu
            ? Vector512.ConditionalSelect(Vector512.GreaterThan(hv, Vector512<float>.Zero), dhv, Vector512<float>.Zero)  // h > 0 ? dh : 0
            : (Vector512<float>.One - hv * hv) * dhv;                                                               // dh ⊙ (1 − h²)
        TA.Store(FlushBelow(d, thr), da, j);
    }

    private static void Check(int h, int dh, int da)
    {
        if (dh != h || da != h)
            throw new ArgumentException($"RnnKernels.BackwardRow: h {h}, dh {dh}, da {da} elements (must all be H).");
    }
}
