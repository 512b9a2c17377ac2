using System.Globalization;
using System.Text;
using System.Text.Json;
using Unroll.IO;
using Unroll.Tasks;

namespace Unroll.Cli;

/// <summary>Files and tables of <c>unroll compare</c>: CSV, JSON, summary.md and learning-curve / gradient-flow plots.</summary>
public static class CompareOutput
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Writes results.csv, curves.csv, results.json, summary.md and the plots (each file atomically).</summary>
    public static void WriteAll(string dir, IReadOnlyList<RunResult> results, IReadOnlyList<LongestSolved> summary, double wallSeconds, string command)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllBytes(Path.Combine(dir, "results.csv"), ResultsCsv(results).ToUtf8());
        AtomicFile.WriteAllBytes(Path.Combine(dir, "curves.csv"), CurvesCsv(results).ToUtf8());
        AtomicFile.WriteAllBytes(Path.Combine(dir, "results.json"),
            JsonSerializer.Serialize(new { command, wallSeconds, summary, runs = results }, LongRangeComparison.Json).ToUtf8());
        var md = new StringBuilder();
        md.AppendLine($"# unroll compare — {results[0].Config.Task}").AppendLine();
        md.AppendLine("```").AppendLine(command).AppendLine("```").AppendLine();
        md.AppendLine($"Wall time: {wallSeconds.ToString("F1", Inv)} s.").AppendLine();
        md.AppendLine("## Longest T solved").AppendLine().Append(SummaryTable(summary, results, markdown: true)).AppendLine();
        md.AppendLine("## Runs").AppendLine().Append(RunTable(results, markdown: true));
        AtomicFile.WriteAllBytes(Path.Combine(dir, "summary.md"), md.ToString().ToUtf8());
        foreach (var len in results.Select(r => r.Config.Length).Distinct().Order())
        {
            var sel = results.Where(r => r.Config.Length == len).ToList();
            ComparePlots.Save(ComparePlots.Curves(sel), Path.Combine(dir, $"curves-T{len}"));
            ComparePlots.Save(ComparePlots.Flow(sel), Path.Combine(dir, $"flow-T{len}"));
        }
    }

    /// <summary>A flat row per run (for CSV and the JSON summary).</summary>
    public static object Row(RunResult r) => new
    {
        task = r.Config.Task, length = r.Config.Length, model = r.Config.Model, seed = r.Config.Seed,
        metric = r.Metric, finalMetric = r.FinalMetric, finalLoss = r.FinalLoss, baselineLoss = r.BaselineLoss,
        threshold = r.Threshold, solved = r.Solved, firstSolvedStep = r.FirstSolvedStep, stepsDone = r.StepsDone,
        diverged = r.Diverged, gainInit = r.FlowInit.Gain, gainEnd = r.FlowEnd.Gain,
        sigmaMaxInit = r.FlowInit.SigmaMaxWh, sigmaMaxEnd = r.FlowEnd.SigmaMaxWh,
        verdictInit = r.FlowInit.Verdict, verdictEnd = r.FlowEnd.Verdict, seconds = r.Seconds,
    };

    public static string ResultsCsv(IReadOnlyList<RunResult> results)
    {
        var sb = new StringBuilder("task,length,model,seed,metric,final_metric,final_loss,baseline_loss,threshold,solved,first_solved_step,steps_done,diverged,gain_init,gain_end,sigma_max_init,sigma_max_end,verdict_init,verdict_end,seconds,steps,batch,hidden,lr,optimizer,clip\n");
        foreach (var r in results)
        {
            var c = r.Config;
            sb.AppendJoin(',', c.Task, c.Length, c.Model, c.Seed, r.Metric, F(r.FinalMetric), F(r.FinalLoss), F(r.BaselineLoss), F(r.Threshold),
                r.Solved ? "true" : "false", r.FirstSolvedStep?.ToString(Inv) ?? "", r.StepsDone, r.Diverged ? "true" : "false",
                F(r.FlowInit.Gain), F(r.FlowEnd.Gain), F(r.FlowInit.SigmaMaxWh), F(r.FlowEnd.SigmaMaxWh), r.FlowInit.Verdict, r.FlowEnd.Verdict,
                F(r.Seconds), c.Steps, c.Batch, c.Hidden, F(c.LearningRate), c.Optimizer, F(c.Clip)).Append('\n');
        }
        return sb.ToString();
    }

    public static string CurvesCsv(IReadOnlyList<RunResult> results)
    {
        var sb = new StringBuilder("task,length,model,seed,step,train_loss,test_loss,test_metric,grad_norm\n");
        foreach (var r in results)
            foreach (var p in r.Curve)
                sb.AppendJoin(',', r.Config.Task, r.Config.Length, r.Config.Model, r.Config.Seed, p.Step, F(p.TrainLoss), F(p.TestLoss), F(p.TestMetric), F(p.GradNorm)).Append('\n');
        return sb.ToString();
    }

    private static string F(double x) => x.ToString("R", Inv);
    private static string G(double x, int digits = 3) => double.IsNaN(x) ? "—" : x.ToString("G" + digits, Inv);

    /// <summary>Per-run table (text or markdown).</summary>
    public static string RunTable(IReadOnlyList<RunResult> results, bool markdown = false)
    {
        string metric = results[0].Metric == "mse" ? "test MSE" : "test acc";
        var header = new[] { "model", "T", "seed", metric, "test loss", "solved", "first solved", "gain init", "gain end", "σmax init", "σmax end", "verdict init → end", "s" };
        var rows = results.Select(r => new[]
        {
            r.Config.Model, r.Config.Length.ToString(Inv), r.Config.Seed.ToString(Inv),
            r.Metric == "mse" ? G(r.FinalMetric) : (r.FinalMetric * 100).ToString("F1", Inv) + "%", G(r.FinalLoss),
            r.Diverged ? "diverged" : r.Solved ? "yes" : "no", r.FirstSolvedStep?.ToString(Inv) ?? "—",
            G(r.FlowInit.Gain, 2), G(r.FlowEnd.Gain, 2), G(r.FlowInit.SigmaMaxWh), G(r.FlowEnd.SigmaMaxWh),
            $"{r.FlowInit.Verdict} → {r.FlowEnd.Verdict}", r.Seconds.ToString("F1", Inv),
        }).ToList();
        return Table(header, rows, markdown);
    }

    /// <summary>"Longest T solved" per model, with solved/runs at every length.</summary>
    public static string SummaryTable(IReadOnlyList<LongestSolved> summary, IReadOnlyList<RunResult> results, bool markdown = false)
    {
        var lengths = results.Select(r => r.Config.Length).Distinct().Order().ToList();
        var header = new List<string> { "model", "longest T solved (all seeds)", "(any seed)" };
        header.AddRange(lengths.Select(l => $"T={l} solved"));
        var rows = summary.Select(s =>
        {
            var row = new List<string> { s.Model, s.LongestAllSeeds?.ToString(Inv) ?? "none", s.LongestAnySeed?.ToString(Inv) ?? "none" };
            row.AddRange(lengths.Select(l => s.Cells.FirstOrDefault(c => c.Length == l) is { } c ? $"{c.Solved}/{c.Runs}" : "—"));
            return row.ToArray();
        }).ToList();
        return Table(header.ToArray(), rows, markdown);
    }

    private static string Table(string[] header, List<string[]> rows, bool markdown)
    {
        var sb = new StringBuilder();
        if (markdown)
        {
            sb.Append("| ").AppendJoin(" | ", header).Append(" |\n");
            sb.Append('|').AppendJoin('|', header.Select(_ => "---")).Append("|\n");
            foreach (var r in rows) sb.Append("| ").AppendJoin(" | ", r).Append(" |\n");
            return sb.ToString();
        }
        var w = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        sb.AppendJoin("  ", header.Select((h, i) => h.PadRight(w[i]))).Append('\n');
        sb.AppendJoin("  ", w.Select(x => new string('-', x))).Append('\n');
        foreach (var r in rows) sb.AppendJoin("  ", r.Select((c, i) => c.PadRight(w[i]))).Append('\n');
        return sb.ToString();
    }
}
