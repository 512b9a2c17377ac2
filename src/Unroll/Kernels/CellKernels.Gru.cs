using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static Unroll.Kernels.SimdMath;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Kernels;

/// <summary>
/// The elementwise part of one GRU step (PyTorch's form, gates [r|z|n]) for ONE batch row (H = hidden size), fused
/// into a single pass, forward and backward. Used by <c>Layers.TimeGRU</c> between the per-step GEMMs. Dispatch as in
/// <see cref="LstmKernels"/>: float on AVX-512 → one Vector512 pass (<see cref="SimdMath"/>'s σ and tanh, ≤ 2.4 and ≤ 1.3 ulp);
/// otherwise the reference kernel beside it (same signature, the TensorPrimitives sequence the layer ran before).
/// </summary>
/// <remarks>
/// NaN in → NaN in the outputs it feeds (both paths). The backward kernels contain no transcendental functions, so
/// fused and reference backward give the same values. Scratch spans are used only by the reference kernels.
/// </remarks>
public static class GruKernels
{
    /// <summary>
    /// Forward of one row. In: <paramref name="gates"/> (3H) = x_t·Wx + b; <paramref name="hProj"/> (3H) = h_{t−1}·Wh;
    /// <paramref name="bhN"/> (H); <paramref name="hPrev"/> (H) = h_{t−1}. Out: <paramref name="gates"/> = [r | z | n]
    /// post-activation with r, z = σ(gates + hProj), <paramref name="hn"/> (H) = hProj_n + bh_n,
    /// n = tanh(gates_n + r ⊙ hn); <paramref name="h"/> (H) = (1 − z) ⊙ n + z ⊙ h_{t−1}, computed as n + z ⊙ (h_{t−1} − n).
    /// <paramref name="scratch"/> (≥ H) is used only by the reference kernel. Outputs must not alias inputs.
    /// </summary>
    public static void ForwardRow<T>(Span<T> gates, ReadOnlySpan<T> hProj, ReadOnlySpan<T> bhN, ReadOnlySpan<T> hPrev, Span<T> hn, Span<T> h, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckForward(gates.Length, hProj.Length, bhN.Length, hPrev.Length, hn.Length, h.Length, scratch.Length);
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
            ForwardRowF(MemoryMarshal.Cast<T, float>(gates), MemoryMarshal.Cast<T, float>(hProj), MemoryMarshal.Cast<T, float>(bhN),
                        MemoryMarshal.Cast<T, float>(hPrev), MemoryMarshal.Cast<T, float>(hn), MemoryMarshal.Cast<T, float>(h));
        else ForwardRowReference(gates, hProj, bhN, hPrev, hn, h, scratch);
    }

