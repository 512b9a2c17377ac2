using Unroll.Checking;
using Unroll.Nodes;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// Reusable float64 gradient checks for nodes: random upstream dout, loss = sum(out ⊙ dout), central differences on
/// the input and on every distinct parameter, each compared with the analytic gradient of ONE backward pass.
/// </summary>
internal static class NodeGrad
{
    public const double Tol = 1e-6;

    public static void AssertOk(GradCheckResult r, double tol = Tol) => Assert.True(r.MaxRelError <= tol, r.ToString());

    /// <summary>A parameter filled with N(0, scale²).</summary>
    public static Parameter<double> Param(Rng rng, string name, double scale, params int[] shape) =>
        new(name, GradCheck.RandomTensor(rng, scale, shape));

    /// <summary>
    /// Checks dx and every parameter of <paramref name="node"/> at input <paramref name="x"/>.
    /// <paramref name="beforeForward"/> runs before every forward (e.g. to restore an Rng so dropout masks repeat).
    /// </summary>
    /// <remarks>
    /// The loss is evaluated as sum((y − y0) ⊙ dout) with y0 the unperturbed output: the same gradient as
    /// sum(y ⊙ dout), but the O(1) terms of unperturbed elements cancel exactly instead of adding rounding noise
    /// (~1e-16·|L|/eps) to the difference quotient — which matters where gradients are tiny (saturated units).
    /// </remarks>
    public static void CheckNode(INode<double> node, Tensor<double> x, Rng rng, Action? beforeForward = null,
                                 double tol = Tol, double eps = GradCheck.DefaultEps)
    {
        beforeForward?.Invoke();
        var y0 = node.Forward(x).Clone();
        var dout = GradCheck.RandomTensor(rng, 1.0, y0.Shape.ToArray());
        node.ZeroGrad();
        var dx = node.Backward(dout).Clone();
        double Loss()
        {
            beforeForward?.Invoke();
            var y = node.Forward(x).Span; var b = y0.Span; var g = dout.Span;
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += (y[i] - b[i]) * g[i];
            return s;
        }
        AssertOk(GradCheck.Check("dx", Loss, x, dx.Span, eps), tol);
        CheckParams(node, Loss, tol, eps);
    }

    /// <summary>Compares the current Grad of every distinct parameter of <paramref name="m"/> with central differences of <paramref name="loss"/>.</summary>
    public static void CheckParams(IModule<double> m, Func<double> loss, double tol = Tol, double eps = GradCheck.DefaultEps)
    {
        foreach (var p in m.DistinctParameters())
        {
            var g = p.Grad.Clone();
            AssertOk(GradCheck.Check(p.Name, loss, p.Value, g.Span, eps), tol);
        }
    }

    /// <summary>Two backward passes without ZeroGrad give exactly twice the gradient of one (and the same dx).</summary>
    public static void CheckAccumulates(INode<double> node, Tensor<double> x, Rng rng)
    {
        var y = node.Forward(x);
        var dout = GradCheck.RandomTensor(rng, 1.0, y.Shape.ToArray());
        node.ZeroGrad();
        var dx1 = node.Backward(dout).Clone();
        var once = node.DistinctParameters().Select(p => p.Grad.Clone()).ToList();
        Assert.NotEmpty(once);
        var dx2 = node.Backward(dout);
        Assert.Equal(dx1.ToArray(), dx2.ToArray());
        AssertDoubled(node, once);
    }

    public static void AssertDoubled(IModule<double> m, List<Tensor<double>> once)
    {
        var ps = m.DistinctParameters();
        for (int k = 0; k < ps.Count; k++)
        {
            var a = once[k].Span; var b = ps[k].Grad.Span;
            Assert.True(a.Length > 0);
            Assert.Contains(a.ToArray(), v => v != 0);
            for (int i = 0; i < a.Length; i++)
                Assert.True(Math.Abs(b[i] - 2 * a[i]) <= 1e-12 * Math.Max(1, Math.Abs(a[i])), $"{ps[k].Name}[{i}]: {b[i]} != 2·{a[i]}");
        }
    }

    /// <summary>Random ids in [0, v).</summary>
    public static int[] Ids(Rng rng, int count, int v) => Enumerable.Range(0, count).Select(_ => rng.NextInt(v)).ToArray();
}
