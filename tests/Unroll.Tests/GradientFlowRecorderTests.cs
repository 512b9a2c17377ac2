using Unroll.Flow;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>The recorder's reconstruction against the explicit-Jacobian float64 reference (no layer involved).</summary>
public class GradientFlowRecorderReferenceTests
{
    private static (FlowReference Ref, Tensor<double> Up) Build(string cell, int n, int t, int d, int h, ulong seed, double whScale = 0.6)
    {
        var rng = new Rng(seed);
        var r = FlowReference.Random(cell, n, t, d, h, rng, whScale);
        var xs = new double[n, t, d];
        for (int a = 0; a < n; a++) for (int b = 0; b < t; b++) for (int c = 0; c < d; c++) xs[a, b, c] = rng.NextGaussian();
        var up = new double[n, t, h];
        for (int a = 0; a < n; a++) for (int b = 0; b < t; b++) for (int c = 0; c < h; c++) up[a, b, c] = rng.NextGaussian();
        r.Forward(xs);
        r.Backward(up);
        return (r, FlowReference.T3(up));
    }

    private static GradientFlowRecord Record(FlowReference r, Tensor<double> up)
    {
        var rec = new GradientFlowRecorder<double>();
        var hs = FlowReference.T3(r.Hs); var dh = FlowReference.T3(r.StepGradH); var wh = FlowReference.T2(r.Wh);
        var dh0 = FlowReference.T2(r.DH0);
        return r.Cell switch
        {
            "rnn" or "rnn-relu" => rec.RecordRnn(hs, dh, wh, r.Cell == "rnn-relu", up, dh0),
            "lstm" => rec.RecordLstm(hs, FlowReference.T3(r.Cs), FlowReference.T3(r.Gates), dh, FlowReference.T3(r.StepGradC), wh,
                                     FlowReference.T2(r.C0!), up, dh0, FlowReference.T2(r.DC0)),
            _ => rec.RecordGru(hs, FlowReference.T2(r.H0), FlowReference.T3(r.Gates), dh, wh, Tensor<double>.FromArray(r.BhN, r.H), up, dh0),
        };
    }

    [Theory]
    [InlineData("rnn", 2, 6, 3, 4, 1UL)]
    [InlineData("rnn", 1, 1, 1, 1, 2UL)]
    [InlineData("rnn-relu", 3, 5, 2, 3, 3UL)]
    [InlineData("lstm", 2, 6, 3, 4, 4UL)]
    [InlineData("lstm", 1, 2, 1, 1, 5UL)]
    [InlineData("gru", 2, 6, 3, 4, 6UL)]
    [InlineData("gru", 3, 3, 2, 5, 7UL)]
    public void ReconstructedStepGainEqualsMeasuredFromTheGradients(string cell, int n, int t, int d, int h, ulong seed)
    {
        var (r, up) = Build(cell, n, t, d, h, seed);
        var rec = Record(r, up);
        var refNorms = r.StepNorms();
        for (int s = 0; s < t; s++)
        {
            Assert.True(Math.Abs(rec.GradNorm[s] - refNorms[s]) <= 1e-12 * refNorms[s], $"{cell} t={s + 1}: norm {rec.GradNorm[s]:R} vs {refNorms[s]:R}");
            Assert.True(Math.Abs(rec.StepGain[s] - rec.MeasuredStepGain![s]) <= 1e-10 * rec.StepGain[s],
                $"{cell} t={s + 1}: reconstructed gain {rec.StepGain[s]:R} vs measured {rec.MeasuredStepGain[s]:R}");
        }
        if (cell is "rnn" or "rnn-relu")
            for (int s = 0; s < t; s++)
                Assert.True(Math.Abs(rec.ActivationFactor![s] * rec.MatrixFactor![s] - rec.MeasuredStepGain![s]) <= 1e-10 * rec.MeasuredStepGain[s],
                    $"t={s + 1}: {rec.ActivationFactor[s]:R} × {rec.MatrixFactor[s]:R} ≠ {rec.MeasuredStepGain[s]:R}");
        Assert.Equal(FlowReference.T2(r.DH0).Norm(), rec.DH0Norm, 12);
    }

    [Fact]
    public void LstmCellPathGainAndForgetMeanMatchTheReference()
    {
        var (r, up) = Build("lstm", 2, 4, 3, 3, 11);
        var rec = Record(r, up);
        for (int t = 0; t < 4; t++)
        {
            double num = 0, den = 0, f = 0;
            for (int n = 0; n < 2; n++)
                for (int m = 0; m < 3; m++)
                {
                    double dc = r.StepGradC[n, t, m], fg = r.Gates[n, t, 3 + m];
                    num += dc * fg * dc * fg; den += dc * dc; f += fg;
                }
            Assert.Equal(Math.Sqrt(num / den), rec.CellPathGain![t], 12);
            Assert.Equal(f / 6, rec.ForgetGateMean![t], 12);
        }
    }

