using Unroll.Cli;
using Unroll.Tasks;

namespace Unroll.Tests.Tasks;

public class CompareCliTests
{
    private static (int code, string stdout, string stderr) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Theory]
    [InlineData("unknown task 'parity'", "compare", "--task", "parity")]
    [InlineData("unknown model 'transformer'", "compare", "--models", "rnn,transformer")]
    [InlineData("--steps must be positive, got 0", "compare", "--steps", "0")]
    [InlineData("--steps must be positive, got -5", "compare", "--steps", "-5")]
    [InlineData("--seeds must be positive, got 0", "compare", "--seeds", "0")]
    [InlineData("copy: length T = 0 is too short", "compare", "--task", "copy", "--lengths", "5,0")]
    [InlineData("temporal-order: length T = 9 is too short; it must be at least 10", "compare", "--task", "temporal-order", "--lengths", "9")]
    [InlineData("adding: length T = 1 is too short", "compare", "--task", "adding", "--lengths", "1")]
    [InlineData("--lengths: 'abc' is not an integer", "compare", "--lengths", "50,abc")]
    [InlineData("unknown optimizer 'lbfgs'", "compare", "--optimizer", "lbfgs")]
    [InlineData("batch must be positive", "compare", "--batch", "0")]
    [InlineData("clip must be ≥ 0", "compare", "--clip", "-1")]
    public void BadInputIsOneLineOnStderrAndExitTwo(string expected, params string[] args)
    {
        var dir = Path.Combine(Path.GetTempPath(), "unroll-compare-bad-" + Guid.NewGuid().ToString("N"));
        var (code, stdout, stderr) = Run([.. args, "--out", dir, "--quiet"]);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(Directory.Exists(dir), "nothing is written for bad input");
        Assert.Equal("", stdout);
    }

    [Fact]
    public void OutputThatIsAFileIsBadUsage()
    {
        var file = Path.GetTempFileName();
        try
        {
            var (code, _, stderr) = Run("compare", "--lengths", "10", "--models", "lstm", "--steps", "1", "--seeds", "1", "--out", file, "--quiet");
            Assert.Equal(2, code);
            Assert.Contains("is a file", stderr);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void ModelNamesParseAndListTheKnownOnes()
    {
        Assert.Equal("lstm-fb0", ModelSpec.Parse("LSTM-nofb").Name);
        Assert.Equal("irnn", ModelSpec.Parse(" irnn ").Name);
        var ex = Assert.Throws<ArgumentException>(() => ModelSpec.Parse("tcn"));
        Assert.Contains("rnn, ornn, irnn, lstm, lstm-fb0, gru", ex.Message);
    }

    [Fact]
    public void ExpandGivesEveryModelLengthSeedWithASharedHeldOutSeed()
    {
        var t = new RunConfig { Task = "copy", Length = 1, Model = "rnn", Seed = 0, Steps = 10 };
        var list = LongRangeComparison.Expand(t, ["rnn", "gru"], [5, 10, 20], 2, 7);
        Assert.Equal(12, list.Count);
        Assert.All(list, c => Assert.Equal(7, c.HeldOutSeed));
        Assert.Equal([7, 8], list.Select(c => c.Seed).Distinct().Order());
        Assert.Equal(12, list.Select(c => c.Key).Distinct().Count());
        // the training stream is shared by the models of one seed, the initialisation is not
        Assert.Equal(list[0].StreamSeed("data", false), (list[0] with { Model = "gru" }).StreamSeed("data", false));
        Assert.NotEqual(list[0].StreamSeed("init", true), (list[0] with { Model = "gru" }).StreamSeed("init", true));
    }
}

public class LongRangeRunnerTests
{
    private static RunConfig Small(string model, int len = 6, int steps = 20) => new()
    {
        Task = "adding", Length = len, Model = model, Seed = 3, Steps = steps, Batch = 8, Hidden = 8, EvalEvery = 10, HeldOut = 16,
    };

    [Fact]
    public void LstmSolvesTheAddingProblemAtT10WithinAFewHundredSeededSteps()
    {
        // regression guard for the whole stack (generator, LSTM, head, MSE, Adam, clipping): seeded, ~2 s
        var c = new RunConfig
        {
            Task = "adding", Length = 10, Model = "lstm", Seed = 1, Steps = 300, Batch = 32, Hidden = 16,
            LearningRate = 0.01, EvalEvery = 25, HeldOut = 256, EarlyStop = true,
        };
        var r = LongRangeRunner.Run(c);
        Assert.True(r.Solved, $"LSTM did not solve adding T=10 in 300 steps: held-out MSE {r.FinalMetric} (baseline {r.BaselineLoss})");
        Assert.True(r.FirstSolvedStep <= 300);
        Assert.True(r.FinalMetric <= 0.01);
        Assert.Equal(r.FirstSolvedStep, r.StepsDone);   // early stop
    }

    [Theory]
    [InlineData("rnn")]
    [InlineData("irnn")]
    [InlineData("ornn")]
    [InlineData("lstm")]
    [InlineData("lstm-fb0")]
    [InlineData("gru")]
    public void SameConfigurationGivesTheSameRun(string model)
    {
        var a = LongRangeRunner.Run(Small(model));
        var b = LongRangeRunner.Run(Small(model));
        Assert.Equal(a.Curve, b.Curve);
        Assert.Equal(a.FlowInit.StepNorms, b.FlowInit.StepNorms);
        Assert.Equal(a.FlowEnd.Gain, b.FlowEnd.Gain);
        Assert.Equal(2, a.Curve.Count);
        Assert.All(a.Curve, p => Assert.True(double.IsFinite(p.TestLoss) && double.IsFinite(p.GradNorm)));
        Assert.Equal(6, a.FlowInit.StepNorms.Length);
        var c = LongRangeRunner.Run(Small(model) with { Seed = 4 });
        Assert.NotEqual(a.Curve, c.Curve);
    }

    [Fact]
    public void OrthogonalAndIdentityRecurrentMatricesHaveSigmaMaxOne()
    {
        Assert.Equal(1.0, LongRangeRunner.Run(Small("ornn", steps: 1)).FlowInit.SigmaMaxWh, 5);
        Assert.Equal(1.0, LongRangeRunner.Run(Small("irnn", steps: 1)).FlowInit.SigmaMaxWh, 6);
        Assert.True(LongRangeRunner.Run(Small("rnn", steps: 1)).FlowInit.SigmaMaxWh > 1.2); // N(0,1)/√8 8×8: σmax ≈ 2
    }

    [Fact]
    public void FlowProbeReadsTheLastStepsGradientAtEveryStep()
    {
        var task = new AddingProblem(12);
        var model = new SequenceModel<float>(task, ModelSpec.Parse("rnn"), 5, new Unroll.Tensors.Rng(1));
        var probe = task.Sample<float>(new Unroll.Tensors.Rng(2), 4);
        var f = LongRangeRunner.MeasureFlow(model, probe);
        Assert.Equal(12, f.StepNorms.Length);
        Assert.Equal(f.StepNorms[0] / f.StepNorms[^1], f.Gain, 12);
        Assert.All(model.Parameters, p => Assert.Equal(0f, p.Grad.Norm()));   // probe leaves no gradient behind
        Assert.Equal("vanishing", FlowSummary.Judge([1e-3, 1e-2, 1]).Verdict);
        Assert.Equal("exploding", FlowSummary.Judge([1e3, 30, 1]).Verdict);
        Assert.Equal("healthy", FlowSummary.Judge([0.9, 0.95, 1]).Verdict);
        Assert.Equal(FlowSummary.Judge(f.StepNorms).Verdict, f.Verdict);
        Assert.False(string.IsNullOrEmpty(f.Evidence));
    }

    [Theory]
    [InlineData("copy", 3)]
    [InlineData("temporal-order", 10)]
    public void ClassificationTasksReportAccuracyAndCrossEntropy(string task, int len)
    {
        var r = LongRangeRunner.Run(Small("gru", len, 10) with { Task = task });
        Assert.Equal("accuracy", r.Metric);
        Assert.InRange(r.FinalMetric, 0, 1);
        Assert.True(double.IsFinite(r.FinalLoss) && r.FinalLoss > 0);
        Assert.Equal(0.99, r.Threshold);
    }

    [Fact]
    public void FinishedRunsAreResumedFromTheOutputDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "unroll-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            var configs = LongRangeComparison.Expand(Small("rnn", steps: 5), ["rnn", "gru"], [4, 6], 1, 2);
            var loaded = new List<bool>();
            var first = LongRangeComparison.RunAll(configs, 2, dir, (_, l) => loaded.Add(l));
            Assert.Equal(4, loaded.Count(l => !l));
            Assert.Equal(4, Directory.GetFiles(Path.Combine(dir, "runs"), "*.json").Length);
            loaded.Clear();
            var second = LongRangeComparison.RunAll(configs, 2, dir, (_, l) => loaded.Add(l));
            Assert.All(loaded, Assert.True);
            Assert.Equal(first.Select(r => r.FinalMetric), second.Select(r => r.FinalMetric));
            // a changed configuration is not taken from the saved run
            loaded.Clear();
            LongRangeComparison.RunAll([configs[0] with { Steps = 6 }], 1, dir, (_, l) => loaded.Add(l));
            Assert.Equal([false], loaded);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void ParallelAndSequentialRunsGiveTheSameResults()
    {
        var configs = LongRangeComparison.Expand(Small("rnn", steps: 10), ["rnn", "lstm"], [5], 2, 1);
        var seq = LongRangeComparison.RunAll(configs, 1);
        var par = LongRangeComparison.RunAll(configs, 2);
        Assert.Equal(seq.Select(r => r.FinalMetric), par.Select(r => r.FinalMetric));
        Assert.Equal(configs, par.Select(r => r.Config));
    }

    [Fact]
    public void CompareCommandWritesTablesCsvJsonAndPlots()
    {
        var dir = Path.Combine(Path.GetTempPath(), "unroll-compare-" + Guid.NewGuid().ToString("N"));
        try
        {
            var o = new StringWriter(); var e = new StringWriter();
            int code = CliApp.Run(["compare", "--task", "adding", "--lengths", "4,6", "--models", "rnn,lstm", "--steps", "10",
                "--seeds", "2", "--batch", "8", "--hidden", "6", "--eval-every", "5", "--held-out", "16", "--out", dir], o, e);
            Assert.True(code == 0, e.ToString());
            var text = o.ToString();
            Assert.Contains("longest T solved", text);
            Assert.Contains("[8/8]", text);
            foreach (var f in new[] { "results.csv", "curves.csv", "results.json", "summary.md", "curves-T4.png", "curves-T6.svg", "flow-T6.png" })
                Assert.True(File.Exists(Path.Combine(dir, f)), f);
            Assert.Equal(9, File.ReadAllLines(Path.Combine(dir, "results.csv")).Length);
            Assert.Equal(1 + 8 * 2, File.ReadAllLines(Path.Combine(dir, "curves.csv")).Length);
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
            Assert.Equal(8, doc.RootElement.GetProperty("runs").GetArrayLength());
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(Path.Combine(dir, "curves-T4.png")).Take(4).ToArray());
            Assert.Empty(Directory.GetFiles(dir, "*.tmp", SearchOption.AllDirectories));

            var j = new StringWriter();
            Assert.Equal(0, CliApp.Run(["compare", "--task", "adding", "--lengths", "4,6", "--models", "rnn,lstm", "--steps", "10",
                "--seeds", "2", "--batch", "8", "--hidden", "6", "--eval-every", "5", "--held-out", "16", "--out", dir, "--json"], j, e));
            using var one = System.Text.Json.JsonDocument.Parse(j.ToString());
            Assert.Equal(8, one.RootElement.GetProperty("runs").GetArrayLength());
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void QuickPresetFillsOnlyTheOptionsNotGiven()
    {
        var dir = Path.Combine(Path.GetTempPath(), "unroll-quick-" + Guid.NewGuid().ToString("N"));
        try
        {
            var e = new StringWriter();
            int code = CliApp.Run(["compare", "--quick", "--lengths", "4", "--models", "rnn", "--steps", "3", "--hidden", "4", "--held-out", "8", "--out", dir, "--quiet"], new StringWriter(), e);
            Assert.True(code == 0, e.ToString());
            var header = File.ReadAllLines(Path.Combine(dir, "results.csv"))[0].Split(',');
            var rows = File.ReadAllLines(Path.Combine(dir, "results.csv")).Skip(1).Select(l => l.Split(',')).ToList();
            Assert.Single(rows);                                                  // --quick: one seed
            string Col(string name) => rows[0][Array.IndexOf(header, name)];
            Assert.Equal("3", Col("steps"));                                      // given
            Assert.Equal("4", Col("hidden"));                                     // given
            Assert.Equal("32", Col("batch"));                                     // preset
            Assert.Equal("0.01", Col("lr"));                                      // preset
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
