using Unroll.Tensors;

namespace Unroll.Checking;

/// <summary>Outcome of comparing an analytic gradient with a numerical one.</summary>
/// <param name="Name">The tensor checked (e.g. "Wx", "dx").</param>
/// <param name="MaxRelError">max over elements of |a − n| / max(|a|, |n|, floor).</param>
/// <param name="MaxAbsError">max over elements of |a − n|.</param>
/// <param name="WorstIndex">flat index of the element with the largest relative error (−1 if empty).</param>
/// <param name="Analytic">analytic value at <paramref name="WorstIndex"/>.</param>
/// <param name="Numeric">numerical value at <paramref name="WorstIndex"/>.</param>
public readonly record struct GradCheckResult(string Name, double MaxRelError, double MaxAbsError, int WorstIndex, double Analytic, double Numeric)
{
    public override string ToString() =>
        $"{Name}: max rel err {MaxRelError:E3} (abs {MaxAbsError:E3}) at [{WorstIndex}]: analytic {Analytic:G10} vs numeric {Numeric:G10}";
}

/// <summary>
/// Float64 gradient checking by central differences, reusable for any node, layer or model.
/// </summary>
/// <remarks>
/// Numerical trap: relative error explodes where both gradients are ~0 (e.g. saturated tanh, where the true
/// gradient is ~1e-17). The denominator is therefore floored at <c>floor = max(absFloor, relFloor · max_j |n_j|)</c>,
/// i.e. errors are relative to the magnitude of the tensor's gradient, not of one tiny element.
/// </remarks>
public static class GradCheck
{
    /// <summary>Default step: optimal for float64 central differences (error ~ eps² + 1e-16/eps).</summary>
    public const double DefaultEps = 1e-6;

    /// <summary>
    /// Perturbs every element of <paramref name="x"/> by ±eps, evaluates <paramref name="loss"/> (a full forward
    /// pass, from scratch, returning a scalar), restores it, and compares (L(x+eps) − L(x−eps)) / 2eps with
    /// <paramref name="analytic"/> (same length as x).
    /// </summary>
    public static GradCheckResult Check(string name, Func<double> loss, Tensor<double> x, ReadOnlySpan<double> analytic,
                                        double eps = DefaultEps, double relFloor = 1e-3, double absFloor = 1e-10)
    {
        if (analytic.Length != x.Length)
            throw new ArgumentException($"GradCheck({name}): analytic gradient has {analytic.Length} elements, tensor has {x.Length}.");
        var numeric = Numeric(loss, x, eps);
        return Compare(name, analytic, numeric, relFloor, absFloor);
    }

    /// <summary>The central-difference gradient of <paramref name="loss"/> with respect to <paramref name="x"/>.</summary>
    public static double[] Numeric(Func<double> loss, Tensor<double> x, double eps = DefaultEps)
    {
        var numeric = new double[x.Length];
        var s = x.Buffer;
        for (int i = 0; i < x.Length; i++)
        {
            int idx = x.Offset + i;
            double orig = s[idx];
            s[idx] = orig + eps; double lp = loss();
            s[idx] = orig - eps; double lm = loss();
            s[idx] = orig;
            numeric[i] = (lp - lm) / (2 * eps);
        }
        return numeric;
    }

    /// <summary>Compares two gradients with the magnitude-relative error described on the class.</summary>
    public static GradCheckResult Compare(string name, ReadOnlySpan<double> analytic, ReadOnlySpan<double> numeric,
                                          double relFloor = 1e-3, double absFloor = 1e-10)
    {
        if (analytic.Length != numeric.Length)
            throw new ArgumentException($"GradCheck.Compare({name}): {analytic.Length} vs {numeric.Length} elements.");
        double scale = 0;
        for (int i = 0; i < numeric.Length; i++) scale = Math.Max(scale, Math.Max(Math.Abs(numeric[i]), Math.Abs(analytic[i])));
        double floor = Math.Max(absFloor, relFloor * scale);
        double maxRel = 0, maxAbs = 0; int worst = -1;
        for (int i = 0; i < analytic.Length; i++)
        {
            double a = analytic[i], n = numeric[i];
            double abs = Math.Abs(a - n);
            double rel = abs / Math.Max(Math.Max(Math.Abs(a), Math.Abs(n)), floor);
            if (double.IsNaN(rel)) rel = double.PositiveInfinity;
            if (rel > maxRel || worst < 0) { if (rel >= maxRel) { maxRel = rel; worst = i; } }
            maxAbs = Math.Max(maxAbs, abs);
        }
        return worst < 0
            ? new GradCheckResult(name, 0, 0, -1, 0, 0)
            : new GradCheckResult(name, maxRel, maxAbs, worst, analytic[worst], numeric[worst]);
    }

    /// <summary>The random-upstream loss L = sum(out ⊙ dout): its gradient with respect to out is dout.</summary>
    public static double UpstreamLoss(Tensor<double> output, Tensor<double> dout)
    {
        if (output.Length != dout.Length)
            throw new ArgumentException($"GradCheck.UpstreamLoss: out {output.ShapeString} vs dout {dout.ShapeString}.");
        double s = 0;
        var o = output.Span; var d = dout.Span;
        for (int i = 0; i < o.Length; i++) s += o[i] * d[i];
        return s;
    }

    /// <summary>A tensor of the given shape filled with N(0, scale²) samples from <paramref name="rng"/>.</summary>
    public static Tensor<double> RandomTensor(Rng rng, double scale, params int[] shape)
    {
        var t = new Tensor<double>(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = rng.NextGaussian() * scale;
        return t;
    }
}
