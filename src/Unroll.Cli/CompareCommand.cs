using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Unroll.IO;
using Unroll.Tasks;

namespace Unroll.Cli;

/// <summary>
/// <c>unroll compare</c>: trains every model × length × seed on a long-range task, evaluates on a fixed held-out set,
/// and reports solved / first step solved / gradient flow at init and end, the "longest T solved" table, learning
/// curves (PNG + SVG) and CSV/JSON.
/// </summary>
public static class CompareCommand
{
    private static readonly Option<string> TaskOpt = new("--task") { Description = "adding | copy | temporal-order.", DefaultValueFactory = _ => "adding" };
    private static readonly Option<string> LengthsOpt = new("--lengths") { Description = "Comma-separated lengths T.", DefaultValueFactory = _ => "50,100,200" };
    private static readonly Option<string> ModelsOpt = new("--models") { Description = "Comma-separated models: rnn, ornn (orthogonal tanh), irnn (ReLU, W_h = I), lstm (forget bias 1), lstm-fb0, gru.", DefaultValueFactory = _ => "rnn,irnn,lstm,gru" };
    private static readonly Option<int> StepsOpt = new("--steps") { Description = "Training steps (updates) per run.", DefaultValueFactory = _ => 3000 };
    private static readonly Option<int> SeedsOpt = new("--seeds") { Description = "Seeds per model × length (run seeds are --seed, --seed+1, …).", DefaultValueFactory = _ => 2 };
    private static readonly Option<int> BatchOpt = new("--batch") { Description = "Sequences per batch.", DefaultValueFactory = _ => 50 };
    private static readonly Option<int> HiddenOpt = new("--hidden") { Description = "Hidden units H.", DefaultValueFactory = _ => 64 };
    private static readonly Option<double> LrOpt = new("--lr") { Description = "Learning rate.", DefaultValueFactory = _ => 1e-3 };
    private static readonly Option<string> OptimizerOpt = new("--optimizer") { Description = "sgd | momentum | adagrad | rmsprop | adam.", DefaultValueFactory = _ => "adam" };
    private static readonly Option<double> ClipOpt = new("--clip") { Description = "Global-norm gradient clipping threshold; 0 = off.", DefaultValueFactory = _ => 1.0 };
    private static readonly Option<int> EvalEveryOpt = new("--eval-every") { Description = "Evaluate on the held-out set every N steps.", DefaultValueFactory = _ => 100 };
    private static readonly Option<int> HeldOutOpt = new("--held-out") { Description = "Held-out sequences (rounded up to a multiple of --batch).", DefaultValueFactory = _ => 500 };
    private static readonly Option<double?> ThresholdOpt = new("--solve-threshold") { Description = "Solved when held-out MSE ≤ this (adding; default 0.01) or accuracy ≥ this (copy, temporal-order; default 0.99)." };
    private static readonly Option<bool> EarlyStopOpt = new("--early-stop") { Description = "Stop a run at its first solved evaluation (faster; the final metric is then the one at that step)." };
    private static readonly Option<bool> QuickOpt = new("--quick") { Description = "Fast preset (options given explicitly still win): --hidden 32 --batch 32 --lr 0.01 --steps 1000 --eval-every 50 --held-out 256 --early-stop --seeds 1." };
    private static readonly Option<bool> FreshOpt = new("--fresh") { Description = "Ignore finished runs saved in --out/runs (default: reuse those with an identical configuration)." };

