using System.Globalization;
using System.Text.Json.Nodes;
using Unroll.Cli;
using Unroll.Flow;
using Unroll.Models;
using Unroll.Tensors;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>The gradient-flow recorder attached to training: every K updates, per layer, into gradient-flow.csv/.jsonl.</summary>
public class FlowMonitorTests
{
    private static readonly string Ptb = DataTests.Fixture("ptb-mini");

    [Fact]
    public void TrainRecordsGradientFlowEveryKUpdatesForEveryLayer()
    {
        using var d = new TempDir();
        var o = new StringWriter(); var e = new StringWriter();
        int code = CliApp.Run(["train", "--task", "ptb", "--data", Ptb, "--embed", "8", "--hidden", "8", "--layers", "2", "--cell", "gru",
                               "--batch", "4", "--bptt", "8", "--max-steps", "12", "--flow-every", "5", "--clip", "0.01", "--out", d.Path], o, e);
        Assert.True(code == 0, e.ToString());

        var lines = File.ReadAllLines(Path.Combine(d.Path, "gradient-flow.csv"));
        var cols = lines[0].Split(',');
        Assert.Equal(FlowMonitor<float>.Columns, cols);
        var rows = lines.Skip(1).Select(l => l.Split(',')).ToArray();
        // updates 0, 5, 10 × 2 layers
        Assert.Equal([0, 0, 5, 5, 10, 10], rows.Select(r => int.Parse(r[0], CultureInfo.InvariantCulture)));
        Assert.Equal([0, 1, 0, 1, 0, 1], rows.Select(r => int.Parse(r[1], CultureInfo.InvariantCulture)));
        int iGain = Array.IndexOf(cols, "propagation_gain"), iSigma = Array.IndexOf(cols, "sigma_max"), iCarry = Array.IndexOf(cols, "carry_gain");
        foreach (var r in rows)
        {
            Assert.Equal("gru", r[2]);
            Assert.Contains(r[3], new[] { "vanishing", "healthy", "exploding" });
            Assert.True(double.Parse(r[iGain], CultureInfo.InvariantCulture) > 0);
            Assert.True(double.Parse(r[iSigma], CultureInfo.InvariantCulture) > 0);
            Assert.NotEqual("", r[iCarry]);                                   // GRU path present
            Assert.Equal("", r[Array.IndexOf(cols, "cell_path_gain")]);        // LSTM-only column empty
        }
        Assert.Equal(6, File.ReadAllLines(Path.Combine(d.Path, "gradient-flow.jsonl")).Length);
        Assert.True(new FileInfo(Path.Combine(d.Path, "gradient-flow.png")).Length > 0);
        Assert.True(new FileInfo(Path.Combine(d.Path, "gradient-flow.svg")).Length > 0);

        var result = JsonNode.Parse(File.ReadAllText(Path.Combine(d.Path, "train-result.json")))!;
        // with --clip 0.01 practically every update clips; the count matches the clipped column of metrics.csv
        var m = File.ReadAllLines(Path.Combine(d.Path, "metrics.csv"));
        int iClipped = Array.IndexOf(m[0].Split(','), "clipped");
        long clippedRows = m.Skip(1).Count(l => l.Split(',')[iClipped] == "1");
        Assert.Equal(clippedRows, (long)result["clipped_steps"]!);
        Assert.True(clippedRows > 0);
        Assert.Equal(2, result["flow"]!.AsArray().Count);
        Assert.Contains("gradient flow at update 10, layer 1 (gru)", o.ToString());
    }

    [Fact]
    public void FlowEveryZeroWritesNoFlowFilesAndNegativeIsBadUsage()
    {
        using var d = new TempDir();
        var e = new StringWriter();
        Assert.Equal(0, CliApp.Run(["train", "--task", "ptb", "--data", Ptb, "--embed", "8", "--hidden", "8", "--batch", "4", "--bptt", "8",
                                    "--max-steps", "3", "--flow-every", "0", "--out", d.Path, "--quiet"], new StringWriter(), e));
        Assert.False(File.Exists(Path.Combine(d.Path, "gradient-flow.csv")));

        var e2 = new StringWriter();
        string o2 = Path.Combine(d.Path, "neg");
        Assert.Equal(2, CliApp.Run(["train", "--task", "ptb", "--data", Ptb, "--max-steps", "3", "--flow-every", "-1", "--out", o2, "--quiet"], new StringWriter(), e2));
        Assert.Single(e2.ToString().Trim().Split('\n'));
        Assert.Contains("--flow-every", e2.ToString());
    }

    [Fact]
    public void MonitorSummariesEqualTheRecorderOnTheSameBackward()
    {
        var cfg = new LanguageModelConfig { Model = "rnnlm", Cell = "rnn", Vocab = 7, Embed = 4, Hidden = 5, Layers = 1 };
        var model = LanguageModels.Create<double>(cfg, new Rng(3));
        var mon = new FlowMonitor<double>(model, every: 2, outDir: null, append: false);
        var rng = new Rng(4);
        int n = 2, t = 6;
        var xs = Enumerable.Range(0, n * t).Select(_ => rng.NextInt(7)).ToArray();
        var ts = Enumerable.Range(0, n * t).Select(_ => rng.NextInt(7)).ToArray();
        for (long step = 0; step < 3; step++)
        {
            model.ZeroGrad();
            model.Forward(xs, ts, n, t);
            model.Backward();
            mon.AfterBackward(step, []);
            if (step == 2)
            {
                var direct = new GradientFlowRecorder<double>().Summarize(model.Recurrent[0]);
                Assert.Equal(direct.PropagationGain, mon.History[^1].Summary.PropagationGain, 12);
                Assert.Equal(direct.MeanActivationFactor, mon.History[^1].Summary.MeanActivationFactor);
            }
        }
        Assert.Equal([0L, 2L], mon.History.Select(h => h.Step));
    }
}
