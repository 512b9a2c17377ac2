using System.CommandLine;
using System.CommandLine.Parsing;

namespace Unroll.Cli;

/// <summary>Bad usage or bad input: one line on stderr, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>The global options every command accepts (see shared CLI conventions).</summary>
public static class GlobalOptions
{
    public static readonly Option<int> Seed = new("--seed") { Description = "The one seed for all randomness of the run.", DefaultValueFactory = _ => 1, Recursive = true };
    public static readonly Option<string?> Out = new("--out") { Description = "Directory for every file the command writes (created if missing; default ./unroll-<command>).", Recursive = true };
    public static readonly Option<int> Threads = new("--threads") { Description = "Cores to use (default: all).", DefaultValueFactory = _ => Environment.ProcessorCount, Recursive = true };
    public static readonly Option<bool> Json = new("--json") { Description = "Print the final result as one JSON object on stdout instead of the table.", Recursive = true };
    public static readonly Option<bool> Quiet = new("--quiet") { Description = "Less output (no progress bars).", Recursive = true };
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "More output; stack traces on errors.", Recursive = true };

    public static IEnumerable<Option> All => [Seed, Out, Threads, Json, Quiet, Verbose];
}

/// <summary>Builds the command tree and maps failures to the documented exit codes (0 ok, 1 failure, 2 bad usage).</summary>
public static class CliApp
{
    public const int ExitOk = 0, ExitFailure = 1, ExitUsage = 2;

    public static Command BuildRoot()
    {
        // A plain Command named "unroll" (a RootCommand takes its name from the executable, Unroll.Cli), with the
        // help and version options a RootCommand would add.
        var root = new Command("unroll", "unroll — recurrent networks (RNN, LSTM, GRU) with explicit forward/backward nodes and measured gradient flow through time.\n\nStart with:  unroll demo");
        root.Options.Add(new System.CommandLine.Help.HelpOption());
        root.Options.Add(new VersionOption());
        foreach (var o in GlobalOptions.All) root.Options.Add(o);
        root.Subcommands.Add(InfoCommand.Build());
        root.Subcommands.Add(GradientFlowCommand.Build());
        root.Subcommands.Add(CompareCommand.Build());
        root.Subcommands.Add(TrainCommand.Build());
        root.Subcommands.Add(EvalCommand.Build());
        root.Subcommands.Add(GenerateCommand.Build());
        root.Subcommands.Add(DemoCommand.Build());
        root.Subcommands.Add(ExportCommand.Build());
        root.Subcommands.Add(ImportCommand.Build());
        return root;
    }

    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var root = BuildRoot();
        ParseResult parse = root.Parse(args);
        bool verbose = args.Contains("--verbose");
        if (parse.Errors.Count > 0)
        {
            stderr.WriteLine($"unroll: {parse.Errors[0].Message} (see 'unroll --help')");
            return ExitUsage;
        }
        try
        {
            Unroll.Kernels.Gemm.Threads = parse.GetValue(GlobalOptions.Threads);   // --threads: cores for matrix products
            var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
            return parse.Invoke(config);
        }
        catch (Exception ex) when (Unwrap(ex) is UsageException or ArgumentException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or FormatException)
        {
            var e = Unwrap(ex);
            stderr.WriteLine($"unroll: {e.Message}");
            if (verbose) stderr.WriteLine(e);
            return ExitUsage;
        }
        catch (Exception ex)
        {
            var e = Unwrap(ex);
            stderr.WriteLine($"unroll: {e.GetType().Name}: {e.Message}");
            if (verbose) stderr.WriteLine(e);
            return ExitFailure;
        }
    }

    private static Exception Unwrap(Exception ex)
    {
        while (ex is AggregateException { InnerExceptions.Count: 1 } ag) ex = ag.InnerExceptions[0];
        while (ex is System.Reflection.TargetInvocationException { InnerException: { } inner }) ex = inner;
        return ex;
    }
}
