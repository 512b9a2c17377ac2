using System.Globalization;
using MathNet.Numerics.LinearAlgebra;
using Unroll.Cli;
using Unroll.Flow;
using Unroll.IO;
using Unroll.Tensors;

namespace Unroll.Tests;

public class SeedExperimentTests
{
    /// <summary>Independent closed form: ‖ones(N,H)·(W_hᵀ)^k‖_F / N with the power built by plain triple loops.</summary>
    private static double ClosedForm(double[,] w, int n, int k)
    {
        int h = w.GetLength(0);
        var p = new double[h, h];
        for (int i = 0; i < h; i++) p[i, i] = 1;
        for (int s = 0; s < k; s++)
        {
            var q = new double[h, h];
            for (int i = 0; i < h; i++)
                for (int j = 0; j < h; j++)
                {
                    double acc = 0;
                    for (int m = 0; m < h; m++) acc += p[i, m] * w[j, m];   // (P · W_hᵀ)[i,j]
                    q[i, j] = acc;
                }
            p = q;
        }
        // every row of ones·P equals the column sums of P
        double sq = 0;
        for (int j = 0; j < h; j++)
        {
            double col = 0;
            for (int i = 0; i < h; i++) col += p[i, j];
            sq += n * col * col;
        }
        return Math.Sqrt(sq) / n;
    }

    [Theory]
    [InlineData(2, 3, 20, 1.0, 1)]
    [InlineData(2, 3, 20, 0.5, 1)]
    [InlineData(1, 1, 7, 0.9, 5)]
    [InlineData(5, 8, 30, 0.7, 11)]
    public void NormsEqualClosedForm(int n, int h, int t, double scale, int seed)
    {
        var w = SeedExperiment.Scaled(SeedExperiment.GaussianWh(new Rng((ulong)seed), h), scale);
        var c = SeedExperiment.Run(w, n, t, scale, "x");
        Assert.Equal(t + 1, c.Norms.Length);
        for (int k = 0; k <= t; k++)
        {
            double expect = ClosedForm(w, n, k);
            Assert.True(Math.Abs(c.Norms[k] - expect) <= 1e-12 * Math.Max(1, expect), $"k={k}: {c.Norms[k]:R} vs {expect:R}");
        }
        // the matrix factor of each step is the ratio of consecutive norms
        for (int k = 1; k <= t; k++)
            Assert.Equal(c.Norms[k] / c.Norms[k - 1], c.MatrixFactors![k - 1], 12);
    }

    private static double[,] Orthogonal(int h, ulong seed)
    {
        var g = SeedExperiment.GaussianWh(new Rng(seed), h);
        var q = Matrix<double>.Build.DenseOfArray(g).QR().Q;
        return q.ToArray();
    }

    [Theory]
    [InlineData(3)]
    [InlineData(16)]
    public void OrthogonalPreservesNormAndHalfScaleHalves(int h)
    {
        var q = Orthogonal(h, 7);
        var keep = SeedExperiment.Run(q, 2, 25, 1.0, "q");
        var half = SeedExperiment.Run(SeedExperiment.Scaled(q, 0.5), 2, 25, 0.5, "q/2");
        for (int k = 0; k <= 25; k++)
        {
            Assert.True(Math.Abs(keep.Norms[k] - keep.Norms[0]) <= 1e-12 * keep.Norms[0], $"k={k}: {keep.Norms[k]:R}");
            double expect = keep.Norms[0] * Math.Pow(0.5, k);
            Assert.True(Math.Abs(half.Norms[k] - expect) <= 1e-12 * expect, $"k={k}: {half.Norms[k]:R} vs {expect:R}");
        }
        Assert.Equal(1.0, keep.Spectrum.SigmaMax, 12);
        Assert.Equal(1.0, keep.Spectrum.SigmaMin, 12);
        Assert.Equal(FlowVerdictKind.Healthy, keep.Verdict.Kind);
        Assert.Equal(FlowVerdictKind.Vanishing, half.Verdict.Kind);
        Assert.Equal(PmbRegime.VanishingGuaranteed, half.Condition!.Regime);
    }

    [Theory]
    [InlineData(0, 3, 20)]
    [InlineData(2, 3, 0)]
    [InlineData(-1, 3, 5)]
    public void BadSizesThrow(int n, int h, int t)
    {
        var w = SeedExperiment.GaussianWh(new Rng(1), h);
        Assert.Throws<ArgumentException>(() => SeedExperiment.Run(w, n, t, 1, "x"));
    }
}

