using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Unroll.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Nodes;

/// <summary>
/// Softmax + cross-entropy kernels on flat row-major (n × v) spans, shared by <see cref="SoftmaxWithLoss{T}"/> and
/// <see cref="TimeSoftmaxWithLoss{T}"/>. Each fast kernel has a plain reference kernel with the same signature
/// (scalar loops accumulated in double) that the tests compare it with.
/// </summary>
/// <remarks>
/// Stability: each row is shifted by its maximum before exponentiating, so every exponent is ≤ 0, the row sum s is
/// ≥ 1, and log(s) is never log(0). The loss of a row is (max − x_t) + log(s): finite for any finite logits, even ±1e4, as long as the loss
/// itself fits the type (max − x_t below ~3.4e38 in float)
/// (where the probabilities of the small logits underflow to exactly 0 — through subnormals, e^(−88…−103) in float,
/// e^(−708…−745) in double; with the AVX-512 float kernel such probabilities are exactly 0, never subnormal). Non-finite logits (NaN or +∞ in a row) give NaN in that row's loss and probabilities.
/// A target equal to <c>ignoreIndex</c> contributes neither loss nor gradient (its gradient row is 0).
/// Targets must already be validated (in [0, v) or equal to ignoreIndex) — see <see cref="CheckTargets"/>.
/// </remarks>
public static class SoftmaxCrossEntropy
{
    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="node"/> for a target outside [0, v) that is not <paramref name="ignoreIndex"/>. Returns the number of non-ignored targets.</summary>
    public static int CheckTargets(string node, ReadOnlySpan<int> targets, int v, int ignoreIndex)
    {
        int count = 0;
        for (int i = 0; i < targets.Length; i++)
        {
            int t = targets[i];
            if (t == ignoreIndex) continue;
            if ((uint)t >= (uint)v)
                throw new ArgumentException($"{node}: target {t} at position {i} is outside [0, {v}) and is not the ignore index {ignoreIndex}.");
            count++;
        }
        return count;
    }

    /// <summary>
    /// Fused forward: writes softmax(logits row) into <paramref name="probs"/> (n × v; the exponentials are computed
    /// directly in <paramref name="probs"/>, no copy of the logits) and returns Σ over non-ignored rows of
    /// −log softmax(x)[t]. <paramref name="count"/> = number of non-ignored rows.
    /// </summary>
    public static double Forward<T>(ReadOnlySpan<T> logits, int n, int v, ReadOnlySpan<int> targets, int ignoreIndex,
                                    Span<T> probs, out int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSizes(logits.Length, n, v, targets.Length, probs.Length);
        double loss = 0; count = 0;
        for (int r = 0; r < n; r++)
        {
            var x = logits.Slice(r * v, v);
            var p = probs.Slice(r * v, v);
            if (v == 0) continue;
            T max = TP.Max<T>(x);
            T sum = ExpShiftedSum(x, max, p);         // p = e^(x − max) ∈ [0, 1] (max element gives 1), sum ≥ 1
            TP.Multiply<T>(p, T.One / sum, p);        // softmax
            int t = targets[r];
            if (t == ignoreIndex) continue;
            loss += double.CreateTruncating(max - x[t]) + double.CreateTruncating(T.Log(sum));
            count++;
        }
        return loss;
    }

    /// <summary>Reference for <see cref="Forward{T}"/>: same signature and result, plain loops in double.</summary>
    public static double ForwardReference<T>(ReadOnlySpan<T> logits, int n, int v, ReadOnlySpan<int> targets, int ignoreIndex,
                                             Span<T> probs, out int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSizes(logits.Length, n, v, targets.Length, probs.Length);
        double loss = 0; count = 0;
        for (int r = 0; r < n; r++)
        {
            if (v == 0) continue;
            double max = double.NegativeInfinity;
            for (int j = 0; j < v; j++) max = Math.Max(max, double.CreateTruncating(logits[r * v + j]));
            double sum = 0;
            for (int j = 0; j < v; j++) sum += Math.Exp(double.CreateTruncating(logits[r * v + j]) - max);
            for (int j = 0; j < v; j++) probs[r * v + j] = T.CreateTruncating(Math.Exp(double.CreateTruncating(logits[r * v + j]) - max) / sum);
            int t = targets[r];
            if (t == ignoreIndex) continue;
            loss += max - double.CreateTruncating(logits[r * v + t]) + Math.Log(sum);
            count++;
        }
        return loss;
    }