    [Fact]
    public void SaturationCountsUnitsAboveThreshold()
    {
        // a tanh RNN driven hard: every |h| ≈ 1
        var (r, up) = Build("rnn", 2, 3, 2, 3, 12, whScale: 30);
        var rec = Record(r, up);
        int sat = 0;
        for (int n = 0; n < 2; n++) for (int m = 0; m < 3; m++) if (Math.Abs(r.Hs[n, 2, m]) > 0.99) sat++;
        Assert.Equal(sat / 6.0, rec.SaturatedFraction[2], 12);
        double d = 0;
        for (int n = 0; n < 2; n++) for (int m = 0; m < 3; m++) d += 1 - r.Hs[n, 2, m] * r.Hs[n, 2, m];
        Assert.Equal(d / 6, rec.MeanDerivative[2], 12);
    }

    [Fact]
    public void SummaryCarriesTheVerdict()
    {
        var (r, up) = Build("rnn", 2, 8, 3, 4, 13, whScale: 0.2);
        var s = Record(r, up).Summarize(WhSpectrum.Of(r.Wh).SigmaMax);
        Assert.Equal(FlowVerdictKind.Vanishing, s.Verdict.Kind);
        Assert.Contains("vanishing is guaranteed", s.Verdict.Evidence);
        Assert.True(s.MeanActivationFactor <= 1);
    }

    [Fact]
    public void ShapeMismatchNamesTheTensor()
    {
        var rec = new GradientFlowRecorder<float>();
        var ex = Assert.Throws<ArgumentException>(() => rec.RecordRnn(new Tensor<float>(2, 3, 4), new Tensor<float>(2, 3, 5), new Tensor<float>(4, 4), false));
        Assert.Contains("stepGradH", ex.Message);
    }
}

public class JacobianSpectrumTests
{
    [Fact]
    public void StepJacobianSigmaMaxMatchesExplicitJacobianAndBoundsTheGain()
    {
        var rng = new Rng(21);
        var r = FlowReference.Random("rnn", 1, 4, 2, 3, rng, 0.9);
        var xs = new double[1, 4, 2];
        for (int t = 0; t < 4; t++) for (int d = 0; d < 2; d++) xs[0, t, d] = rng.NextGaussian();
        var up = new double[1, 4, 3];
        for (int m = 0; m < 3; m++) up[0, 3, m] = 1;
        r.Forward(xs); r.Backward(up);
        var rec = new GradientFlowRecorder<double>().RecordRnn(FlowReference.T3(r.Hs), FlowReference.T3(r.StepGradH), FlowReference.T2(r.Wh), false);
        for (int t = 0; t < 4; t++)
        {
            var s = WhSpectrum.Of(r.Jacobian(0, t)).SigmaMax;
            Assert.Equal(s, rec.JacobianSigmaMax![t], 12);
            Assert.True(rec.StepGain[t] <= s * (1 + 1e-12), $"t={t + 1}: gain {rec.StepGain[t]} > σ_max(J) {s}");
        }
    }
}

public class GatedJacobianSpectrumTests
{
    [Theory]
    [InlineData("lstm", 3, 4, 2, 3, 51UL)]
    [InlineData("lstm", 1, 2, 1, 1, 52UL)]
    [InlineData("gru", 3, 4, 2, 3, 53UL)]
    [InlineData("gru", 2, 3, 3, 5, 54UL)]
    public void StepJacobianSigmaMaxMatchesTheExplicitJacobian(string cell, int n, int t, int d, int h, ulong seed)
    {
        var rng = new Rng(seed);
        var r = FlowReference.Random(cell, n, t, d, h, rng, 0.9);
        var xs = new double[n, t, d];
        for (int a = 0; a < n; a++) for (int b = 0; b < t; b++) for (int c = 0; c < d; c++) xs[a, b, c] = rng.NextGaussian();
        var up = new double[n, t, h];
        for (int a = 0; a < n; a++) for (int c = 0; c < h; c++) up[a, t - 1, c] = 1;
        r.Forward(xs); r.Backward(up);
        var recorder = new GradientFlowRecorder<double> { JacobianSamples = 2 };
        var hs = FlowReference.T3(r.Hs); var dh = FlowReference.T3(r.StepGradH); var wh = FlowReference.T2(r.Wh);
        var rec = cell == "lstm"
            ? recorder.RecordLstm(hs, FlowReference.T3(r.Cs), FlowReference.T3(r.Gates), dh, FlowReference.T3(r.StepGradC), wh, FlowReference.T2(r.C0!))
            : recorder.RecordGru(hs, FlowReference.T2(r.H0), FlowReference.T3(r.Gates), dh, wh, Tensor<double>.FromArray(r.BhN, h));
        int samples = Math.Min(n, 2);
        for (int s = 0; s < t; s++)
        {
            double expect = 0;
            for (int b = 0; b < samples; b++) expect += WhSpectrum.Of(r.Jacobian(b, s)).SigmaMax;
            expect /= samples;
            Assert.True(Math.Abs(rec.JacobianSigmaMax![s] - expect) <= 1e-12 * expect, $"{cell} t={s + 1}: {rec.JacobianSigmaMax[s]:R} vs {expect:R}");
        }
    }
}