public class SpectrumTests
{
    [Fact]
    public void DiagonalAndRotationSpectra()
    {
        var d = WhSpectrum.Of(new double[,] { { 3, 0, 0 }, { 0, -0.5, 0 }, { 0, 0, 2 } });
        Assert.Equal([3.0, 2.0, 0.5], d.SingularValues.Select(v => Math.Round(v, 12)));
        Assert.Equal(3.0, d.SpectralRadius, 12);
        Assert.Equal(6.0, d.ConditionNumber, 12);

        double a = 0.3;
        var rot = WhSpectrum.Of(new double[,] { { Math.Cos(a), -Math.Sin(a) }, { Math.Sin(a), Math.Cos(a) } });
        Assert.Equal(1.0, rot.SigmaMax, 12);
        Assert.Equal(1.0, rot.SpectralRadius, 12);

        // nilpotent: σ_max = 5 but every eigenvalue is 0
        var nil = WhSpectrum.Of(new double[,] { { 0, 5 }, { 0, 0 } });
        Assert.Equal(5.0, nil.SigmaMax, 12);
        Assert.Equal(0.0, nil.SpectralRadius, 12);
    }

    [Fact]
    public void BlocksAreSplitInGateOrder()
    {
        var w = new double[2, 6];
        for (int g = 0; g < 3; g++) { w[0, 2 * g] = g + 1; w[1, 2 * g + 1] = 0.5; }
        var blocks = WhSpectrum.OfBlocks(w, 3);
        Assert.Equal([1.0, 2.0, 3.0], blocks.Select(b => Math.Round(b.SigmaMax, 12)));
        Assert.Throws<ArgumentException>(() => WhSpectrum.OfBlocks(w, 4));
    }

    [Fact]
    public void HugeAndTinyMatricesScaleExactly()
    {
        var w = new double[,] { { 0.3, -1.2 }, { 0.7, 0.4 } };
        var baseS = WhSpectrum.Of(w);
        foreach (var c in new[] { 1e200, 1e-200, 0.0 })
        {
            var s = WhSpectrum.Of(SeedExperiment.Scaled(w, c));
            Assert.Equal(baseS.SigmaMax * c, s.SigmaMax, Math.Max(1e-12 * baseS.SigmaMax * c, 0));
            Assert.True(Math.Abs(s.SpectralRadius - baseS.SpectralRadius * c) <= 1e-12 * baseS.SpectralRadius * c);
            Assert.True(s.SigmaMin >= 0);
        }
    }

    [Fact]
    public void NonFiniteMatrixIsRejected() =>
        Assert.Throws<ArgumentException>(() => WhSpectrum.Of(new double[,] { { 1, double.NaN }, { 0, 1 } }));

    [Theory]
    [InlineData(0.93, 1.0, PmbRegime.VanishingGuaranteed)]
    [InlineData(1.5, 1.0, PmbRegime.ExplodingPossible)]
    [InlineData(3.0, 0.25, PmbRegime.VanishingGuaranteed)]   // sigmoid: 1/γ = 4
    [InlineData(4.5, 0.25, PmbRegime.ExplodingPossible)]
    [InlineData(1.0, 1.0, PmbRegime.Boundary)]
    public void PascanuRegime(double sigma, double gamma, PmbRegime expect)
    {
        var c = new PmbCondition(sigma, gamma);
        Assert.Equal(expect, c.Regime);
        Assert.Contains(Fmt.G3(sigma), c.Describe());
    }
}

public class VerdictTests
{
    private static double[] Geometric(double start, double ratio, int k) => Enumerable.Range(0, k + 1).Select(i => start * Math.Pow(ratio, i)).ToArray();

    [Fact]
    public void GeometricDecayIsVanishingWithNumbersInTheEvidence()
    {
        var v = FlowVerdict.Judge(new FlowEvidence(Geometric(2, 0.6, 100), 100)
        {
            ActivationFactor = 0.71, MatrixFactor = 0.84, Condition = new PmbCondition(0.93, 1),
        });
        Assert.Equal(FlowVerdictKind.Vanishing, v.Kind);
        Assert.Equal(Math.Pow(0.6, 100), v.TotalGain, 1e-20);
        Assert.Equal(0.6, v.StepGain, 12);
        Assert.Contains("t=0", v.Evidence);
        Assert.Contains("t=100", v.Evidence);
        Assert.Contains(Fmt.G3(Math.Pow(0.6, 100)), v.Evidence);
        Assert.Contains("tanh factor averages 0.71", v.Evidence);
        Assert.Contains("W_hᵀ factor 0.84", v.Evidence);
        Assert.Contains("vanishing is guaranteed", v.Evidence);
    }