    /// <summary>
    /// Backward from probabilities: dlogits = scale · (probs − onehot(t)) for non-ignored rows, 0 for ignored rows
    /// (one pass over probs; scale is usually dloss / count).
    /// </summary>
    public static void Backward<T>(ReadOnlySpan<T> probs, int n, int v, ReadOnlySpan<int> targets, int ignoreIndex,
                                   T scale, Span<T> dlogits) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSizes(probs.Length, n, v, targets.Length, dlogits.Length);
        for (int r = 0; r < n; r++)
        {
            var d = dlogits.Slice(r * v, v);
            int t = targets[r];
            if (t == ignoreIndex) { d.Clear(); continue; }
            TP.Multiply<T>(probs.Slice(r * v, v), scale, d);
            d[t] -= scale;
        }
    }

    /// <summary>Reference for <see cref="Backward{T}"/>: same signature and result, plain loops.</summary>
    public static void BackwardReference<T>(ReadOnlySpan<T> probs, int n, int v, ReadOnlySpan<int> targets, int ignoreIndex,
                                            T scale, Span<T> dlogits) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSizes(probs.Length, n, v, targets.Length, dlogits.Length);
        for (int r = 0; r < n; r++)
            for (int j = 0; j < v; j++)
            {
                int t = targets[r];
                dlogits[r * v + j] = t == ignoreIndex ? T.Zero : scale * (probs[r * v + j] - (j == t ? T.One : T.Zero));
            }
    }

    /// <summary>
    /// Fused softmax + cross-entropy + gradient in one pass per row, with no probability buffer: the exponentials are
    /// written straight into <paramref name="dlogits"/> and turned into dloss/count · (softmax − onehot(t)).
    /// Returns the mean loss over the non-ignored rows (0 when all are ignored); <paramref name="count"/> = their number.
    /// <paramref name="dlogits"/> may be the same memory as <paramref name="logits"/> (in place: each row's target logit
    /// is read before the row is overwritten), which saves a buffer the size of the logits and its memory traffic.
    /// </summary>
    public static double LossAndGradient<T>(ReadOnlySpan<T> logits, int n, int v, ReadOnlySpan<int> targets, int ignoreIndex,
                                            T dloss, Span<T> dlogits, out int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSizes(logits.Length, n, v, targets.Length, dlogits.Length);
        count = 0;
        for (int r = 0; r < n; r++) if (targets[r] != ignoreIndex) count++;
        T scale = count == 0 ? T.Zero : dloss / T.CreateTruncating(count);
        double loss;
        int parts = (long)n * v >= ParallelMinElements ? Math.Min(Math.Min(Gemm.Threads, n), LossWork<T>.MaxParts) : 1;
        if (parts > 1) loss = LossAndGradientParallel(logits, n, v, targets, ignoreIndex, scale, dlogits, parts);
        else loss = LossAndGradientRows(logits, v, targets, ignoreIndex, scale, dlogits, 0, n);
        return count == 0 ? 0 : loss / count;
    }

    /// <summary>
    /// <see cref="LossAndGradient{T}"/> spreads its rows over <see cref="Gemm.Threads"/> threads (the GEMM's worker
    /// pool) when the logits have at least this many elements (e.g. 700 × 10000 of a language model's output layer).
    /// Each row is computed the same way whatever the split, so the gradient does not depend on the thread count (the
    /// loss only in the order of the partial sums).
    /// </summary>
    public const long ParallelMinElements = 1L << 17;

    /// <summary>Rows [r0, r1): writes their gradient rows, returns Σ of their losses (not divided by count).</summary>
    private static double LossAndGradientRows<T>(ReadOnlySpan<T> logits, int v, ReadOnlySpan<int> targets, int ignoreIndex,
                                                 T scale, Span<T> dlogits, int r0, int r1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double loss = 0;
        for (int r = r0; r < r1; r++)
        {
            var d = dlogits.Slice(r * v, v);
            int t = targets[r];
            if (t == ignoreIndex) { d.Clear(); continue; }
            var x = logits.Slice(r * v, v);
            T max = Max(x), xt = x[t];                // read before d (possibly x itself) is overwritten
            T sum = ExpShiftedSum(x, max, d);         // d = e^(x − max), sum = Σ d (one pass)
            TP.Multiply<T>(d, scale / sum, d);        // scale · softmax
            d[t] -= scale;
            loss += double.CreateTruncating(max - xt) + double.CreateTruncating(T.Log(sum));
        }
        return loss;
    }

    private static unsafe double LossAndGradientParallel<T>(ReadOnlySpan<T> logits, int n, int v, ReadOnlySpan<int> targets, int ignoreIndex,
                                                            T scale, Span<T> dlogits, int parts) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var work = LossWork<T>.Current ??= new LossWork<T>();
        fixed (T* px = logits, pd = dlogits)
        fixed (int* pt = targets)
        {
            work.Set(px, pd, pt, n, v, ignoreIndex, scale);
            try
            {
                if (!GemmWorkers.Shared.TryRun(work, parts))                 // pool busy (another caller): run here
                    return LossAndGradientRows(logits, v, targets, ignoreIndex, scale, dlogits, 0, n);
            }
            finally { work.Clear(); }
            double loss = 0;
            for (int p = 0; p < parts; p++) loss += work.Loss[p];          // fixed order: same thread count, same loss
            return loss;
        }
    }

    /// <summary>The rows of one <see cref="LossAndGradient{T}"/> call as pool work (one per calling thread, reused).</summary>
    private sealed unsafe class LossWork<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
    {
        public const int MaxParts = 64;
        [ThreadStatic] public static LossWork<T>? Current;
        public readonly double[] Loss = new double[MaxParts];
        private T* _x, _d;
        private int* _t;
        private int _n, _v, _ignore;
        private T _scale;

        public void Set(T* x, T* d, int* t, int n, int v, int ignore, T scale)
        {
            _x = x; _d = d; _t = t; _n = n; _v = v; _ignore = ignore; _scale = scale;
        }

        public void Clear() { _x = _d = null; _t = null; }

        public void RunPart(int part, int parts)
        {
            int r0 = (int)((long)_n * part / parts), r1 = (int)((long)_n * (part + 1) / parts);
            long len = (long)_n * _v;
            Loss[part] = LossAndGradientRows(new ReadOnlySpan<T>(_x, (int)len), _v, new ReadOnlySpan<int>(_t, _n), _ignore, _scale,
                                             new Span<T>(_d, (int)len), r0, r1);
        }
    }

    /// <summary>
    /// Fused SIMD kernel: <paramref name="d"/>[i] = e^(x[i] − <paramref name="shift"/>) and returns Σ d[i], in one
    /// pass (instead of subtract, exp and sum passes). float: <see cref="ExpF"/> (AVX-512, ≤ 2 ulp; results below
    /// float's smallest normal, i.e. arguments below −87.34, are 0 rather than subnormal; above 88.72 +∞);
    /// double: Vector512/Vector256 Exp; other types (and the tail) the scalar exp. <paramref name="d"/> may alias <paramref name="x"/>.
    /// </summary>
    public static T ExpShiftedSum<T>(ReadOnlySpan<T> x, T shift, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (d.Length != x.Length) throw new ArgumentException($"ExpShiftedSum: x has {x.Length} elements, d has {d.Length}.");
        if (typeof(T) == typeof(float))
        {
            float s = ExpShiftedSumF(MemoryMarshal.Cast<T, float>(x), Unsafe.As<T, float>(ref shift), MemoryMarshal.Cast<T, float>(d));
            return Unsafe.As<float, T>(ref s);
        }
        if (typeof(T) == typeof(double))
        {
            double s = ExpShiftedSumD(MemoryMarshal.Cast<T, double>(x), Unsafe.As<T, double>(ref shift), MemoryMarshal.Cast<T, double>(d));
            return Unsafe.As<double, T>(ref s);
        }
        return ExpShiftedSumReference(x, shift, d);
    }

    /// <summary>Reference for <see cref="ExpShiftedSum{T}"/>: d[i] = e^(x[i] − shift) by the scalar exp, summed in order.</summary>
    public static T ExpShiftedSumReference<T>(ReadOnlySpan<T> x, T shift, Span<T> d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (d.Length != x.Length) throw new ArgumentException($"ExpShiftedSum: x has {x.Length} elements, d has {d.Length}.");
        T sum = T.Zero;
        for (int i = 0; i < x.Length; i++) { d[i] = T.Exp(x[i] - shift); sum += d[i]; }
        return sum;
    }

    private static float ExpShiftedSumF(ReadOnlySpan<float> x, float shift, Span<float> d)
    {
        int i = 0, len = x.Length;
        float sum = 0;
        ref float x0 = ref MemoryMarshal.GetReference(x);
        ref float d0 = ref MemoryMarshal.GetReference(d);
        if (Vector512.IsHardwareAccelerated && len >= Vector512<float>.Count)
        {
            var vs = Vector512.Create(shift);
            Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
            for (; i <= len - 2 * Vector512<float>.Count; i += 2 * Vector512<float>.Count)
            {
                var e0 = ExpF(Vector512.LoadUnsafe(ref x0, (nuint)i) - vs);
                var e1 = ExpF(Vector512.LoadUnsafe(ref x0, (nuint)(i + Vector512<float>.Count)) - vs);
                e0.StoreUnsafe(ref d0, (nuint)i);
                e1.StoreUnsafe(ref d0, (nuint)(i + Vector512<float>.Count));
                acc0 += e0; acc1 += e1;
            }
            for (; i <= len - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var e = ExpF(Vector512.LoadUnsafe(ref x0, (nuint)i) - vs);
                e.StoreUnsafe(ref d0, (nuint)i);
                acc0 += e;
            }
            if (i < len)
            {
                // the tail as one vector over the last 16 elements, counting and storing only the new ones: the
                // lanes before i keep what is in d (with d = x, in place, x there is already overwritten)
                int j = len - Vector512<float>.Count;
                var e = ExpF(Vector512.LoadUnsafe(ref x0, (nuint)j) - vs);
                var keep = Vector512.GreaterThanOrEqual(Vector512<int>.Indices, Vector512.Create(i - j)).AsSingle();
                acc0 += Vector512.BitwiseAnd(e, keep);
                Vector512.ConditionalSelect(keep, e, Vector512.LoadUnsafe(ref d0, (nuint)j)).StoreUnsafe(ref d0, (nuint)j);
                i = len;
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Vector256.IsHardwareAccelerated && len >= Vector256<float>.Count)
        {
            var vs = Vector256.Create(shift);
            var acc = Vector256<float>.Zero;
            for (; i <= len - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var e = Vector256.Exp(Vector256.LoadUnsafe(ref x0, (nuint)i) - vs);
                e.StoreUnsafe(ref d0, (nuint)i);
                acc += e;
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < len; i++) { float e = MathF.Exp(x[i] - shift); d[i] = e; sum += e; }
        return sum;
    }

    /// <summary>e^x for 16 floats: <see cref="SimdMath.ExpF"/> (≤ 2 ulp; below −87.3365 → 0, above 88.7228 → +∞, NaN → NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpF(Vector512<float> x) => SimdMath.ExpF(x);

    /// <summary>
    /// The largest element (fast SIMD max without IEEE NaN ordering: when <paramref name="x"/> holds a NaN the result
    /// may or may not be NaN — the softmax kernels still give NaN then, because e^(NaN − max) is NaN).
    /// Empty spans give −∞.
    /// </summary>
    public static T Max<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(float) || !Vector512.IsHardwareAccelerated || x.Length < 64)
            return x.Length == 0 ? T.NegativeInfinity : TP.Max<T>(x);
        var xf = MemoryMarshal.Cast<T, float>(x);
        ref float x0 = ref MemoryMarshal.GetReference(xf);
        int i = 0, len = xf.Length, w = Vector512<float>.Count;
        Vector512<float> m0 = Vector512.LoadUnsafe(ref x0), m1 = m0, m2 = m0, m3 = m0;
        for (; i <= len - 4 * w; i += 4 * w)
        {
            m0 = Vector512.MaxNative(m0, Vector512.LoadUnsafe(ref x0, (nuint)i));
            m1 = Vector512.MaxNative(m1, Vector512.LoadUnsafe(ref x0, (nuint)(i + w)));
            m2 = Vector512.MaxNative(m2, Vector512.LoadUnsafe(ref x0, (nuint)(i + 2 * w)));
            m3 = Vector512.MaxNative(m3, Vector512.LoadUnsafe(ref x0, (nuint)(i + 3 * w)));
        }
        for (; i <= len - w; i += w) m0 = Vector512.MaxNative(m0, Vector512.LoadUnsafe(ref x0, (nuint)i));
        m0 = Vector512.MaxNative(Vector512.MaxNative(m0, m1), Vector512.MaxNative(m2, m3));
        m0 = Vector512.MaxNative(m0, Vector512.LoadUnsafe(ref x0, (nuint)(len - w)));     // the tail (overlapping)
        float m = m0[0];
        for (int k = 1; k < w; k++) m = MathF.Max(m, m0[k]);
        return Unsafe.As<float, T>(ref m);
    }

    /// <summary>Reference for <see cref="Max{T}"/>: a plain loop (−∞ for an empty span).</summary>
    public static T MaxReference<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T m = T.NegativeInfinity;
        for (int i = 0; i < x.Length; i++) if (x[i] > m || T.IsNaN(x[i])) m = x[i];
        return m;
    }

    private static double ExpShiftedSumD(ReadOnlySpan<double> x, double shift, Span<double> d)
    {
        int i = 0, len = x.Length;
        double sum = 0;
        ref double x0 = ref MemoryMarshal.GetReference(x);
        ref double d0 = ref MemoryMarshal.GetReference(d);
        if (Vector512.IsHardwareAccelerated && len >= Vector512<double>.Count)
        {
            var vs = Vector512.Create(shift);
            var acc = Vector512<double>.Zero;
            for (; i <= len - Vector512<double>.Count; i += Vector512<double>.Count)
            {
                var e = Vector512.Exp(Vector512.LoadUnsafe(ref x0, (nuint)i) - vs);
                e.StoreUnsafe(ref d0, (nuint)i);
                acc += e;
            }
            sum = Vector512.Sum(acc);
        }
        else if (Vector256.IsHardwareAccelerated && len >= Vector256<double>.Count)
        {
            var vs = Vector256.Create(shift);
            var acc = Vector256<double>.Zero;
            for (; i <= len - Vector256<double>.Count; i += Vector256<double>.Count)
            {
                var e = Vector256.Exp(Vector256.LoadUnsafe(ref x0, (nuint)i) - vs);
                e.StoreUnsafe(ref d0, (nuint)i);
                acc += e;
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < len; i++) { double e = Math.Exp(x[i] - shift); d[i] = e; sum += e; }
        return sum;
    }

    /// <summary>Reference for <see cref="LossAndGradient{T}"/>: same signature and result, plain loops in double.</summary>
    public static double LossAndGradientReference<T>(ReadOnlySpan<T> logits, int n, int v, ReadOnlySpan<int> targets, int ignoreIndex,
                                                     T dloss, Span<T> dlogits, out int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSizes(logits.Length, n, v, targets.Length, dlogits.Length);
        count = 0;
        for (int r = 0; r < n; r++) if (targets[r] != ignoreIndex) count++;
        double scale = count == 0 ? 0 : double.CreateTruncating(dloss) / count;
        double loss = 0;
        for (int r = 0; r < n; r++)
        {
            int t = targets[r];
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < v; j++) max = Math.Max(max, double.CreateTruncating(logits[r * v + j]));
            for (int j = 0; j < v; j++) sum += Math.Exp(double.CreateTruncating(logits[r * v + j]) - max);
            for (int j = 0; j < v; j++)
            {
                double p = Math.Exp(double.CreateTruncating(logits[r * v + j]) - max) / sum;
                dlogits[r * v + j] = t == ignoreIndex ? T.Zero : T.CreateTruncating(scale * (p - (j == t ? 1.0 : 0.0)));
            }
            if (t != ignoreIndex) loss += max - double.CreateTruncating(logits[r * v + t]) + Math.Log(sum);
        }
        return count == 0 ? 0 : loss / count;
    }

    private static void CheckSizes(int xLen, int n, int v, int tLen, int outLen)
    {
        if (n < 0 || v < 0 || xLen != n * v || outLen != n * v || tLen != n)
            throw new ArgumentException($"SoftmaxCrossEntropy: n={n}, v={v} but logits have {xLen}, output {outLen} elements and targets {tLen}.");
    }
}
