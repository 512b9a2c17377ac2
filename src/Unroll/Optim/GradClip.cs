using System.Numerics;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Optim;

/// <summary>Gradient clipping (as torch.nn.utils.clip_grad_norm_ / clip_grad_value_ and the textbook's clip_grads).</summary>
public static class GradClip
{
    /// <summary>
    /// The global L2 norm of all gradients, ‖g‖ = √(Σ_p Σ_i g²), accumulated in double; a parameter listed twice
    /// (tied) counts once.
    /// </summary>
    public static double GlobalNorm<T>(IReadOnlyList<Parameter<T>> ps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        for (int i = 0; i < ps.Count; i++)
        {
            if (IsRepeat(ps, i)) continue;
            double n = double.CreateTruncating(TP.Norm<T>(ps[i].Grad.Span));
            sum += n * n;
        }
        return Math.Sqrt(sum);
    }

    /// <summary>
    /// If the global norm exceeds <paramref name="maxNorm"/>, scales every gradient by maxNorm / (norm + 1e-6)
    /// (PyTorch's and the textbook's coefficient). Returns the pre-clip norm. A non-finite norm (NaN/∞ gradient)
    /// is returned and nothing is changed: the caller must skip the update. <paramref name="maxNorm"/> ≤ 0 disables
    /// clipping (the norm is still returned).
    /// </summary>
    public static double ClipGlobalNorm<T>(IReadOnlyList<Parameter<T>> ps, double maxNorm) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double norm = GlobalNorm(ps);
        if (!double.IsFinite(norm) || maxNorm <= 0 || norm <= maxNorm) return norm;
        T scale = T.CreateTruncating(maxNorm / (norm + 1e-6));
        for (int i = 0; i < ps.Count; i++)
        {
            if (IsRepeat(ps, i)) continue;
            var g = ps[i].Grad.Span;
            TP.Multiply<T>(g, scale, g);                                  // g ← g · maxNorm/(‖g‖ + 1e-6)
        }
        return norm;
    }

    /// <summary>Clamps every gradient element to [−<paramref name="clip"/>, +<paramref name="clip"/>] (NaN stays NaN).</summary>
    public static void ClipValue<T>(IReadOnlyList<Parameter<T>> ps, double clip) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(clip > 0)) throw new ArgumentException($"GradClip.ClipValue: clip must be > 0, got {clip}.");
        T hi = T.CreateTruncating(clip), lo = -hi;
        for (int i = 0; i < ps.Count; i++)
        {
            if (IsRepeat(ps, i)) continue;
            var g = ps[i].Grad.Span;
            TP.Min<T>(g, hi, g);
            TP.Max<T>(g, lo, g);
        }
    }

    private static bool IsRepeat<T>(IReadOnlyList<Parameter<T>> ps, int i) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int j = 0; j < i; j++) if (ReferenceEquals(ps[j], ps[i])) return true;
        return false;
    }
}
