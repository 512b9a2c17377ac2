using System.Numerics;
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
/// e^(−708…−745) in double). Non-finite logits (NaN or +∞ in a row) give NaN in that row's loss and probabilities.
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
            TP.Subtract<T>(x, max, p);              // x − max ≤ 0
            TP.Exp<T>(p, p);                          // e^(x − max) ∈ [0, 1], max element gives 1
            T sum = TP.Sum<T>(p);                     // ≥ 1
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
    /// </summary>
    public static double LossAndGradient<T>(ReadOnlySpan<T> logits, int n, int v, ReadOnlySpan<int> targets, int ignoreIndex,
                                            T dloss, Span<T> dlogits, out int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckSizes(logits.Length, n, v, targets.Length, dlogits.Length);
        count = 0;
        for (int r = 0; r < n; r++) if (targets[r] != ignoreIndex) count++;
        T scale = count == 0 ? T.Zero : dloss / T.CreateTruncating(count);
        double loss = 0;
        for (int r = 0; r < n; r++)
        {
            var d = dlogits.Slice(r * v, v);
            int t = targets[r];
            if (t == ignoreIndex) { d.Clear(); continue; }
            var x = logits.Slice(r * v, v);
            T max = TP.Max<T>(x);
            TP.Subtract<T>(x, max, d);
            TP.Exp<T>(d, d);
            T sum = TP.Sum<T>(d);
            TP.Multiply<T>(d, scale / sum, d);        // scale · softmax
            d[t] -= scale;
            loss += double.CreateTruncating(max - x[t]) + double.CreateTruncating(T.Log(sum));
        }
        return count == 0 ? 0 : loss / count;
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
