using System.Globalization;
using System.Text.Json;
using Unroll.Cli;
using Unroll.Demo;
using Unroll.Flow;

namespace Unroll.Tests.Demo;

/// <summary>The demo pipeline at its tiny size: files, sections, plots, numbers, bad input, determinism.</summary>
public sealed class DemoTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "unroll-demo-test-" + Guid.NewGuid().ToString("N"));

    public DemoTests() => Directory.CreateDirectory(_root);
    public void Dispose() { try { Directory.Delete(_root, true); } catch (IOException) { } }

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static readonly string[] DataFiles =
        [DemoOutputs.ReportName, DemoOutputs.JsonName, DemoOutputs.SummaryName, DemoOutputs.SeedCsv, DemoOutputs.CellsCsv, DemoOutputs.ClipCsv, DemoOutputs.CompareCsv];

    [Fact]
    public void TinyDemo_WritesEveryFile_Section_AndPlot_WithPlainOutput()
    {
        string dir = Path.Combine(_root, "out");
        var (code, stdout, stderr) = Cli("demo", "--size", "tiny", "--out", dir, "--seed", "3", "--threads", "2");
        Assert.True(code == 0, $"exit {code}: {stderr}");
        foreach (var f in DataFiles) Assert.True(File.Exists(Path.Combine(dir, f)), $"missing {f}");
        foreach (var id in DemoOutputs.PlotIds)
            foreach (var ext in new[] { ".png", ".svg" })
            {
                var path = Path.Combine(dir, DemoOutputs.PlotFile(id) + ext);
                Assert.True(File.Exists(path) && new FileInfo(path).Length > 1000, $"missing or empty {path}");
            }
        Assert.Empty(Directory.GetFiles(dir, "*.tmp").Concat(Directory.GetFiles(dir, ".*")));

        string html = File.ReadAllText(Path.Combine(dir, DemoOutputs.ReportName));
        foreach (var s in new[] { DemoOutputs.SectionSeed, DemoOutputs.SectionCells, DemoOutputs.SectionRemedies })
            Assert.Contains($"id=\"{s}\"", html);
        foreach (var id in DemoOutputs.PlotIds) Assert.Contains($"<figure class=\"plot\" id=\"{id}\">", html);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/", ""));

        // the checker's lists are the report's ids
        string checker = File.ReadAllText(Path.Combine(RepoRoot(), ".ci", "check-report"));
        foreach (var id in DemoOutputs.PlotIds) Assert.Contains($"\"{id}\"", checker);

        Assert.DoesNotContain('\u001b', stdout);
        Assert.Contains("Report: " + Path.Combine(Path.GetFullPath(dir), DemoOutputs.ReportName), stdout);
        Assert.Contains("a. seed experiment: done", stdout);
        Assert.Contains("exploding", stdout);
        Assert.Equal("", stderr);
    }

    [Fact]
    public void ReportNumbers_MatchTheJsonAndCsv()
    {
        string dir = Path.Combine(_root, "nums");
        var (code, _, stderr) = Cli("demo", "--size", "tiny", "--out", dir, "--quiet");
        Assert.True(code == 0, stderr);
        string html = File.ReadAllText(Path.Combine(dir, DemoOutputs.ReportName));
        string md = File.ReadAllText(Path.Combine(dir, DemoOutputs.SummaryName));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, DemoOutputs.JsonName)));
        var root = doc.RootElement;
        void InReport(double v, string what)
        {
            string s = System.Net.WebUtility.HtmlEncode(Fmt.G3(v));
            Assert.True(html.Contains(s, StringComparison.Ordinal), $"{what} = {s} not in report.html");
            Assert.True(md.Contains(Fmt.G3(v), StringComparison.Ordinal), $"{what} = {Fmt.G3(v)} not in summary.md");
        }
        foreach (var c in root.GetProperty("seed").GetProperty("whOnly").EnumerateArray())
        {
            InReport(c.GetProperty("spectrum").GetProperty("sigmaMax").GetDouble(), "seed σ_max");
            var norms = c.GetProperty("normsPerSample").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            InReport(norms[^1], "seed last norm");
        }
        var compareCsv = File.ReadAllLines(Path.Combine(dir, DemoOutputs.CompareCsv)).Skip(1).Select(l => l.Split(',')).ToList();
        int i = 0;
        foreach (var run in root.GetProperty("compare").EnumerateArray())
        {
            double mse = Num(run.GetProperty("finalMetric"));
            InReport(mse, "compare test MSE");
            Assert.Equal(run.GetProperty("config").GetProperty("model").GetString(), compareCsv[i][0]);
            Assert.Equal(mse, double.Parse(compareCsv[i][3], CultureInfo.InvariantCulture));
            i++;
        }
        Assert.Equal(compareCsv.Count, i);
        var cellsCsv = File.ReadAllLines(Path.Combine(dir, DemoOutputs.CellsCsv)).Skip(1).Select(l => l.Split(',')).ToList();
        foreach (var run in root.GetProperty("cells").GetProperty("runs").EnumerateArray())
        {
            string cell = run.GetProperty("cell").GetString()!;
            InReport(Num(run.GetProperty("finalMse")), $"{cell} final MSE");
            var trained = run.GetProperty("trained");
            InReport(Num(trained.GetProperty("summary").GetProperty("propagationGain")), $"{cell} kept over T");
            InReport(Num(trained.GetProperty("summary").GetProperty("sigmaMax")), $"{cell} σ_max");
            var norms = trained.GetProperty("record").GetProperty("gradNorm").EnumerateArray().Select(Num).ToArray();
            var rows = cellsCsv.Where(r => r[0] == cell && r[1] == "trained").ToList();
            Assert.Equal(norms.Length, rows.Count);
            for (int t = 0; t < norms.Length; t++) Assert.Equal(norms[t], double.Parse(rows[t][3], CultureInfo.InvariantCulture));
        }
        var clip = root.GetProperty("clipping");
        int fired = clip.GetProperty("with").GetProperty("clipCount").GetInt32();
        Assert.Contains($"clipping fired on {fired} of", html);
    }

    /// <summary>A JSON number, or one of the named literals "NaN", "Infinity", "-Infinity".</summary>
    private static double Num(JsonElement e) => e.ValueKind == JsonValueKind.String ? double.Parse(e.GetString()!, CultureInfo.InvariantCulture) : e.GetDouble();

    [Fact]
    public void Result_DoesNotDependOnTheThreadCount_AndFollowsTheSeed()
    {
        var one = DemoRunner.Run(DemoOptions.Tiny with { Threads = 1, Seed = 5 });
        var two = DemoRunner.Run(DemoOptions.Tiny with { Threads = 2, Seed = 5 });
        var other = DemoRunner.Run(DemoOptions.Tiny with { Threads = 2, Seed = 6 });
        Assert.Equal(one.Cells.Runs.Select(r => r.Trace.Loss), two.Cells.Runs.Select(r => r.Trace.Loss));
        Assert.Equal(one.Remedies.Clip.With.GradNorm, two.Remedies.Clip.With.GradNorm);
        Assert.Equal(one.Remedies.Compare.Select(r => r.FinalMetric), two.Remedies.Compare.Select(r => r.FinalMetric));
        Assert.Equal(one.Seed.Tanh[0].Norms, two.Seed.Tanh[0].Norms);
        Assert.NotEqual(one.Cells.Runs[0].Trace.Loss, other.Cells.Runs[0].Trace.Loss);
    }

    [Fact]
    public void SeedSection_IsWhatGradientFlowComputes()
    {
        var demo = DemoRunner.RunSeed(DemoOptions.Default with { Seed = 4 });
        var cmd = GradientFlowCommand.Run(new GradientFlowCommand.Settings(2, 3, 20, [1.0, 0.5], "rnn", "gaussian", null, 4));
        var expected = cmd.Curves.Select(c => c.Norms).ToList();
        Assert.Equal(expected, demo.WhOnly.Concat(demo.Tanh).Select(c => c.Norms).ToList());
        // scale 1.0 W_h-only: the closed form ‖ones·(W_hᵀ)^k‖/N is what SeedExperiment computes; the clip run explodes
        Assert.True(demo.WhOnly[0].Norms[^1] > demo.WhOnly[1].Norms[^1]);
    }

    [Theory]
    [InlineData(4910.4, "4910")]
    [InlineData(1234.0, "1234")]
    [InlineData(999.0, "999")]
    [InlineData(12345.0, "1.23e4")]
    [InlineData(0.5, "0.5")]
    public void NumbersInTheReport_AreNeverInEPlusNotation(double v, string expected) => Assert.Equal(expected, Fmt.G3(v));

    [Fact]
    public void Cancelled_RunThrows_AndWritesNothing()
    {
        using var cts = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => DemoRunner.Run(DemoOptions.Tiny, p => { if (p.Done > 0) cts.Cancel(); }, cts.Token));
    }

    [Fact]
    public void OutputIsAFile_ExitsTwo_WithOneLine_AndLeavesItAlone()
    {
        string file = Path.Combine(_root, "taken");
        File.WriteAllText(file, "keep");
        var (code, stdout, stderr) = Cli("demo", "--size", "tiny", "--out", file);
        Assert.Equal(2, code);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains("existing file", stderr);
        Assert.Equal("", stdout);
        Assert.Equal("keep", File.ReadAllText(file));
    }

    [Fact]
    public void OutputUnderAFile_OrNotWritable_ExitsTwo()
    {
        string file = Path.Combine(_root, "plain");
        File.WriteAllText(file, "x");
        var (code, _, stderr) = Cli("demo", "--size", "tiny", "--out", Path.Combine(file, "sub"));
        Assert.Equal(2, code);
        Assert.Contains("is a file", stderr);
        Assert.Single(stderr.Trim().Split('\n'));

        // /proc refuses new files even for root
        (code, _, stderr) = Cli("demo", "--size", "tiny", "--out", "/proc/unroll-demo-test");
        Assert.Equal(2, code);
        Assert.Contains("not writable", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(Directory.Exists("/proc/unroll-demo-test"));
    }

    [Fact]
    public void BadSizeOrThreads_ExitTwo()
    {
        Assert.Equal(2, Cli("demo", "--size", "huge", "--out", Path.Combine(_root, "x")).Code);
        Assert.Equal(2, Cli("demo", "--threads", "0", "--out", Path.Combine(_root, "y")).Code);
        Assert.False(Directory.Exists(Path.Combine(_root, "x")));
    }

    [Fact]
    public void JsonFlag_PrintsTheResultAsJson()
    {
        var (code, stdout, _) = Cli("demo", "--size", "tiny", "--json", "--out", Path.Combine(_root, "j"));
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(3, doc.RootElement.GetProperty("cells").GetProperty("runs").GetArrayLength());
    }

    /// <summary>The repository root (the folder holding Unroll.slnx).</summary>
    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Unroll.slnx"))) return d.FullName;
        throw new InvalidOperationException("Unroll.slnx not found above " + AppContext.BaseDirectory);
    }
}
