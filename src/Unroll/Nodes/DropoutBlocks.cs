using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Unroll.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Nodes;

/// <summary>
/// The fast paths of <see cref="Dropout{T}"/>: the float mask (on AVX-512 16 elements per step from 8 SplitMix64
/// hashes in 64-bit lanes, element by element elsewhere) and the backward product dx = dy ⊙ m, both cut into blocks of <see cref="BlockElements"/>
/// that run on the GEMM worker pool when large. Every element's result depends only on the key and its index, so
/// any split — and <see cref="Dropout{T}.MaskAndApplyReference"/> — gives the same bits.
/// </summary>
internal sealed unsafe class DropoutBlocks<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Elements per block (even: a block starts at an element pair).</summary>
    internal const int BlockElements = 1 << 16;
    /// <summary>Below this many elements the work runs on the calling thread.</summary>
    internal const int ParallelMinElements = 1 << 18;

    /// <summary>The vectorised mask needs AVX-512 with 64-bit multiplies (AVX-512DQ); settable so tests cover the
    /// element-by-element blocks too (both give the same bits, so switching never changes a result).</summary>
    internal static bool Simd { get; set; } = Vector512.IsHardwareAccelerated && Avx512DQ.IsSupported;

    [ThreadStatic] private static DropoutBlocks<T>? t_work;
    private T* _x, _m, _y;
    private int _n;
    private ulong _key;
    private uint _threshold;
    private float _keep;
    private bool _multiply;

    /// <summary>m = mask(κ, threshold, keep), y = x ⊙ m for float (see <see cref="Dropout{T}.MaskAndApply"/>).</summary>
    public static void Mask(ulong key, uint threshold, float keep, ReadOnlySpan<T> x, Span<T> m, Span<T> y)
    {
        fixed (T* px = x, pm = m, py = y)
        {
            if (!Run(px, pm, py, x.Length, key, threshold, keep, multiply: false))
                MaskRange(key, threshold, keep, (float*)px, (float*)pm, (float*)py, 0, x.Length);
        }
    }

    /// <summary>c = a ⊙ b (the backward of a mask), in blocks on the pool when large.</summary>
    public static void Multiply(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> c)
    {
        if (b.Length != a.Length || c.Length != a.Length)
            throw new ArgumentException($"Dropout: dy has {a.Length} elements, the mask {b.Length}, dx {c.Length}.");
        fixed (T* pa = a, pb = b, pc = c)
        {
            if (!Run(pa, pb, pc, a.Length, 0, 0, 0, multiply: true)) TP.Multiply<T>(a, b, c);
        }
    }

    /// <summary>Runs the blocks on the pool; false (nothing done) when the work is small or the pool is busy.</summary>
    private static bool Run(T* x, T* m, T* y, int n, ulong key, uint threshold, float keep, bool multiply)
    {
        if (n < ParallelMinElements || Gemm.Threads < 2) return false;
        var w = t_work ??= new DropoutBlocks<T>();
        w._x = x; w._m = m; w._y = y; w._n = n; w._key = key; w._threshold = threshold; w._keep = keep; w._multiply = multiply;
        try
        {
            return GemmWorkers.Shared.TryRun(w, (n + BlockElements - 1) / BlockElements, helpers: Gemm.Threads - 1);
        }
        finally { w._x = w._m = w._y = null; }
    }

    /// <summary>Block <paramref name="part"/> (called by the pool).</summary>
    public void RunPart(int part, int parts)
    {
        int i0 = part * BlockElements, i1 = Math.Min(_n, i0 + BlockElements);
        if (_multiply)   // here _x = dy, _m = the mask, _y = dx
            TP.Multiply<T>(new ReadOnlySpan<T>(_x + i0, i1 - i0), new ReadOnlySpan<T>(_m + i0, i1 - i0), new Span<T>(_y + i0, i1 - i0));
        else MaskRange(_key, _threshold, _keep, (float*)_x, (float*)_m, (float*)_y, i0, i1);
    }

    /// <summary>Elements [i0, i1) of the float mask (i0 even): 16 per step, then the tail element by element.</summary>
    private static void MaskRange(ulong key, uint threshold, float keep, float* x, float* m, float* y, int i0, int i1)
    {
        int i = i0;
        if (Simd && i1 - i0 >= 16)
        {
            // z of pairs k … k+7 = κ + (k + 1 … k + 8)·φ, advanced by 8φ per step (wrapping, as in Dropout.Hash)
            var z = Vector512.Create(key) + (Vector512.Create((ulong)(i0 >> 1)) + Vector512.Create(1UL, 2, 3, 4, 5, 6, 7, 8)) * Vector512.Create(Dropout<T>.Golden);
            var step = Vector512.Create(unchecked(8 * Dropout<T>.Golden));
            var c1 = Vector512.Create(0xBF58476D1CE4E5B9UL);
            var c2 = Vector512.Create(0x94D049BB133111EBUL);
            var thr = Vector512.Create(threshold);
            var keepV = Vector512.Create(keep);
            for (; i <= i1 - 16; i += 16, z += step)
            {
                var h = (z ^ Vector512.ShiftRightLogical(z, 30)) * c1;
                h = (h ^ Vector512.ShiftRightLogical(h, 27)) * c2;
                h ^= Vector512.ShiftRightLogical(h, 31);
                var drop = Vector512.LessThan(h.AsUInt32(), thr).AsSingle();     // uint 2j = low half of lane j (little-endian)
                var mv = Vector512.ConditionalSelect(drop, Vector512<float>.Zero, keepV);
                mv.Store(m + i);
                (Vector512.Load(x + i) * mv).Store(y + i);
            }
        }
        for (; i < i1; i++)
        {
            float mi = Dropout<T>.Bits(key, i) < threshold ? 0f : keep;
            m[i] = mi;
            y[i] = x[i] * mi;
        }
    }
}
