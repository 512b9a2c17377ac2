using Unroll.Optim;
using Unroll.Tensors;

namespace Unroll.Tests;

public class OptimTests
{
    // ---- float64 scalar references, written straight from the PyTorch documentation's formulas ----

    private static double[] RefRun(string kind, double lr, double[] w0, double[][] grads)
    {
        var w = (double[])w0.Clone();
        int n = w.Length;
        var s1 = new double[n]; var s2 = new double[n];
        for (int t = 1; t <= grads.Length; t++)
        {
            var g = grads[t - 1];
            for (int i = 0; i < n; i++)
            {
                switch (kind)
                {
                    case "sgd": w[i] -= lr * g[i]; break;
                    case "momentum": s1[i] = 0.9 * s1[i] + g[i]; w[i] -= lr * s1[i]; break;
                    case "adagrad": s1[i] += g[i] * g[i]; w[i] -= lr * g[i] / (Math.Sqrt(s1[i]) + 1e-10); break;
                    case "rmsprop": s1[i] = 0.99 * s1[i] + 0.01 * g[i] * g[i]; w[i] -= lr * g[i] / (Math.Sqrt(s1[i]) + 1e-8); break;
                    case "adam":
                        s1[i] = 0.9 * s1[i] + 0.1 * g[i];
                        s2[i] = 0.999 * s2[i] + 0.001 * g[i] * g[i];
                        double mhat = s1[i] / (1 - Math.Pow(0.9, t)), vhat = s2[i] / (1 - Math.Pow(0.999, t));
                        w[i] -= lr * mhat / (Math.Sqrt(vhat) + 1e-8);
                        break;
                }
            }
        }
        return w;
    }

    private static (double[] w0, double[][] grads) Problem(int n, int steps, ulong seed)
    {
        var rng = new Rng(seed);
        var w0 = new double[n];
        for (int i = 0; i < n; i++) w0[i] = rng.NextGaussian();
        var grads = new double[steps][];
        for (int t = 0; t < steps; t++)
        {
            grads[t] = new double[n];
            for (int i = 0; i < n; i++) grads[t][i] = rng.NextGaussian() * (i % 3 == 0 ? 1e-3 : 1.0);
        }
        return (w0, grads);
    }

