using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static Unroll.Kernels.SimdMath;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Kernels;

/// <summary>
/// The elementwise part of one LSTM step for ONE batch row (H = hidden size), fused into a single pass: the forward
/// gate nonlinearities and cell update, and the backward through them. Used by <c>Layers.TimeLSTM</c> between the
/// per-step GEMMs. Each fused kernel dispatches: float on AVX-512 hardware → one pass over the row in Vector512
/// registers (<see cref="SimdMath"/>'s σ and tanh, ≤ 2.4 and ≤ 1.3 ulp); anything else (double, no AVX-512) → the reference
/// kernel beside it (same signature: the TensorPrimitives sequence the layer ran before, one pass per operation).
/// </summary>
/// <remarks>
/// NaN: a NaN input gives NaN in the outputs it feeds (both paths). The backward kernels contain no transcendental
/// functions, so fused and reference backward give the same values (same operations, same fused multiply-adds).
/// Forward values differ in the last bits, and near 0 by up to ~1.5e-7 absolutely: the reference's
/// TensorPrimitives.Tanh (System.Numerics.Tensors 10.0.12, float) is accurate only in absolute terms (max error
/// 1.47e-7 over [−100, 100]; tanh(−0) = 5.96e-8, tanh(1e-10) = −5.96e-8), the fused <see cref="SimdMath.TanhF"/>
/// relatively (≤ 1.21 ulp). H = 0 does nothing.
/// Scratch spans are used only by the reference kernels (the fused ones keep everything in registers), so a caller
/// running rows in parallel needs one scratch per thread only when reference kernels may run.
/// </remarks>
public static class LstmKernels
{
    /// <summary>
    /// Forward of one row: a = x_t·Wx + h_{t−1}·Wh + b in <paramref name="gates"/> (4H, [i|f|g|o] pre-activation);
    /// i, f, o = σ(a_i, a_f, a_o), g = tanh(a_g) written back in place (post-activation gates);
    /// c = f ⊙ c_{t−1} + i ⊙ g (H), tanhC = tanh(c) (H), h = o ⊙ tanh(c) (H). <paramref name="cPrev"/> (H) must not
    /// alias the outputs.
    /// </summary>
    public static void ForwardRow<T>(Span<T> gates, ReadOnlySpan<T> cPrev, Span<T> c, Span<T> tanhC, Span<T> h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckForward(gates.Length, cPrev.Length, c.Length, tanhC.Length, h.Length);
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
            ForwardRowF(MemoryMarshal.Cast<T, float>(gates), MemoryMarshal.Cast<T, float>(cPrev), MemoryMarshal.Cast<T, float>(c),
                        MemoryMarshal.Cast<T, float>(tanhC), MemoryMarshal.Cast<T, float>(h));
        else ForwardRowReference(gates, cPrev, c, tanhC, h);
    }

