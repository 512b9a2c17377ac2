using System.Numerics;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Optim;

/// <summary>Gradient clipping (as torch.nn.utils.clip_grad_norm_ / clip_grad_value_ and the textbook's clip_grads).</summary>
public static class GradClip
{
    /// <summary>
    /// The global L2 norm of all gradients, ‖g‖ = √(Σ_p Σ_i g²), accumulated in double; a parameter listed twice
    /// (tied) counts once. The elements are summed in fixed blocks (<see cref="ParameterSweep"/>) whose partial sums
    /// are added in a fixed order, spread over <see cref="Kernels.Gemm.Threads"/> cores for large models: the result
    /// does not depend on the thread count or timing. Short runs of float squares are summed in double
    /// (<see cref="ParameterSweep.SquaredSum{T}"/>: relative error ~1e-7 or better, where the former float
    /// accumulator of TP.Norm erred by 3.5e-5 on C2's 13 M gradients), and a finite gradient gives a finite norm (up
    /// to ~1e308); NaN anywhere gives NaN, ±∞ gives +∞.
    /// </summary>
    public static double GlobalNorm<T>(IReadOnlyList<Parameter<T>> ps) where T : unmanaged, IFloatingPointIeee754<T>
        => Math.Sqrt(ParameterSweep.SumOfSquares(ps));

    /// <summary>Plain reference of <see cref="GlobalNorm{T}"/>: Σ g² in double, element by element, parameter by parameter.</summary>
    internal static double GlobalNormReference<T>(IReadOnlyList<Parameter<T>> ps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        for (int i = 0; i < ps.Count; i++)
        {
            if (ParameterSweep.IsRepeat(ps, i)) continue;
            sum += ParameterSweep.SquaredSumReference<T>(ps[i].Grad.Span);
        }
        return Math.Sqrt(sum);
    }

    /// <summary>
    /// The factor clipping applies to the gradients for a pre-clip global norm <paramref name="norm"/>:
    /// maxNorm / (norm + 1e-6) (PyTorch's and the textbook's coefficient) when norm &gt; maxNorm &gt; 0 and the norm is
    /// finite, else exactly 1 (no clipping). Pass it to <see cref="IOptimizer{T}.Step(IReadOnlyList{Parameter{T}}, double)"/>
    /// to clip inside the update.
    /// </summary>
    public static double ClipCoefficient(double norm, double maxNorm)
        => !double.IsFinite(norm) || maxNorm <= 0 || norm <= maxNorm ? 1.0 : maxNorm / (norm + 1e-6);

    /// <summary>
    /// If the global norm exceeds <paramref name="maxNorm"/>, scales every gradient by maxNorm / (norm + 1e-6)
    /// (PyTorch's and the textbook's coefficient, <see cref="ClipCoefficient"/>). Returns the pre-clip norm. A
    /// non-finite norm (NaN/∞ gradient) is returned and nothing is changed: the caller must skip the update.
    /// <paramref name="maxNorm"/> ≤ 0 disables clipping (the norm is still returned). Both passes (norm, scale) are
    /// spread over the cores for large models (<see cref="ParameterSweep"/>).
    /// </summary>
    public static double ClipGlobalNorm<T>(IReadOnlyList<Parameter<T>> ps, double maxNorm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double norm = GlobalNorm(ps);
        if (!double.IsFinite(norm) || maxNorm <= 0 || norm <= maxNorm) return norm;
        ParameterSweep.Scale(ps, T.CreateTruncating(ClipCoefficient(norm, maxNorm)));   // g ← g · maxNorm/(‖g‖ + 1e-6)
        return norm;
    }

    /// <summary>Clamps every gradient element to [−<paramref name="clip"/>, +<paramref name="clip"/>] (NaN stays NaN).</summary>
    public static void ClipValue<T>(IReadOnlyList<Parameter<T>> ps, double clip) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(clip > 0)) throw new ArgumentException($"GradClip.ClipValue: clip must be > 0, got {clip}.");
        T hi = T.CreateTruncating(clip), lo = -hi;
        for (int i = 0; i < ps.Count; i++)
        {
            if (ParameterSweep.IsRepeat(ps, i)) continue;
            var g = ps[i].Grad.Span;
            TP.Min<T>(g, hi, g);
            TP.Max<T>(g, lo, g);
        }
    }
}