    private static double[] Run<T>(Optimizer<T> opt, double[] w0, double[][] grads) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var p = new Parameter<T>("w", Tensor<double>.FromArray(w0, w0.Length).Cast<T>());
        foreach (var g in grads)
        {
            Tensor<double>.FromArray(g, g.Length).Cast<T>().Span.CopyTo(p.Grad.Span);
            opt.Step([p]);
        }
        return p.Value.Cast<double>().ToArray();
    }

    public static TheoryData<string, double> Kinds => new()
    {
        { "sgd", 0.1 }, { "momentum", 0.05 }, { "adagrad", 0.3 }, { "rmsprop", 0.01 }, { "adam", 0.002 },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Float64UpdateMatchesReferenceFormula(string kind, double lr)
    {
        var (w0, grads) = Problem(37, 6, 7);
        var expected = RefRun(kind, lr, w0, grads);
        var got = Run(Optimizers.Create<double>(kind, lr), w0, grads);
        for (int i = 0; i < w0.Length; i++)
            Assert.True(Math.Abs(got[i] - expected[i]) <= 1e-12 * Math.Max(1, Math.Abs(expected[i])), $"{kind} w[{i}]: {got[i]:R} vs reference {expected[i]:R}");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Float32UpdateTracksFloat64(string kind, double lr)
    {
        var (w0, grads) = Problem(19, 6, 11);
        var expected = RefRun(kind, lr, w0, grads);
        var got = Run(Optimizers.Create<float>(kind, lr), w0, grads);
        for (int i = 0; i < w0.Length; i++)
            Assert.True(Math.Abs(got[i] - expected[i]) <= 2e-6 * Math.Max(1, Math.Abs(expected[i])), $"{kind} w[{i}]: {got[i]:R} vs reference {expected[i]:R}");
    }

    [Fact]
    public void HandComputedSteps()
    {
        // SGD: 1 − 0.1·0.5 = 0.95
        Assert.Equal(0.95, Run(new Sgd<double>(0.1), [1.0], [[0.5]])[0], 15);
        // Momentum: b1 = 0.5, w1 = 1 − 0.1·0.5 = 0.95; b2 = 0.9·0.5 + 0.2 = 0.65, w2 = 0.95 − 0.065 = 0.885
        Assert.Equal(0.885, Run(new Momentum<double>(0.1, 0.9), [1.0], [[0.5], [0.2]])[0], 14);
        // AdaGrad: s = 4, w = 1 − 0.1·2/2 = 0.9
        Assert.Equal(0.9, Run(new AdaGrad<double>(0.1), [1.0], [[2.0]])[0], 9);
        // RMSProp: v = 0.01·4 = 0.04, w = 1 − 0.1·2/0.2 = 0
        Assert.Equal(0.0, Run(new RmsProp<double>(0.1), [1.0], [[2.0]])[0], 6);
        // Adam step 1: m̂ = g, v̂ = g², so w = 1 − lr·g/(|g| + ε) ≈ 1 − lr·sign(g)
        Assert.Equal(1 - 0.01 * 3 / (3 + 1e-8), Run(new Adam<double>(0.01), [1.0], [[3.0]])[0], 14);
        Assert.Equal(1 + 0.01 * 5e-4 / (5e-4 + 1e-8), Run(new Adam<double>(0.01), [1.0], [[-5e-4]])[0], 14);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void ExportImportContinuesBitIdentically(string kind, double lr)
    {
        var (w0, grads) = Problem(13, 7, 3);
        var full = Run(Optimizers.Create<float>(kind, lr), w0, grads);

        var a = Optimizers.Create<float>(kind, lr);
        var p = new Parameter<float>("w", Tensor<double>.FromArray(w0, w0.Length).Cast<float>());
        for (int t = 0; t < 4; t++) { Tensor<double>.FromArray(grads[t], 13).Cast<float>().Span.CopyTo(p.Grad.Span); a.Step([p]); }
        var state = a.ExportState([p]);

        var b = Optimizers.Create<float>(kind, 999);                  // lr restored from the state
        var q = new Parameter<float>("w", p.Value.Clone());
        b.ImportState(state, [q]);
        Assert.Equal(lr, b.LearningRate);
        Assert.Equal(4, b.Steps);
        for (int t = 4; t < 7; t++) { Tensor<double>.FromArray(grads[t], 13).Cast<float>().Span.CopyTo(q.Grad.Span); b.Step([q]); }
        Assert.Equal(full, q.Value.Cast<double>().ToArray());
    }

    [Fact]
    public void ImportRejectsWrongKindAndShape()
    {
        var p = new Parameter<float>("w", new Tensor<float>(3));
        var adam = new Adam<float>(0.1);
        adam.Step([p]);
        var st = adam.ExportState([p]);
        Assert.Throws<InvalidDataException>(() => new RmsProp<float>(0.1).ImportState(st, [p]));
        var other = new Parameter<float>("w", new Tensor<float>(4));
        var ex = Assert.Throws<InvalidDataException>(() => new Adam<float>(0.1).ImportState(st, [other]));
        Assert.Contains("m:w", ex.Message);
    }

    [Fact]
    public void TiedParameterUpdatedOnce()
    {
        var p = new Parameter<double>("w", Tensor<double>.FromArray([1.0], 1));
        p.Grad.Span[0] = 1;
        new Sgd<double>(0.1).Step([p, p]);
        Assert.Equal(0.9, p.Value.Span[0], 15);
    }

    [Fact]
    public void UnknownOptimizerNamed()
    {
        var ex = Assert.Throws<ArgumentException>(() => Optimizers.Create<float>("adamw", 1));
        Assert.Contains("adamw", ex.Message);
    }

    // ---- clipping ----

    private static Parameter<double> P(string name, params double[] g)
    {
        var p = new Parameter<double>(name, new Tensor<double>(g.Length));
        g.CopyTo(p.Grad.Span);
        return p;
    }

    [Fact]
    public void ClipGlobalNormScalesAboveThresholdAndReturnsPreClipNorm()
    {
        var a = P("a", 3, 0); var b = P("b", 0, 4);                   // ‖g‖ = 5
        double n = GradClip.ClipGlobalNorm([a, b], 1.0);
        Assert.Equal(5.0, n, 12);
        double s = 1.0 / (5 + 1e-6);
        Assert.Equal(3 * s, a.Grad.Span[0], 14);
        Assert.Equal(4 * s, b.Grad.Span[1], 14);
        Assert.Equal(1.0, GradClip.GlobalNorm<double>([a, b]), 5);
    }

    [Fact]
    public void ClipGlobalNormBelowThresholdOrDisabledLeavesGradients()
    {
        var a = P("a", 3, 4);
        Assert.Equal(5.0, GradClip.ClipGlobalNorm([a], 10.0), 12);
        Assert.Equal([3.0, 4.0], a.Grad.ToArray());
        Assert.Equal(5.0, GradClip.ClipGlobalNorm([a], 0.0), 12);      // 0 disables
        Assert.Equal([3.0, 4.0], a.Grad.ToArray());
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void ClipGlobalNormNonFiniteReturnedAndNothingApplied(double bad)
    {
        var a = P("a", 100, 200); var b = P("b", bad, 1);
        double n = GradClip.ClipGlobalNorm([a, b], 1.0);
        Assert.False(double.IsFinite(n));
        Assert.Equal([100.0, 200.0], a.Grad.ToArray());
        Assert.Equal(1.0, b.Grad.Span[1]);
    }

    [Fact]
    public void ClipGlobalNormCountsTiedParameterOnce()
    {
        var a = P("a", 3, 4);
        Assert.Equal(5.0, GradClip.GlobalNorm<double>([a, a]), 12);
    }

    [Fact]
    public void ClipValueClamps()
    {
        var a = P("a", -3, 0.5, 7);
        GradClip.ClipValue([a], 1.0);
        Assert.Equal([-1.0, 0.5, 1.0], a.Grad.ToArray());
        Assert.Throws<ArgumentException>(() => GradClip.ClipValue([a], 0));
    }

    // ---- schedules ----

    [Fact]
    public void PlateauDividesByFourWhenValidationDoesNotImprove()
    {
        var s = new PlateauDivide();
        double lr = 20;
        lr = s.AtEvaluation(300, lr); Assert.Equal(20, lr); Assert.True(s.LastImproved);
        lr = s.AtEvaluation(250, lr); Assert.Equal(20, lr);
        lr = s.AtEvaluation(260, lr); Assert.Equal(5, lr); Assert.False(s.LastImproved);
        lr = s.AtEvaluation(250, lr); Assert.Equal(1.25, lr);          // equal is not an improvement (textbook: best > ppl)
        lr = s.AtEvaluation(240, lr); Assert.Equal(1.25, lr);
        Assert.Equal(240, s.Best);

        var r = new PlateauDivide();
        r.Restore(s.State);
        Assert.Equal(0.3125, r.AtEvaluation(245, 1.25));
    }

    [Fact]
    public void StepScheduleDecaysPerEpochs()
    {
        var s = new StepSchedule(1.0, 2, 0.5);
        Assert.Equal([1.0, 1.0, 0.5, 0.5, 0.25], Enumerable.Range(0, 5).Select(e => s.AtStep(0, e, 123)).ToArray());
    }

    [Fact]
    public void CosineScheduleEndpointsAndMidpoint()
    {
        var s = new CosineSchedule(1.0, 100, 0.1);
        Assert.Equal(1.0, s.AtStep(0, 0, 0), 15);
        Assert.Equal(0.55, s.AtStep(50, 0, 0), 15);
        Assert.Equal(0.1, s.AtStep(100, 0, 0), 15);
        Assert.Equal(0.1, s.AtStep(500, 0, 0), 15);
        Assert.True(s.AtStep(25, 0, 0) > s.AtStep(26, 0, 0));
    }

    [Fact]
    public void ScheduleFactoryRejectsUnknown()
    {
        Assert.Equal("plateau", LrSchedule.Create("plateau", 20).Kind);
        Assert.Throws<ArgumentException>(() => LrSchedule.Create("exp", 1));
    }
}