    public static Command Build()
    {
        var cmd = new Command("compare", """
            Train rnn / irnn / lstm / gru (…) on a long-range task at several lengths T and several seeds, and report
            which still learn as T grows: held-out metric, solved, first step solved, gradient flow at init and end
            (gain from the last to the first step, σ_max(W_h), verdict), the "longest T solved" table, learning
            curves (PNG+SVG), CSV and JSON. Finished runs are saved under --out/runs and reused when re-run.

            Examples:
              unroll compare --task adding --lengths 50,100,200,400 --models rnn,irnn,lstm,gru --steps 3000 --seeds 3
              unroll compare --task copy --lengths 50,100 --models lstm,gru --steps 2000 --out ./copy-run
              unroll compare --task temporal-order --lengths 20,50 --models rnn,lstm --optimizer sgd --lr 0.01 --clip 1
              unroll compare --task adding --lengths 50,100 --quick          (seconds of CPU per run)
            """);
        foreach (var o in new Option[] { TaskOpt, LengthsOpt, ModelsOpt, StepsOpt, SeedsOpt, BatchOpt, HiddenOpt, LrOpt, OptimizerOpt, ClipOpt, EvalEveryOpt, HeldOutOpt, ThresholdOpt, EarlyStopOpt, QuickOpt, FreshOpt })
            cmd.Options.Add(o);
        cmd.SetAction(parse => Execute(parse));
        return cmd;
    }

    private static int Execute(ParseResult parse)
    {
        var stdout = parse.InvocationConfiguration.Output;
        var stderr = parse.InvocationConfiguration.Error;
        bool quiet = parse.GetValue(GlobalOptions.Quiet), json = parse.GetValue(GlobalOptions.Json);
        int seed = parse.GetValue(GlobalOptions.Seed);
        int threads = parse.GetValue(GlobalOptions.Threads);
        if (threads <= 0) throw new UsageException($"--threads must be positive, got {threads}.");

        var task = parse.GetValue(TaskOpt)!.Trim().ToLowerInvariant();
        if (!SequenceTask.Names.Contains(task) && task is not ("copy-memory" or "temporal"))
            throw new UsageException($"unknown task '{task}' (expected one of: {string.Join(", ", SequenceTask.Names)}).");
        var lengths = ParseInts(parse.GetValue(LengthsOpt)!, "--lengths");
        var models = ParseNames(parse.GetValue(ModelsOpt)!, "--models");
        bool quick = parse.GetValue(QuickOpt);
        var q = RunConfig.Quick("adding", 10, "rnn", seed);
        // an option given on the command line wins over the preset; an omitted one takes the preset's value with --quick
        T Pick<T>(Option<T> o, T preset) => quick && parse.GetResult(o) is null or { Implicit: true } ? preset : parse.GetValue(o)!;
        int steps = Pick(StepsOpt, q.Steps), seeds = Pick(SeedsOpt, 1);
        if (steps <= 0) throw new UsageException($"--steps must be positive, got {steps}.");
        if (seeds <= 0) throw new UsageException($"--seeds must be positive, got {seeds}.");
        var optimizer = parse.GetValue(OptimizerOpt)!.Trim().ToLowerInvariant();
        if (!Unroll.Optim.Optimizers.Names.Contains(optimizer))
            throw new UsageException($"unknown optimizer '{optimizer}' (expected one of: {string.Join(", ", Unroll.Optim.Optimizers.Names)}).");

        var template = new RunConfig
        {
            Task = SequenceTask.Create(task, 1000).Name,
            Length = lengths[0],
            Model = "rnn",
            Seed = seed,
            Steps = steps,
            Batch = Pick(BatchOpt, q.Batch),
            Hidden = Pick(HiddenOpt, q.Hidden),
            LearningRate = Pick(LrOpt, q.LearningRate),
            Optimizer = optimizer,
            Clip = parse.GetValue(ClipOpt),
            EvalEvery = Pick(EvalEveryOpt, q.EvalEvery),
            HeldOut = Pick(HeldOutOpt, q.HeldOut),
            SolveThreshold = parse.GetValue(ThresholdOpt),
            EarlyStop = quick || parse.GetValue(EarlyStopOpt),
        };
        // throws ArgumentException (→ exit 2) for a length too short for the task or a bad numeric option
        var configs = LongRangeComparison.Expand(template, models, lengths, seeds, seed);

        string outDir = Path.GetFullPath(parse.GetValue(GlobalOptions.Out) ?? "unroll-compare");
        if (File.Exists(outDir)) throw new UsageException($"--out '{outDir}' is a file, not a directory.");
        Directory.CreateDirectory(outDir);

        if (!quiet && !json)
            stdout.WriteLine($"compare: {task}, T ∈ {{{string.Join(", ", lengths)}}}, models {string.Join(", ", models)}, {seeds} seed(s), {steps} steps, {configs.Count} runs on {Math.Min(threads, configs.Count)} worker(s) → {outDir}");
        var sw = Stopwatch.StartNew();
        int done = 0;
        // Parallelism: whole runs on separate cores, each with single-threaded GEMMs (the products of these models are
        // small, H ≤ 128, so splitting one product across cores gains little); with one worker, GEMMs may use --threads.
        int workers = Math.Min(threads, configs.Count);
        int gemmThreads = Unroll.Kernels.Gemm.Threads;
        Unroll.Kernels.Gemm.Threads = workers > 1 ? 1 : threads;
        List<RunResult> results;
        try
        {
            results = LongRangeComparison.RunAll(configs, workers, parse.GetValue(FreshOpt) ? null : outDir, (r, loaded) =>
            {
                done++;
                if (!quiet && !json) stdout.WriteLine($"[{done}/{configs.Count}] {Describe(r)}{(loaded ? " (resumed from runs/)" : "")}");
            });
        }
        finally { Unroll.Kernels.Gemm.Threads = gemmThreads; }
        if (parse.GetValue(FreshOpt))
            foreach (var r in results) AtomicFile.WriteAllBytes(Path.Combine(outDir, "runs", r.Config.Key + ".json"), JsonSerializer.Serialize(r, LongRangeComparison.Json).ToUtf8());
        double wall = sw.Elapsed.TotalSeconds;

        var summary = LongRangeComparison.Summarize(results);
        CompareOutput.WriteAll(outDir, results, summary, wall, Environment.CommandLine);
        if (json)
        {
            var obj = new { task, lengths, models, seeds, steps, wallSeconds = wall, outDir, summary, runs = results.Select(CompareOutput.Row) };
            stdout.WriteLine(JsonSerializer.Serialize(obj, new JsonSerializerOptions(LongRangeComparison.Json) { WriteIndented = false }));
        }
        else
        {
            stdout.WriteLine();
            stdout.Write(CompareOutput.RunTable(results));
            stdout.WriteLine();
            stdout.Write(CompareOutput.SummaryTable(summary, results));
            stdout.WriteLine();
            stdout.WriteLine($"wall time {wall:F1} s; results in {outDir} (summary.md, results.csv, curves.csv, results.json, curves-*.png/svg)");
        }
        return CliApp.ExitOk;
    }

