using Unroll.Checking;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>Helpers shared by the recurrent-layer tests (float64).</summary>
internal static class RecurrentTestUtil
{
    public const double Tol = 1e-6;

    /// <summary>A float64 layer with textbook init and random (non-zero) biases, so every term is exercised.</summary>
    public static IRecurrentLayer<double> MakeLayer(CellType cell, int d, int h, Rng rng, string name = "L")
    {
        var layer = RecurrentLayers.Create<double>(cell, d, h, rng, name: name);
        foreach (var p in layer.Parameters)
            if (p.Value.Rank == 1) Randomize(p.Value, rng, 0.5);
        return layer;
    }

    public static void Randomize(Tensor<double> t, Rng rng, double scale)
    {
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = rng.NextGaussian() * scale;
    }

    /// <summary>
    /// Central differences at steps h and 2h combined by Richardson extrapolation, (4·D(h) − D(2h))/3: the truncation
    /// error drops from O(h²) to O(h⁴), so h = 1e-4 keeps it below 1e-9 even for inputs of size 25 (the fifth
    /// derivative scales with |x|⁵), while the rounding noise of the quotient is ≈ ε·Σ|out ⊙ dout| / h.
    /// That noise is the resolution of ANY finite difference: the comparison floor is set so an element whose error
    /// is below it cannot fail (floor = noise / Tol); for gradients above the floor this is the plain relative test.
    /// <paramref name="lossMagnitude"/> is Σ|out ⊙ dout| at the unperturbed point (0 = no noise floor).
    /// </summary>
    public static GradCheckResult Check(string name, Func<double> loss, Tensor<double> x, ReadOnlySpan<double> analytic,
                                        double lossMagnitude = 0, double h = 1e-4)
    {
        var d1 = GradCheck.Numeric(loss, x, h);
        var d2 = GradCheck.Numeric(loss, x, 2 * h);
        var num = new double[d1.Length];
        for (int i = 0; i < num.Length; i++) num[i] = (4 * d1[i] - d2[i]) / 3;
        double noise = 2.2e-16 * lossMagnitude / h;
        return GradCheck.Compare(name, analytic, num, absFloor: Math.Max(1e-10, noise / Tol));
    }

    /// <summary>Σ|out ⊙ dout|, the magnitude that sets the rounding noise of the upstream loss.</summary>
    public static double LossMagnitude(Tensor<double> output, Tensor<double> dout)
    {
        double s = 0;
        var o = output.Span; var d = dout.Span;
        for (int i = 0; i < o.Length; i++) s += Math.Abs(o[i] * d[i]);
        return s;
    }

    public static void AssertOk(GradCheckResult r, string context) =>
        Assert.True(r.MaxRelError <= Tol, $"{context}: {r}");

    /// <summary>Columns [t0, t0+len) of an (N,T,W) tensor as a new (N,len,W) tensor.</summary>
    public static Tensor<double> TimeSlice(Tensor<double> x, int t0, int len)
    {
        int n = x.Dim(0), t = x.Dim(1), w = x.Dim(2);
        var y = new Tensor<double>(n, len, w);
        for (int i = 0; i < n; i++)
            for (int s = 0; s < len; s++)
                for (int j = 0; j < w; j++) y[i, s, j] = x[i, t0 + s, j];
        return y;
    }

    /// <summary>Step s of an (N,T,W) tensor as a new (N,W) tensor.</summary>
    public static Tensor<double> StepOf(Tensor<double> x, int s)
    {
        int n = x.Dim(0), w = x.Dim(2);
        var y = new Tensor<double>(n, w);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < w; j++) y[i, j] = x[i, s, j];
        return y;
    }

    /// <summary>Concatenates two (N,·,W) tensors along time.</summary>
    public static Tensor<double> Concat(Tensor<double> a, Tensor<double> b)
    {
        int n = a.Dim(0), ta = a.Dim(1), tb = b.Dim(1), w = a.Dim(2);
        var y = new Tensor<double>(n, ta + tb, w);
        for (int i = 0; i < n; i++)
        {
            for (int s = 0; s < ta; s++) for (int j = 0; j < w; j++) y[i, s, j] = a[i, s, j];
            for (int s = 0; s < tb; s++) for (int j = 0; j < w; j++) y[i, ta + s, j] = b[i, s, j];
        }
        return y;
    }

    public static double MaxAbsDiff(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}
