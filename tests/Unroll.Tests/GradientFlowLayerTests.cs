using Unroll.Cli;
using Unroll.Flow;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>The recorder on the real layers (float64), against the explicit-Jacobian reference and closed forms.</summary>
public class GradientFlowLayerTests
{
    private static IRecurrentLayer<double> LayerFrom(FlowReference r)
    {
        var wx = new Parameter<double>("wx", FlowReference.T2(r.Wx));
        var wh = new Parameter<double>("wh", FlowReference.T2(r.Wh));
        var b = new Parameter<double>("b", Tensor<double>.FromArray(r.B, r.B.Length));
        IRecurrentLayer<double> layer = r.Cell switch
        {
            "rnn" => new TimeRNN<double>(wx, wh, b, CellType.Rnn),
            "rnn-relu" => new TimeRNN<double>(wx, wh, b, CellType.RnnRelu),
            "lstm" => new TimeLSTM<double>(wx, wh, b),
            _ => new TimeGRU<double>(wx, wh, b, new Parameter<double>("bhn", Tensor<double>.FromArray(r.BhN, r.H))),
        };
        layer.SetState(FlowReference.T2(r.H0), r.C0 is null ? null : FlowReference.T2(r.C0));
        return layer;
    }

    [Theory]
    [InlineData("rnn", 2, 5, 3, 3, 31UL)]
    [InlineData("rnn", 1, 1, 2, 1, 32UL)]
    [InlineData("rnn-relu", 3, 4, 2, 4, 33UL)]
    [InlineData("lstm", 2, 5, 3, 3, 34UL)]
    [InlineData("lstm", 1, 3, 1, 2, 35UL)]
    [InlineData("gru", 2, 5, 3, 3, 36UL)]
    [InlineData("gru", 3, 2, 2, 1, 37UL)]
    public void RecordedNormsEqualExplicitJacobianProducts(string cell, int n, int t, int d, int h, ulong seed)
    {
        var rng = new Rng(seed);
        var r = FlowReference.Random(cell, n, t, d, h, rng, whScale: 0.8);
        var xsA = new double[n, t, d];
        for (int a = 0; a < n; a++) for (int b = 0; b < t; b++) for (int c = 0; c < d; c++) xsA[a, b, c] = rng.NextGaussian();
        var upA = new double[n, t, h];
        for (int a = 0; a < n; a++) for (int b = 0; b < t; b++) for (int c = 0; c < h; c++) upA[a, b, c] = rng.NextGaussian();
        r.Forward(xsA);
        r.Backward(upA);

        var layer = LayerFrom(r);
        var up = FlowReference.T3(upA);
        layer.Forward(FlowReference.T3(xsA));
        layer.Backward(up);
        var rec = new GradientFlowRecorder<double>().Record(layer, up);

        var refNorms = r.StepNorms();
        for (int s = 0; s < t; s++)
        {
            Assert.True(Math.Abs(rec.GradNorm[s] - refNorms[s]) <= 1e-10 * refNorms[s], $"{cell} t={s + 1}: recorded {rec.GradNorm[s]:R} vs Jacobian products {refNorms[s]:R}");
            Assert.True(Math.Abs(rec.StepGain[s] - rec.MeasuredStepGain![s]) <= 1e-10 * rec.StepGain[s], $"{cell} t={s + 1}: gain {rec.StepGain[s]:R} vs {rec.MeasuredStepGain[s]:R}");
            double perSample = 0;
            for (int a = 0; a < n; a++) { double q = 0; for (int c = 0; c < h; c++) q += r.StepGradH[a, s, c] * r.StepGradH[a, s, c]; perSample += Math.Sqrt(q); }
            Assert.Equal(perSample / n, rec.GradNormPerSample[s], 10);
        }
        Assert.Equal(FlowReference.T2(r.DH0).Norm(), rec.DH0Norm, 10);
        if (cell == "lstm")
        {
            var refC = FlowReference.T3(r.StepGradC);
            var layerC = ((TimeLSTM<double>)layer).StepGradC;
            for (int i = 0; i < refC.Length; i++) Assert.Equal(refC.Span[i], layerC.Span[i], 10);
        }
        if (cell is "rnn" or "rnn-relu")
            for (int s = 0; s < t; s++)
                Assert.True(Math.Abs(rec.ActivationFactor![s] * rec.MatrixFactor![s] - rec.MeasuredStepGain![s]) <= 1e-10 * rec.MeasuredStepGain[s],
                    $"t={s + 1}: factor product {rec.ActivationFactor[s] * rec.MatrixFactor[s]:R} vs step gain {rec.MeasuredStepGain[s]:R}");
    }