    /// <summary>One line per finished run.</summary>
    public static string Describe(RunResult r)
    {
        var c = r.Config;
        string metric = r.Metric == "mse" ? $"mse {r.FinalMetric:G3}" : $"acc {r.FinalMetric:P1} ce {r.FinalLoss:G3}";
        string solved = r.Diverged ? "diverged" : r.Solved ? $"solved (first at {r.FirstSolvedStep})" : r.FirstSolvedStep is { } f ? $"not solved at end (first at {f})" : "not solved";
        return $"{c.Model,-8} T={c.Length,-4} seed {c.Seed}: {metric}, {solved}; gain {r.FlowInit.Gain:G2} → {r.FlowEnd.Gain:G2}, σmax(W_h) {r.FlowInit.SigmaMaxWh:F2} → {r.FlowEnd.SigmaMaxWh:F2}; {r.Seconds:F1} s";
    }

    internal static List<int> ParseInts(string text, string option)
    {
        var list = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
                throw new UsageException($"{option}: '{part}' is not an integer.");
            if (!list.Contains(v)) list.Add(v);
        }
        if (list.Count == 0) throw new UsageException($"{option}: no values given.");
        return list;
    }

    internal static List<string> ParseNames(string text, string option)
    {
        var list = new List<string>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string name;
            try { name = ModelSpec.Parse(part).Name; }
            catch (ArgumentException e) { throw new UsageException(e.Message); }
            if (!list.Contains(name)) list.Add(name);
        }
        if (list.Count == 0) throw new UsageException($"{option}: no values given.");
        return list;
    }
}