    /// <summary>Reference for <see cref="ForwardRow{T}"/> (same contract): one TensorPrimitives pass per operation.</summary>
    public static void ForwardRowReference<T>(Span<T> gates, ReadOnlySpan<T> cPrev, Span<T> c, Span<T> tanhC, Span<T> h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckForward(gates.Length, cPrev.Length, c.Length, tanhC.Length, h.Length);
        int hs = c.Length;
        if (hs == 0) return;                                  // (TensorPrimitives rejects empty spans)
        var g = gates;
        var ifg = g[..(2 * hs)];
        TP.Sigmoid<T>(ifg, ifg);                              // i, f = σ(a_i), σ(a_f)
        var gg = g.Slice(2 * hs, hs);
        TP.Tanh<T>(gg, gg);                                   // g = tanh(a_g)
        var o = g.Slice(3 * hs, hs);
        TP.Sigmoid<T>(o, o);                                  // o = σ(a_o)
        var i = g[..hs]; var f = g.Slice(hs, hs);
        TP.Multiply<T>(f, cPrev, c);                          // c = f ⊙ c_{t−1}
        TP.FusedMultiplyAdd<T>(i, gg, c, c);                  //   + i ⊙ g
        TP.Tanh<T>(c, tanhC);                                 // tanh(c_t)
        TP.Multiply<T>(o, tanhC, h);                          // h_t = o ⊙ tanh(c_t)
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call: tier-0 Vector512 code is ~10x slower
    private static void ForwardRowF(Span<float> gates, ReadOnlySpan<float> cPrev, Span<float> c, Span<float> tanhC, Span<float> h)
    {
        int hs = c.Length, j = 0;
        var gi = gates[..hs]; var gf = gates.Slice(hs, hs); var gg = gates.Slice(2 * hs, hs); var go = gates.Slice(3 * hs, hs);
        for (; j <= hs - Vector512<float>.Count; j += Vector512<float>.Count) ForwardBody<FullVector>(gi, gf, gg, go, cPrev, c, tanhC, h, j);
        if (j < hs) ForwardBody<TailVector>(gi, gf, gg, go, cPrev, c, tanhC, h, j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ForwardBody<TA>(Span<float> gi, Span<float> gf, Span<float> gg, Span<float> go, ReadOnlySpan<float> cPrev,
                                        Span<float> c, Span<float> tanhC, Span<float> h, int j) where TA : struct, IRowAccess
    {
        var i = SigmoidF(TA.Load(gi, j));
        var f = SigmoidF(TA.Load(gf, j));
        var g = TanhF(TA.Load(gg, j));
        var o = SigmoidF(TA.Load(go, j));
        var cv = Vector512.FusedMultiplyAdd(i, g, f * TA.Load(cPrev, j));   // c = f ⊙ c_{t−1} + i ⊙ g
        var tc = TanhF(cv);
        TA.Store(i, gi, j); TA.Store(f, gf, j); TA.Store(g, gg, j); TA.Store(o, go, j);
        TA.Store(cv, c, j);
        TA.Store(tc, tanhC, j);
        TA.Store(o * tc, h, j);                                               // h = o ⊙ tanh(c)
    }

    /// <summary>
    /// Backward of one row through the forward above. In: post-activation <paramref name="gates"/> (4H),
    /// <paramref name="tanhC"/> (H), <paramref name="cPrev"/> (H), <paramref name="dh"/> (H) = total ∂L/∂h_t,
    /// <paramref name="dc"/> (H) = ∂L/∂c_t arriving from c_{t+1}. Out: <paramref name="dh"/> flushed in place;
    /// <paramref name="dc"/> = total ∂L/∂c_t (+ dh ⊙ o ⊙ (1 − tanh²c)), flushed; <paramref name="da"/> (4H) = ∂L/∂a
    /// [da_i | da_f | da_g | da_o], flushed; <paramref name="dcPrev"/> (H) = dc ⊙ f, the part of ∂L/∂c_{t−1} from c_t
    /// (overwritten, not flushed — it is flushed as the next row's <paramref name="dc"/>).
    /// Flushing: entries with magnitude below <paramref name="flushThreshold"/> become +0 (threshold ≤ 0: none).
    /// <paramref name="scratch"/> (≥ H) is used only by the reference kernel. No output may alias another span.
    /// </summary>
    public static void BackwardRow<T>(ReadOnlySpan<T> gates, ReadOnlySpan<T> tanhC, ReadOnlySpan<T> cPrev, Span<T> dh, Span<T> dc,
                                      Span<T> da, Span<T> dcPrev, T flushThreshold, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckBackward(gates.Length, tanhC.Length, cPrev.Length, dh.Length, dc.Length, da.Length, dcPrev.Length, scratch.Length);
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
            BackwardRowF(MemoryMarshal.Cast<T, float>(gates), MemoryMarshal.Cast<T, float>(tanhC), MemoryMarshal.Cast<T, float>(cPrev),
                         MemoryMarshal.Cast<T, float>(dh), MemoryMarshal.Cast<T, float>(dc), MemoryMarshal.Cast<T, float>(da),
                         MemoryMarshal.Cast<T, float>(dcPrev), Unsafe.As<T, float>(ref flushThreshold));
        else BackwardRowReference(gates, tanhC, cPrev, dh, dc, da, dcPrev, flushThreshold, scratch);
    }

    /// <summary>Reference for <see cref="BackwardRow{T}"/> (same contract): one TensorPrimitives pass per operation.</summary>
    public static void BackwardRowReference<T>(ReadOnlySpan<T> gates, ReadOnlySpan<T> tanhC, ReadOnlySpan<T> cPrev, Span<T> dh, Span<T> dc,
                                               Span<T> da, Span<T> dcPrev, T flushThreshold, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckBackward(gates.Length, tanhC.Length, cPrev.Length, dh.Length, dc.Length, da.Length, dcPrev.Length, scratch.Length);
        int hs = dh.Length;
        if (hs == 0) return;                                  // (TensorPrimitives rejects empty spans)
        var g = gates;
        var i = g[..hs]; var f = g.Slice(hs, hs); var gg = g.Slice(2 * hs, hs); var o = g.Slice(3 * hs, hs);
        var tc = tanhC; var cp = cPrev; var d = da;
        var s1 = scratch[..hs];
        CellMath.Flush(dh, flushThreshold);
        // inverts h_t = o ⊙ tanh(c_t): dc += dh ⊙ o ⊙ (1 − tanh²c)   (dc is now the total ∂L/∂c_t)
        TP.Multiply<T>(tc, tc, s1);
        TP.Subtract<T>(T.One, s1, s1);
        TP.Multiply<T>(s1, o, s1);
        TP.FusedMultiplyAdd<T>(s1, dh, dc, dc);
        CellMath.Flush(dc, flushThreshold);
        //                              do = dh ⊙ tanh(c_t) → da_o = do ⊙ o(1 − o)
        TP.Multiply<T>(dh, tc, s1);
        CellMath.SigmoidBackward(o, s1, d.Slice(3 * hs, hs));
        // inverts c_t = f ⊙ c_{t−1} + i ⊙ g:
        TP.Multiply<T>(dc, gg, s1);                           // di = dc ⊙ g → da_i = di ⊙ i(1 − i)
        CellMath.SigmoidBackward(i, s1, d[..hs]);
        TP.Multiply<T>(dc, i, s1);                            // dg = dc ⊙ i → da_g = dg ⊙ (1 − g²)
        CellMath.TanhBackward(gg, s1, d.Slice(2 * hs, hs));
        TP.Multiply<T>(dc, cp, s1);                           // df = dc ⊙ c_{t−1} → da_f = df ⊙ f(1 − f)
        CellMath.SigmoidBackward(f, s1, d.Slice(hs, hs));
        TP.Multiply<T>(dc, f, dcPrev);                        // ∂L/∂c_{t−1} (from c_t) = dc ⊙ f
        CellMath.Flush(d, flushThreshold);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call: tier-0 Vector512 code is ~10x slower
    private static void BackwardRowF(ReadOnlySpan<float> gates, ReadOnlySpan<float> tanhC, ReadOnlySpan<float> cPrev, Span<float> dh,
                                     Span<float> dc, Span<float> da, Span<float> dcPrev, float flushThreshold)
    {
        int hs = dh.Length, j = 0;
        var gi = gates[..hs]; var gf = gates.Slice(hs, hs); var gg = gates.Slice(2 * hs, hs); var go = gates.Slice(3 * hs, hs);
        var di = da[..hs]; var df = da.Slice(hs, hs); var dg = da.Slice(2 * hs, hs); var dO = da.Slice(3 * hs, hs);
        var thr = Vector512.Create(flushThreshold);       // ≤ 0 flushes nothing (|x| < thr is never true)
        for (; j <= hs - Vector512<float>.Count; j += Vector512<float>.Count)
            BackwardBody<FullVector>(gi, gf, gg, go, tanhC, cPrev, dh, dc, di, df, dg, dO, dcPrev, thr, j);
        if (j < hs) BackwardBody<TailVector>(gi, gf, gg, go, tanhC, cPrev, dh, dc, di, df, dg, dO, dcPrev, thr, j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BackwardBody<TA>(ReadOnlySpan<float> gi, ReadOnlySpan<float> gf, ReadOnlySpan<float> gg, ReadOnlySpan<float> go,
                                         ReadOnlySpan<float> tanhC, ReadOnlySpan<float> cPrev, Span<float> dh, Span<float> dc,
                                         Span<float> di, Span<float> df, Span<float> dg, Span<float> dO, Span<float> dcPrev,
                                         Vector512<float> thr, int j) where TA : struct, IRowAccess
    {
        var one = Vector512<float>.One;
        var i = TA.Load(gi, j); var f = TA.Load(gf, j); var g = TA.Load(gg, j); var o = TA.Load(go, j);
        var tc = TA.Load(tanhC, j);
        var dhv = FlushBelow(TA.Load(dh, j), thr);
        TA.Store(dhv, dh, j);
        // inverts h_t = o ⊙ tanh(c_t): dc += dh ⊙ o ⊙ (1 − tanh²c)
        var dcv = FlushBelow(Vector512.FusedMultiplyAdd((one - tc * tc) * o, dhv, TA.Load(dc, j)), thr);
        TA.Store(dcv, dc, j);
        // da_o = (dh ⊙ tanh c) ⊙ o(1 − o)
        TA.Store(FlushBelow((one - o) * o * (dhv * tc), thr), dO, j);
        // inverts c_t = f ⊙ c_{t−1} + i ⊙ g: da_i = (dc ⊙ g) ⊙ i(1 − i), da_g = (dc ⊙ i) ⊙ (1 − g²), da_f = (dc ⊙ c_{t−1}) ⊙ f(1 − f)
        TA.Store(FlushBelow((one - i) * i * (dcv * g), thr), di, j);
        TA.Store(FlushBelow((one - g * g) * (dcv * i), thr), dg, j);
        TA.Store(FlushBelow((one - f) * f * (dcv * TA.Load(cPrev, j)), thr), df, j);
        TA.Store(dcv * f, dcPrev, j);                                           // ∂L/∂c_{t−1} from c_t
    }

    private static void CheckForward(int gates, int cPrev, int c, int tanhC, int h)
    {
        if (gates != 4 * c || cPrev != c || tanhC != c || h != c)
            throw new ArgumentException($"LstmKernels.ForwardRow: gates has {gates} elements (must be 4H), cPrev {cPrev}, c {c}, tanhC {tanhC}, h {h} (must all be H = {c}).");
    }

    private static void CheckBackward(int gates, int tanhC, int cPrev, int dh, int dc, int da, int dcPrev, int scratch)
    {
        if (gates != 4 * dh || da != 4 * dh || tanhC != dh || cPrev != dh || dc != dh || dcPrev != dh || scratch < dh)
            throw new ArgumentException($"LstmKernels.BackwardRow: gates {gates} and da {da} elements (must be 4H), tanhC {tanhC}, cPrev {cPrev}, dc {dc}, dcPrev {dcPrev} (must be H = {dh}), scratch {scratch} (must be ≥ H).");
    }
}

/// <summary>The small backward building blocks of the reference cell kernels (from their outputs y).</summary>
internal static class CellMath
{
    /// <summary>dst = dy ⊙ y ⊙ (1 − y) (sigmoid backward from its output y). dst must not alias y or dy.</summary>
    public static void SigmoidBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dst) where T : unmanaged, IFloatingPointIeee754<T>
    {
        TP.Subtract<T>(T.One, y, dst);     // 1 − y
        TP.Multiply<T>(dst, y, dst);       // y(1 − y)
        TP.Multiply<T>(dst, dy, dst);      // dy ⊙ y(1 − y)
    }

    /// <summary>dst = dy ⊙ (1 − y²) (tanh backward from its output y). dst must not alias y or dy.</summary>
    public static void TanhBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dst) where T : unmanaged, IFloatingPointIeee754<T>
    {
        TP.Multiply<T>(y, y, dst);         // y²
        TP.Subtract<T>(T.One, dst, dst);   // 1 − y²
        TP.Multiply<T>(dst, dy, dst);      // dy ⊙ (1 − y²)
    }

    /// <summary>x ← +0 where |x| &lt; threshold (threshold ≤ 0: nothing) — the layers' gradient flush.</summary>
    public static void Flush<T>(Span<T> x, T threshold) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (threshold > T.Zero) Subnormals.FlushBelow(x, threshold);
    }
}