    [Fact]
    public void GrowthIsExplodingAndFlatIsHealthy()
    {
        Assert.Equal(FlowVerdictKind.Exploding, FlowVerdict.Judge(new FlowEvidence(Geometric(1, 1.5, 20), 20)).Kind);
        Assert.Equal(FlowVerdictKind.Healthy, FlowVerdict.Judge(new FlowEvidence(Geometric(1, 0.99, 20), 20)).Kind);
        Assert.Equal(FlowVerdictKind.Exploding, FlowVerdict.Judge(new FlowEvidence([1, 10, double.PositiveInfinity], 2)).Kind);
        Assert.Equal(FlowVerdictKind.Vanishing, FlowVerdict.Judge(new FlowEvidence([0, 0], 1)).Kind);
        // a short sequence with a steep per-step decay is vanishing through the step-gain threshold
        Assert.Equal(FlowVerdictKind.Vanishing, FlowVerdict.Judge(new FlowEvidence(Geometric(1, 0.3, 2), 2)).Kind);
    }

    [Fact]
    public void ThresholdsAreConfigurable()
    {
        var e = new FlowEvidence(Geometric(1, 0.9, 20), 20);   // total gain 0.12
        Assert.Equal(FlowVerdictKind.Healthy, FlowVerdict.Judge(e).Kind);
        Assert.Equal(FlowVerdictKind.Vanishing, FlowVerdict.Judge(e, new FlowThresholds { VanishingTotalGain = 0.5 }).Kind);
        Assert.Throws<ArgumentException>(() => FlowVerdict.Judge(e, new FlowThresholds { VanishingTotalGain = 2 }));
    }
}

public class MatrixFileTests
{
    [Fact]
    public void CsvParses()
    {
        var m = MatrixFile.ParseCsv("# W_h\n1, 2.5 ,-3e-1\n4;5 6\n\n");
        Assert.Equal(2, m.GetLength(0));
        Assert.Equal(3, m.GetLength(1));
        Assert.Equal(-0.3, m[0, 2]);
        Assert.Equal(6, m[1, 2]);
    }

    [Theory]
    [InlineData("1,2\n3,x\n")]
    [InlineData("1,2\n3\n")]
    [InlineData("")]
    public void BadCsvThrows(string text) => Assert.Throws<InvalidDataException>(() => MatrixFile.ParseCsv(text));