    /// <summary>Reference for <see cref="ForwardRow{T}"/> (same contract): one TensorPrimitives pass per operation.</summary>
    public static void ForwardRowReference<T>(Span<T> gates, ReadOnlySpan<T> hProj, ReadOnlySpan<T> bhN, ReadOnlySpan<T> hPrev, Span<T> hn, Span<T> h, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckForward(gates.Length, hProj.Length, bhN.Length, hPrev.Length, hn.Length, h.Length, scratch.Length);
        int hs = h.Length, h2 = 2 * hs;
        if (hs == 0) return;                                  // (TensorPrimitives rejects empty spans)
        var g = gates; var a = hProj; var s1 = scratch[..hs];
        var rz = g[..h2];
        TP.Add<T>(rz, a[..h2], rz);
        TP.Sigmoid<T>(rz, rz);                                // r, z = σ(x·Wx + b + h·Wh)
        TP.Add<T>(a.Slice(h2, hs), bhN, hn);                  // hn = h·Wh_n + bh_n
        var gn = g.Slice(h2, hs);
        TP.FusedMultiplyAdd<T>(g[..hs], hn, gn, gn);
        TP.Tanh<T>(gn, gn);                                   // n = tanh(x·Wx_n + b_n + r ⊙ hn)
        TP.Subtract<T>(hPrev, gn, s1);
        TP.FusedMultiplyAdd<T>(g.Slice(hs, hs), s1, gn, h);   // h = n + z ⊙ (h_{t−1} − n)
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call: tier-0 Vector512 code is ~10x slower
    private static void ForwardRowF(Span<float> gates, ReadOnlySpan<float> hProj, ReadOnlySpan<float> bhN, ReadOnlySpan<float> hPrev, Span<float> hn, Span<float> h)
    {
        int hs = h.Length, j = 0;
        var gr = gates[..hs]; var gz = gates.Slice(hs, hs); var gn = gates.Slice(2 * hs, hs);
        var ar = hProj[..hs]; var az = hProj.Slice(hs, hs); var an = hProj.Slice(2 * hs, hs);
        for (; j <= hs - Vector512<float>.Count; j += Vector512<float>.Count) ForwardBody<FullVector>(gr, gz, gn, ar, az, an, bhN, hPrev, hn, h, j);
        if (j < hs) ForwardBody<TailVector>(gr, gz, gn, ar, az, an, bhN, hPrev, hn, h, j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ForwardBody<TA>(Span<float> gr, Span<float> gz, Span<float> gn, ReadOnlySpan<float> ar, ReadOnlySpan<float> az, ReadOnlySpan<float> an,
                                        ReadOnlySpan<float> bhN, ReadOnlySpan<float> hPrev, Span<float> hn, Span<float> h, int j) where TA : struct, IRowAccess
    {
        var r = SigmoidF(TA.Load(gr, j) + TA.Load(ar, j));                      // r, z = σ(x·Wx + b + h·Wh)
        var z = SigmoidF(TA.Load(gz, j) + TA.Load(az, j));
        var hnv = TA.Load(an, j) + TA.Load(bhN, j);                              // hn = h·Wh_n + bh_n
        var n = TanhF(Vector512.FusedMultiplyAdd(r, hnv, TA.Load(gn, j)));      // n = tanh(x·Wx_n + b_n + r ⊙ hn)
        TA.Store(r, gr, j); TA.Store(z, gz, j); TA.Store(n, gn, j);
        TA.Store(hnv, hn, j);
        TA.Store(Vector512.FusedMultiplyAdd(z, TA.Load(hPrev, j) - n, n), h, j);  // h = n + z ⊙ (h_{t−1} − n)
    }

    /// <summary>
    /// Backward of one row through the forward above. In: post-activation <paramref name="gates"/> (3H),
    /// <paramref name="hn"/> (H), <paramref name="hPrev"/> (H), <paramref name="dh"/> (H) = total ∂L/∂h_t.
    /// Out: <paramref name="dh"/> flushed in place; <paramref name="dxa"/> (3H) = [da_r | da_z | da_n], the gradient
    /// of x·Wx + b, flushed; <paramref name="dha"/> (3H) = [da_r | da_z | da_n ⊙ r], the gradient of
    /// h_{t−1}·Wh + [0|0|bh_n], flushed (its last H columns, summed over rows and steps, are ∂L/∂bh_n — the layer adds
    /// them after the loop); <paramref name="dhPrev"/> (H) += dh ⊙ z (the update-gate carry into ∂L/∂h_{t−1}).
    /// Flushing: magnitude below <paramref name="flushThreshold"/> → +0 (threshold ≤ 0: none).
    /// <paramref name="scratch1"/>, <paramref name="scratch2"/> (≥ H each) are used only by the reference kernel.
    /// No output may alias another span.
    /// </summary>
    public static void BackwardRow<T>(ReadOnlySpan<T> gates, ReadOnlySpan<T> hn, ReadOnlySpan<T> hPrev, Span<T> dh, Span<T> dxa, Span<T> dha,
                                      Span<T> dhPrev, T flushThreshold, Span<T> scratch1, Span<T> scratch2)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckBackward(gates.Length, hn.Length, hPrev.Length, dh.Length, dxa.Length, dha.Length, dhPrev.Length, scratch1.Length, scratch2.Length);
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
            BackwardRowF(MemoryMarshal.Cast<T, float>(gates), MemoryMarshal.Cast<T, float>(hn), MemoryMarshal.Cast<T, float>(hPrev),
                         MemoryMarshal.Cast<T, float>(dh), MemoryMarshal.Cast<T, float>(dxa), MemoryMarshal.Cast<T, float>(dha),
                         MemoryMarshal.Cast<T, float>(dhPrev), Unsafe.As<T, float>(ref flushThreshold));
        else BackwardRowReference(gates, hn, hPrev, dh, dxa, dha, dhPrev, flushThreshold, scratch1, scratch2);
    }

    /// <summary>Reference for <see cref="BackwardRow{T}"/> (same contract): one TensorPrimitives pass per operation.</summary>
    public static void BackwardRowReference<T>(ReadOnlySpan<T> gates, ReadOnlySpan<T> hn, ReadOnlySpan<T> hPrev, Span<T> dh, Span<T> dxa, Span<T> dha,
                                               Span<T> dhPrev, T flushThreshold, Span<T> scratch1, Span<T> scratch2)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckBackward(gates.Length, hn.Length, hPrev.Length, dh.Length, dxa.Length, dha.Length, dhPrev.Length, scratch1.Length, scratch2.Length);
        int hs = dh.Length, h2 = 2 * hs;
        if (hs == 0) return;                                  // (TensorPrimitives rejects empty spans)
        var g = gates;
        var rg = g[..hs]; var z = g.Slice(hs, hs); var nn = g.Slice(h2, hs);
        var hpr = hPrev; var dx = dxa; var dr = dha;
        var s1 = scratch1[..hs]; var s2 = scratch2[..hs];
        CellMath.Flush(dh, flushThreshold);
        // inverts h = (1 − z) ⊙ n + z ⊙ h_{t−1}:
        TP.Subtract<T>(T.One, z, s1);
        TP.Multiply<T>(s1, dh, s1);                           // dn = dh ⊙ (1 − z)
        CellMath.TanhBackward(nn, s1, dx.Slice(h2, hs));      // da_n = dn ⊙ (1 − n²)
        TP.Subtract<T>(hpr, nn, s2);
        TP.Multiply<T>(s2, dh, s2);                           // dz = dh ⊙ (h_{t−1} − n)
        CellMath.SigmoidBackward(z, s2, dx.Slice(hs, hs));    // da_z = dz ⊙ z(1 − z)
        // inverts n = tanh(a_n + r ⊙ hn):
        TP.Multiply<T>(dx.Slice(h2, hs), hn, s2);             // dr = da_n ⊙ hn
        CellMath.SigmoidBackward(rg, s2, dx[..hs]);           // da_r = dr ⊙ r(1 − r)
        dx[..h2].CopyTo(dr[..h2]);                            // r, z: same gradient on the h·Wh side
        TP.Multiply<T>(dx.Slice(h2, hs), rg, dr.Slice(h2, hs)); // ∂L/∂hn = da_n ⊙ r
        CellMath.Flush(dx, flushThreshold);
        CellMath.Flush(dr, flushThreshold);
        TP.FusedMultiplyAdd<T>(dh, z, dhPrev, dhPrev);        // ∂L/∂h_{t−1} += dh ⊙ z (update-gate carry)
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // fully optimised from the first call: tier-0 Vector512 code is ~10x slower
    private static void BackwardRowF(ReadOnlySpan<float> gates, ReadOnlySpan<float> hn, ReadOnlySpan<float> hPrev, Span<float> dh, Span<float> dxa,
                                     Span<float> dha, Span<float> dhPrev, float flushThreshold)
    {
        int hs = dh.Length, j = 0;
        var gr = gates[..hs]; var gz = gates.Slice(hs, hs); var gn = gates.Slice(2 * hs, hs);
        var xr = dxa[..hs]; var xz = dxa.Slice(hs, hs); var xn = dxa.Slice(2 * hs, hs);
        var hr = dha[..hs]; var hz = dha.Slice(hs, hs); var hnn = dha.Slice(2 * hs, hs);
        var thr = Vector512.Create(flushThreshold);       // ≤ 0 flushes nothing
        for (; j <= hs - Vector512<float>.Count; j += Vector512<float>.Count)
            BackwardBody<FullVector>(gr, gz, gn, hn, hPrev, dh, xr, xz, xn, hr, hz, hnn, dhPrev, thr, j);
        if (j < hs) BackwardBody<TailVector>(gr, gz, gn, hn, hPrev, dh, xr, xz, xn, hr, hz, hnn, dhPrev, thr, j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BackwardBody<TA>(ReadOnlySpan<float> gr, ReadOnlySpan<float> gz, ReadOnlySpan<float> gn, ReadOnlySpan<float> hn, ReadOnlySpan<float> hPrev,
                                         Span<float> dh, Span<float> xr, Span<float> xz, Span<float> xn, Span<float> hr, Span<float> hz, Span<float> hnn,
                                         Span<float> dhPrev, Vector512<float> thr, int j) where TA : struct, IRowAccess
    {
        var one = Vector512<float>.One;
        var r = TA.Load(gr, j); var z = TA.Load(gz, j); var n = TA.Load(gn, j);
        var dhv = FlushBelow(TA.Load(dh, j), thr);
        TA.Store(dhv, dh, j);
        // inverts h = (1 − z) ⊙ n + z ⊙ h_{t−1}: da_n = dh ⊙ (1 − z) ⊙ (1 − n²), da_z = dh ⊙ (h_{t−1} − n) ⊙ z(1 − z)
        var dan = (one - n * n) * ((one - z) * dhv);
        var daz = (one - z) * z * ((TA.Load(hPrev, j) - n) * dhv);
        // inverts n = tanh(a_n + r ⊙ hn): da_r = (da_n ⊙ hn) ⊙ r(1 − r), ∂L/∂hn = da_n ⊙ r
        var dar = FlushBelow((one - r) * r * (dan * TA.Load(hn, j)), thr);
        var dhn = FlushBelow(dan * r, thr);
        daz = FlushBelow(daz, thr);
        TA.Store(dar, xr, j); TA.Store(daz, xz, j); TA.Store(FlushBelow(dan, thr), xn, j);
        TA.Store(dar, hr, j); TA.Store(daz, hz, j); TA.Store(dhn, hnn, j);
        TA.Store(Vector512.FusedMultiplyAdd(dhv, z, TA.Load(dhPrev, j)), dhPrev, j); // ∂L/∂h_{t−1} += dh ⊙ z
    }

    private static void CheckForward(int gates, int hProj, int bhN, int hPrev, int hn, int h, int scratch)
    {
        if (gates != 3 * h || hProj != 3 * h || bhN != h || hPrev != h || hn != h || scratch < h)
            throw new ArgumentException($"GruKernels.ForwardRow: gates {gates}, hProj {hProj} elements (must be 3H), bhN {bhN}, hPrev {hPrev}, hn {hn} (must be H = {h}), scratch {scratch} (must be ≥ H).");
    }

    private static void CheckBackward(int gates, int hn, int hPrev, int dh, int dxa, int dha, int dhPrev, int s1, int s2)
    {
        if (gates != 3 * dh || dxa != 3 * dh || dha != 3 * dh || hn != dh || hPrev != dh || dhPrev != dh || s1 < dh || s2 < dh)
            throw new ArgumentException($"GruKernels.BackwardRow: gates {gates}, dxa {dxa}, dha {dha} elements (must be 3H), hn {hn}, hPrev {hPrev}, dhPrev {dhPrev} (must be H = {dh}), scratch {s1}, {s2} (must be ≥ H).");
    }
}
