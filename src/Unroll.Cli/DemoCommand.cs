using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Unroll.Demo;
using Unroll.Kernels;

namespace Unroll.Cli;

/// <summary>
/// <c>unroll demo</c>: the whole vanishing/exploding story measured in a few minutes (see <see cref="DemoRunner"/>),
/// written as a self-contained HTML report with plots, CSV/JSON and summary.md (see <see cref="DemoOutputs"/>).
/// The output directory is checked before anything runs; all files are built in memory and written at the end,
/// each atomically, so an interrupted run (Ctrl-C) leaves no half-written report.
/// </summary>
public static class DemoCommand
{
    public const int ExitInterrupted = 130;

    public static Command Build()
    {
        var size = new Option<string>("--size")
        {
            Description = "full (default: the real demo, a few minutes on 2 cores) or tiny (the same pipeline in seconds; a smoke test, its numbers mean little).",
            DefaultValueFactory = _ => "full",
        };
        var cmd = new Command("demo",
            "Measure vanishing and exploding gradients and their remedies, end to end, on this machine: (a) the seed experiment " +
            "(‖dh‖ over 20 steps for W_h scaled 1.0 and 0.5, alone and through a real tanh RNN), (b) tanh RNN vs LSTM vs GRU on the " +
            "adding problem (T = 100) at initialisation and after training, with the per-step factors and verdicts, (c) gradient " +
            "clipping on an exploding run and a short comparison of rnn / irnn / lstm / gru at three lengths. Writes report.html " +
            "(self-contained), every plot as PNG and SVG, the data as CSV and demo.json, and summary.md into --out (default ./unroll-demo).\n\n" +
            "Examples:\n" +
            "  unroll demo                          # the full demo into ./unroll-demo\n" +
            "  unroll demo --out /tmp/d --seed 7    # another seed, another folder\n" +
            "  unroll demo --threads 1 --quiet      # one core, no progress output\n" +
            "  unroll demo --size tiny --json       # a seconds-long smoke run, result as JSON on stdout");
        cmd.Options.Add(size);

        cmd.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            bool quiet = parse.GetValue(GlobalOptions.Quiet), verbose = parse.GetValue(GlobalOptions.Verbose), json = parse.GetValue(GlobalOptions.Json);
            int threads = parse.GetValue(GlobalOptions.Threads);
            if (threads < 1) throw new UsageException($"--threads must be at least 1, got {threads}.");
            var baseOptions = (parse.GetValue(size) ?? "full").Trim().ToLowerInvariant() switch
            {
                "full" => DemoOptions.Default,
                "tiny" => DemoOptions.Tiny,
                var s => throw new UsageException($"unknown --size '{s}' (expected full or tiny)."),
            };
            var options = baseOptions with { Seed = parse.GetValue(GlobalOptions.Seed), Threads = threads };
            string outDir = CheckOutputDirectory(parse.GetValue(GlobalOptions.Out) ?? Path.Combine(".", "unroll-demo"));
            Gemm.Threads = threads;

            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            try
            {
                bool interactive = !quiet && !json && ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected
                                   && AnsiConsole.Profile.Capabilities.Interactive && AnsiConsole.Profile.Capabilities.Ansi;
                DemoResult result;
                if (interactive) result = RunWithBars(options, cts.Token);
                else
                {
                    var log = new PlainProgress(quiet || json ? null : stdout);
                    if (!quiet && !json) stdout.WriteLine($"unroll demo: seed {options.Seed}, {threads} thread(s), output {outDir}");
                    result = DemoRunner.Run(options, log.Report, cts.Token);
                }
                cts.Token.ThrowIfCancellationRequested();

                var built = DemoOutputs.Build(result);
                IReadOnlyList<string> written;
                try { written = built.Files.Commit(outDir); }
                catch (Exception e) when (e is UnauthorizedAccessException or IOException)
                {
                    throw new UsageException($"cannot write to --out '{outDir}': {e.Message}");
                }
                string report = Path.Combine(outDir, DemoOutputs.ReportName);
                if (json) stdout.WriteLine(DemoOutputs.Json(result));
                else if (interactive) PrintTable(built.Summary, report, result.Seconds);
                else if (!quiet) PrintPlain(stdout, built.Summary, report, result.Seconds);
                else stdout.WriteLine(report);
                if (verbose) foreach (var f in written) stderr.WriteLine($"wrote {f}");
                return CliApp.ExitOk;
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                stderr.WriteLine("unroll: interrupted; nothing was written.");
                return ExitInterrupted;
            }
            finally { Console.CancelKeyPress -= onCancel; }
        });
        return cmd;
    }

    /// <summary>
    /// Returns the full path of <paramref name="dir"/> after checking that it can be written: not an existing file,
    /// no file in the way on its path, and its nearest existing ancestor writable. Creates nothing.
    /// </summary>
    public static string CheckOutputDirectory(string dir)
    {
        string full;
        try { full = Path.GetFullPath(dir); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { throw new UsageException($"--out '{dir}' is not a valid path: {e.Message}"); }
        if (File.Exists(full)) throw new UsageException($"--out '{dir}' is an existing file, not a directory.");
        string probeDir = full;
        while (!Directory.Exists(probeDir))
        {
            var parent = Path.GetDirectoryName(probeDir);
            if (parent is null) throw new UsageException($"--out '{dir}': no existing parent directory.");
            if (File.Exists(parent)) throw new UsageException($"--out '{dir}': '{parent}' is a file, not a directory.");
            probeDir = parent;
        }
        string probe = Path.Combine(probeDir, $".unroll-write-test-{Environment.ProcessId}");
        try { using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { } }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new UsageException($"--out '{dir}' is not writable ({probeDir}: {e.Message})");
        }
        return full;
    }

    private static DemoResult RunWithBars(DemoOptions options, CancellationToken cancel)
    {
        DemoResult? result = null;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                var gate = new object();
                result = DemoRunner.Run(options, p =>
                {
                    lock (gate)
                    {
                        if (!tasks.TryGetValue(p.Stage, out var t)) tasks[p.Stage] = t = ctx.AddTask(p.Stage, maxValue: Math.Max(1, p.Total));
                        t.Value = p.Done;
                    }
                }, cancel);
            });
        return result!;
    }

    /// <summary>Plain progress lines (no escape codes): each stage at start, every 25 %, and done.</summary>
    private sealed class PlainProgress(TextWriter? writer)
    {
        private readonly Dictionary<string, int> _lastQuarter = [];
        private readonly object _gate = new();

        public void Report(DemoProgress p)
        {
            if (writer is null) return;
            int quarter = p.Total == 0 ? 4 : (int)(4 * p.Done / p.Total);
            lock (_gate)
            {
                if (_lastQuarter.TryGetValue(p.Stage, out var last) && quarter <= last) return;
                _lastQuarter[p.Stage] = quarter;
                writer.WriteLine(quarter >= 4 ? $"  {p.Stage}: done" : $"  {p.Stage}: {25 * quarter}% ({p.Done}/{p.Total} steps)");
            }
        }
    }

    private static void PrintTable(IReadOnlyList<SummaryRow> rows, string report, double seconds)
    {
        var table = new Table().Title("unroll demo — what was measured").AddColumns("", "setting", "measured", "verdict");
        foreach (var r in rows) table.AddRow(Markup.Escape(r.Section), Markup.Escape(r.Setting), Markup.Escape(r.Measured), Markup.Escape(r.Verdict));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"Done in {seconds.ToString("0.0", CultureInfo.InvariantCulture)} s. Report: [link]{Markup.Escape(report)}[/]");
    }

    private static void PrintPlain(TextWriter w, IReadOnlyList<SummaryRow> rows, string report, double seconds)
    {
        w.WriteLine();
        int ws = Math.Max(7, rows.Max(r => r.Setting.Length)), wm = Math.Max(8, rows.Max(r => r.Measured.Length));
        w.WriteLine($"    {"setting".PadRight(ws)}  {"measured".PadRight(wm)}  verdict");
        foreach (var r in rows) w.WriteLine($"{r.Section,-2}  {r.Setting.PadRight(ws)}  {r.Measured.PadRight(wm)}  {r.Verdict}");
        w.WriteLine();
        w.WriteLine($"Done in {seconds.ToString("0.0", CultureInfo.InvariantCulture)} s. Report: {report}");
    }
}