    [Fact]
    public void NpyFloat64RoundTripsAndFloat32Reads()
    {
        var m = new double[,] { { 1.5, -2 }, { 1e-300, 3 }, { 0.1, 7 } };
        var back = MatrixFile.ParseNpy(MatrixFile.ToNpy(m));
        Assert.Equal(m, back);

        // a float32 array written by hand the way numpy does: header padded to 64 bytes
        string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        h = h.PadRight(64 - 10 - 1) + "\n";
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)h.Length, 0 };
        bytes.AddRange(System.Text.Encoding.Latin1.GetBytes(h));
        foreach (var f in new[] { 0.25f, -1f, 3f, 0.1f }) bytes.AddRange(BitConverter.GetBytes(f));
        var m32 = MatrixFile.ParseNpy([.. bytes]);
        Assert.Equal((double)0.1f, m32[1, 1]);
        Assert.Equal(-1.0, m32[0, 1]);
    }

    [Fact]
    public void BadNpyThrows()
    {
        var good = MatrixFile.ToNpy(new double[,] { { 1, 2 } });
        Assert.Throws<InvalidDataException>(() => MatrixFile.ParseNpy(good[..^3]));            // truncated data
        Assert.Throws<InvalidDataException>(() => MatrixFile.ParseNpy([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
        var fortran = (byte[])good.Clone();
        var text = System.Text.Encoding.Latin1.GetString(fortran).Replace("'<f8'", "'<i8'");
        Assert.Throws<InvalidDataException>(() => MatrixFile.ParseNpy(System.Text.Encoding.Latin1.GetBytes(text)));
    }
}

public class GradientFlowCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "unroll-gf-test-" + Guid.NewGuid().ToString("N"));

    public GradientFlowCommandTests() => Directory.CreateDirectory(_dir);
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void DefaultRunPrintsBothScalesAndWritesNonEmptyFiles()
    {
        string outDir = Path.Combine(_dir, "out");
        var (code, stdout, err) = Run("gradient-flow", "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains("scale=1", stdout);
        Assert.Contains("scale=0.5", stdout);
        Assert.Contains("σ_max", stdout);
        foreach (var f in new[] { "gradient-flow.csv", "gradient-flow.json", "norms.png", "norms.svg", "factors.png", "factors.svg" })
        {
            var path = Path.Combine(outDir, f);
            Assert.True(File.Exists(path), f);
            Assert.True(new FileInfo(path).Length > 100, f);
        }
        var png = File.ReadAllBytes(Path.Combine(outDir, "norms.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(outDir, "factors.svg")));
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp"));
        // the CSV has one row per setting and step: (2 W_h-only + 2 tanh-layer settings) × 21 + header
        Assert.Equal(1 + 4 * 21, File.ReadAllLines(Path.Combine(outDir, "gradient-flow.csv")).Length);
    }

    [Fact]
    public void ExplicitWhFromCsvAndNpyGiveTheSameNumbersAsTheClosedForm()
    {
        var w = new double[,] { { 0.5, -0.25 }, { 0.125, 0.75 } };
        string csv = Path.Combine(_dir, "wh.csv"), npy = Path.Combine(_dir, "wh.npy");
        File.WriteAllText(csv, "0.5,-0.25\n0.125,0.75\n");
        File.WriteAllBytes(npy, MatrixFile.ToNpy(w));
        var a = Run("gradient-flow", "--wh", csv, "--t", "5", "--json", "--out", Path.Combine(_dir, "a"));
        var b = Run("gradient-flow", "--wh", npy, "--t", "5", "--json", "--out", Path.Combine(_dir, "b"));
        Assert.True(a.Code == 0, a.Err);
        Assert.True(b.Code == 0, b.Err);
        var ja = System.Text.Json.JsonDocument.Parse(a.Out).RootElement.GetProperty("settings")[0].GetProperty("normsPerSample");
        var jb = System.Text.Json.JsonDocument.Parse(b.Out).RootElement.GetProperty("settings")[0].GetProperty("normsPerSample");
        var direct = SeedExperiment.Run(w, 2, 5, 1, "x").Norms;
        for (int k = 0; k <= 5; k++)
        {
            Assert.Equal(direct[k], ja[k].GetDouble());
            Assert.Equal(direct[k], jb[k].GetDouble());
        }
    }

    public static TheoryData<string[], string?> BadInputs => new()
    {
        { ["--t", "0"], null },
        { ["--n", "0"], null },
        { ["--h", "-2"], null },
        { ["--cell", "transformer"], null },
        { ["--h", "100000"], null },
        { ["--n", "1000", "--t", "10000", "--h", "100"], null },
        { ["--init", "zeros"], null },
        { ["--scale", "abc"], null },
        { ["--wh", "FILE", "--scale", "1e308"], "10,0\n0,1\n" },  // the scaled W_h overflows
        { ["--wh", "FILE"], "1,2,3\n4,5,6\n" },            // not square
        { ["--wh", "FILE", "--h", "3"], "1,2\n3,4\n" },     // wrong size
        { ["--wh", "FILE"], "1,2\n3,oops\n" },              // non-numeric
        { ["--wh", "FILE"], "1,NaN\n3,4\n" },               // NaN in weights
        { ["--wh", "MISSING"], null },                      // unreadable
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInputExitsTwoWithOneLineAndNoFiles(string[] args, string? fileContent)
    {
        string outDir = Path.Combine(_dir, "out");
        string file = Path.Combine(_dir, "wh.csv");
        if (fileContent is not null) File.WriteAllText(file, fileContent);
        var argv = args.Select(a => a == "FILE" ? file : a == "MISSING" ? Path.Combine(_dir, "nope.csv") : a).ToList();
        argv.InsertRange(0, ["gradient-flow", "--out", outDir]);
        var (code, stdout, err) = Run([.. argv]);
        Assert.Equal(2, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("unroll: ", lines[0]);
        Assert.False(Directory.Exists(outDir), "no output directory may be created on bad input");
        Assert.Equal("", stdout);
    }

    [Fact]
    public void HelpDocumentsEveryOption()
    {
        var (code, stdout, _) = Run("gradient-flow", "--help");
        Assert.Equal(0, code);
        foreach (var o in new[] { "--n", "--h", "--t", "--scale", "--cell", "--init", "--wh", "--seed", "--out", "--json", "--quiet", "Examples" })
            Assert.Contains(o, stdout);
    }

    [Fact]
    public void OutputDirectoryThatIsAFileIsBadUsage()
    {
        string f = Path.Combine(_dir, "afile");
        File.WriteAllText(f, "x");
        var (code, _, err) = Run("gradient-flow", "--out", f);
        Assert.Equal(2, code);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}

public class GradientFlowReportTests
{
    [Fact]
    public void HtmlSectionHasBothPlotsTheTableAndOneSentencePerSetting()
    {
        var w = SeedExperiment.GaussianWh(new Rng(3), 3);
        var curves = new[] { 1.0, 0.5 }.Select(s => SeedExperiment.Run(SeedExperiment.Scaled(w, s), 2, 20, s, $"scale={s}")).ToList();
        var report = new HtmlReport("t");
        var sec = report.AddSection("seed", "Seed experiment");
        GradientFlowReport.AddToSection(sec, curves, "seed");
        Assert.Equal(2, sec.Plots.Count);
        Assert.Equal(["seed-norms", "seed-factors"], sec.Plots.Select(p => p.Id));
        Assert.Equal(2, sec.Paragraphs.Count);
        Assert.Contains(curves[1].Verdict.Evidence, sec.Paragraphs[1]);
        var html = report.Render();
        Assert.Contains("<svg", html);
        Assert.Equal(2, sec.Tables[0].Rows.Count);
    }

    [Fact]
    public void CsvAndJsonCarryEveryStep()
    {
        var w = SeedExperiment.GaussianWh(new Rng(3), 3);
        var c = SeedExperiment.Run(w, 2, 5, 1, "scale=1");
        var csv = GradientFlowReport.Csv([c]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(7, csv.Length);
        var last = csv[^1].Split(',');
        Assert.Equal(c.Norms[5], double.Parse(last[5], CultureInfo.InvariantCulture));
        var json = System.Text.Json.JsonDocument.Parse(GradientFlowReport.Json([c], new { t = 5 })).RootElement;
        Assert.Equal(c.Spectrum.SigmaMax, json.GetProperty("settings")[0].GetProperty("spectrum").GetProperty("sigmaMax").GetDouble());
        Assert.Equal(c.Verdict.Kind.ToString().ToLowerInvariant(), json.GetProperty("settings")[0].GetProperty("verdict").GetProperty("kind").GetString());
    }
}

/// <summary>The seed experiment against NumPy (fixture from bench/reference/gradient_flow_seed.py, numpy's own .npy writer).</summary>
public class GradientFlowNumpyParityTests
{
    private static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "flow");

    [Theory]
    [InlineData("wh_f64.npy", "norms_f64")]
    [InlineData("wh_f32.npy", "norms_f32")]
    public void NormsMatchNumpyToTheLastDigits(string file, string key)
    {
        var fx = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "seed_numpy.json"))).RootElement;
        int n = fx.GetProperty("n").GetInt32(), t = fx.GetProperty("t").GetInt32();
        var expect = fx.GetProperty(key).EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var wh = MatrixFile.Read(Path.Combine(Dir, file));
        Assert.Equal(fx.GetProperty("h").GetInt32(), wh.GetLength(0));
        var c = SeedExperiment.Run(wh, n, t, 1, "numpy");
        for (int k = 0; k <= t; k++)
            Assert.True(Math.Abs(c.Norms[k] - expect[k]) <= 4e-16 * expect[k] * (k + 1), $"k={k}: {c.Norms[k]:R} vs numpy {expect[k]:R}");

        // and through the command line, as a user comparing with another tool would
        var o = new StringWriter(); var e = new StringWriter();
        string outDir = Path.Combine(Path.GetTempPath(), "unroll-gf-numpy-" + Guid.NewGuid().ToString("N"));
        try
        {
            int code = CliApp.Run(["gradient-flow", "--wh", Path.Combine(Dir, file), "--t", t.ToString(CultureInfo.InvariantCulture), "--n", n.ToString(CultureInfo.InvariantCulture), "--json", "--out", outDir], o, e);
            Assert.True(code == 0, e.ToString());
            var norms = System.Text.Json.JsonDocument.Parse(o.ToString()).RootElement.GetProperty("settings")[0].GetProperty("normsPerSample");
            for (int k = 0; k <= t; k++) Assert.Equal(c.Norms[k], norms[k].GetDouble());
        }
        finally { if (Directory.Exists(outDir)) Directory.Delete(outDir, true); }
    }
}