    [Fact]
    public void LinearRegimeOfAReluLayerMatchesTheClosedForm()
    {
        // With positive W_h, a positive h0, zero inputs and zero bias every ReLU unit stays active: the layer is
        // linear, h_t = h_{t−1}·W_h, and the recorded norms must equal ‖ones·(W_hᵀ)^k‖/N.
        int n = 2, h = 3, t = 12;
        var rng = new Rng(41);
        var w = new double[h, h];
        for (int i = 0; i < h; i++) for (int j = 0; j < h; j++) w[i, j] = 0.1 + 0.4 * rng.NextDouble();
        var layer = new TimeRNN<double>(new Parameter<double>("wx", new Tensor<double>(2, h)), new Parameter<double>("wh", FlowReference.T2(w)),
                                        new Parameter<double>("b", new Tensor<double>(h)), CellType.RnnRelu);
        var h0 = new Tensor<double>(n, h); h0.Fill(0.5);
        layer.SetState(h0);
        layer.Forward(new Tensor<double>(n, t, 2));
        var dhs = new Tensor<double>(n, t, h);
        for (int b = 0; b < n; b++) for (int j = 0; j < h; j++) dhs[b, t - 1, j] = 1;
        layer.Backward(dhs);
        var rec = new GradientFlowRecorder<double>().Record(layer, dhs);
        var seed = SeedExperiment.Run(w, n, t, 1, "closed");
        for (int k = 0; k < t; k++)
            Assert.True(Math.Abs(rec.GradNorm[t - 1 - k] / n - seed.Norms[k]) <= 1e-12 * seed.Norms[k], $"k={k}: {rec.GradNorm[t - 1 - k] / n:R} vs {seed.Norms[k]:R}");
        Assert.True(Math.Abs(rec.DH0Norm / n - seed.Norms[t]) <= 1e-12 * seed.Norms[t]);
        Assert.All(rec.ActivationFactor!, a => Assert.Equal(1.0, a));
        Assert.All(rec.SaturatedFraction, s => Assert.Equal(0.0, s));
    }

    [Theory]
    [InlineData(CellType.Rnn)]
    [InlineData(CellType.RnnRelu)]
    [InlineData(CellType.Lstm)]
    [InlineData(CellType.Gru)]
    public void LayerExperimentNormsAreConsistentWithItsFactors(CellType cell)
    {
        int h = 4, t = 15;
        var wh = LayerExperiment.InitialWh(cell, Unroll.Init.WeightInit.Orthogonal, h, new Rng(5));
        var c = LayerExperiment.Run(cell, wh, 3, t, 1.0, "x", new Rng(6));
        Assert.Equal(t + 1, c.Norms.Length);
        Assert.Equal(Math.Sqrt(3 * h) / 3, c.Norms[0], 12);
        if (c.ActivationFactors is { } a)
            for (int k = 1; k <= t; k++)
                Assert.True(Math.Abs(a[k - 1] * c.MatrixFactors![k - 1] - c.Norms[k] / c.Norms[k - 1]) <= 1e-10 * c.Norms[k] / c.Norms[k - 1], $"k={k}");
        if (cell == CellType.Lstm) Assert.Contains("cell path gain", c.Extra.Keys);
        if (cell == CellType.Gru) Assert.Contains("z-carry path gain", c.Extra.Keys);
        // orthogonal gate blocks side by side: [Q1 … Qk]·[Q1 … Qk]ᵀ = k·I, so σ_max of the whole W_h is √k, of each block 1
        int gates = cell switch { CellType.Lstm => 4, CellType.Gru => 3, _ => 1 };
        Assert.Equal(Math.Sqrt(gates), c.Spectrum.SigmaMax, 12);
        Assert.All(c.BlockSpectra, b => Assert.Equal(1.0, b.Spectrum.SigmaMax, 12));
    }

    [Fact]
    public void RecorderRejectsUnknownLayersAndSummarizesKnownOnes()
    {
        var layer = new TimeLSTM<float>(3, 4, new Rng(1));
        var xs = new Tensor<float>(2, 6, 3);
        Unroll.Init.Initializers.Gaussian(xs, new Rng(2), 1.0);
        layer.Forward(xs);
        var dhs = new Tensor<float>(2, 6, 4); dhs.Fill(1f);
        layer.Backward(dhs);
        var s = new GradientFlowRecorder<float>().Summarize(layer, dhs);
        Assert.Equal("lstm", s.Cell);
        Assert.NotNull(s.MeanCellPathGain);
        Assert.NotNull(s.MeanForgetGate);
        Assert.False(string.IsNullOrEmpty(s.Verdict.Evidence));
        var metrics = s.ToMetrics().ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal(s.MeanCellPathGain!.Value, metrics["flow.cell_path_gain"]);
        Assert.Equal(s.SigmaMax, metrics["flow.sigma_max"]);
        Assert.False(metrics.ContainsKey("flow.activation_factor"));   // RNN only
        Assert.Contains(metrics["flow.verdict"], new[] { -1.0, 0.0, 1.0 });
    }
}

public class GradientFlowCommandLayerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "unroll-gfl-test-" + Guid.NewGuid().ToString("N"));
    public GradientFlowCommandLayerTests() => Directory.CreateDirectory(_dir);
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Theory]
    [InlineData("rnn", 4)]
    [InlineData("rnn-relu", 4)]
    [InlineData("lstm", 2)]
    [InlineData("gru", 2)]
    public void EveryCellRunsAndWritesItsCurves(string cell, int settings)
    {
        string outDir = Path.Combine(_dir, cell);
        var (code, stdout, err) = Run("gradient-flow", "--cell", cell, "--t", "8", "--h", "4", "--json", "--out", outDir);
        Assert.True(code == 0, err);
        var json = System.Text.Json.JsonDocument.Parse(stdout).RootElement.GetProperty("settings");
        Assert.Equal(settings, json.GetArrayLength());
        Assert.True(new FileInfo(Path.Combine(outDir, "norms.png")).Length > 1000);
        Assert.True(new FileInfo(Path.Combine(outDir, "factors.svg")).Length > 1000);
    }

    [Fact]
    public void CellAllRunsRnnLstmAndGruFromTheSameSeed()
    {
        var all = Run("gradient-flow", "--cell", "all", "--t", "6", "--json", "--out", Path.Combine(_dir, "all"));
        var lstm = Run("gradient-flow", "--cell", "lstm", "--t", "6", "--json", "--out", Path.Combine(_dir, "lstm"));
        Assert.True(all.Code == 0, all.Err);
        var sa = System.Text.Json.JsonDocument.Parse(all.Out).RootElement.GetProperty("settings");
        Assert.Equal(2 + 3 * 2, sa.GetArrayLength());
        var labels = sa.EnumerateArray().Select(e => e.GetProperty("label").GetString()).ToList();
        Assert.Contains("lstm scale=0.5", labels);
        Assert.Contains("gru scale=1", labels);
        // the LSTM curves of --cell all equal those of --cell lstm
        var a = sa[labels.IndexOf("lstm scale=0.5")].GetProperty("normsPerSample");
        var b = System.Text.Json.JsonDocument.Parse(lstm.Out).RootElement.GetProperty("settings")[1].GetProperty("normsPerSample");
        for (int k = 0; k <= 6; k++) Assert.Equal(b[k].GetDouble(), a[k].GetDouble());

        string f = Path.Combine(_dir, "wh.csv");
        File.WriteAllText(f, "1,2\n3,4\n");
        var bad = Run("gradient-flow", "--cell", "all", "--wh", f, "--out", Path.Combine(_dir, "bad"));
        Assert.Equal(2, bad.Code);
        Assert.False(Directory.Exists(Path.Combine(_dir, "bad")));
    }

    [Fact]
    public void OrthogonalInitHasUnitSingularValues()
    {
        var (code, stdout, err) = Run("gradient-flow", "--init", "orthogonal", "--scale", "1", "--h", "5", "--json", "--out", Path.Combine(_dir, "o"));
        Assert.True(code == 0, err);
        var sv = System.Text.Json.JsonDocument.Parse(stdout).RootElement.GetProperty("settings")[0].GetProperty("spectrum").GetProperty("singularValues");
        foreach (var v in sv.EnumerateArray()) Assert.Equal(1.0, v.GetDouble(), 12);
    }

    [Fact]
    public void LstmWhMustBeHBy4H()
    {
        string f = Path.Combine(_dir, "wh.csv");
        File.WriteAllText(f, "1,2\n3,4\n");
        string outDir = Path.Combine(_dir, "bad");
        var (code, _, err) = Run("gradient-flow", "--cell", "lstm", "--wh", f, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("H×4H", err);
        Assert.False(Directory.Exists(outDir));
    }
}
