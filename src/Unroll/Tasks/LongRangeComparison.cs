using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.IO;

namespace Unroll.Tasks;

/// <summary>
/// Runs many <see cref="RunConfig"/>s (model × length × seed) on a pool of workers, with resume: each finished run is
/// saved as <c>runs/&lt;key&gt;.json</c> under the output directory, and a later call with the same configuration
/// loads it instead of training again.
/// </summary>
public static class LongRangeComparison
{
    /// <summary>JSON options used for every file of the suite (NaN/∞ written as named literals).</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>
    /// The configurations of a comparison, in a deterministic order (model, then length, then seed). Run seeds are
    /// <paramref name="baseSeed"/> … baseSeed + seeds − 1; the held-out set is fixed by <paramref name="baseSeed"/>.
    /// </summary>
    public static List<RunConfig> Expand(RunConfig template, IReadOnlyList<string> models, IReadOnlyList<int> lengths, int seeds, int baseSeed)
    {
        if (seeds <= 0) throw new ArgumentException($"seeds must be positive, got {seeds}.");
        if (models.Count == 0) throw new ArgumentException("no models given.");
        if (lengths.Count == 0) throw new ArgumentException("no lengths given.");
        var list = new List<RunConfig>();
        foreach (var m in models)
            foreach (var len in lengths)
                for (int s = 0; s < seeds; s++)
                {
                    var c = template with { Model = ModelSpec.Parse(m).Name, Length = len, Seed = baseSeed + s, HeldOutSeed = baseSeed };
                    c.Validate();
                    list.Add(c);
                }
        return list;
    }

    /// <summary>
    /// Runs every configuration with at most <paramref name="workers"/> runs at a time (longest first, for balance) and
    /// returns the results in the order of <paramref name="configs"/>. With <paramref name="resumeDir"/>, finished runs
    /// are saved there and reloaded when their configuration matches exactly. <paramref name="onDone"/> is called
    /// (serialised) after each run with (result, loadedFromResume).
    /// </summary>
    public static List<RunResult> RunAll(IReadOnlyList<RunConfig> configs, int workers, string? resumeDir = null,
                                         Action<RunResult, bool>? onDone = null, CancellationToken cancel = default)
    {
        var results = new RunResult?[configs.Count];
        var gate = new object();
        var order = Enumerable.Range(0, configs.Count).OrderByDescending(i => Cost(configs[i])).ToList();
        var po = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, workers), CancellationToken = cancel };
        // NoBuffering: workers take the next run one at a time in cost order (the default range partitioning of a list
        // would hand each worker a fixed half, defeating longest-first)
        Parallel.ForEach(Partitioner.Create(order, EnumerablePartitionerOptions.NoBuffering), po, i =>
        {
            var c = configs[i];
            string? file = resumeDir is null ? null : Path.Combine(resumeDir, "runs", c.Key + ".json");
            RunResult? r = file is null ? null : TryLoad(file, c);
            bool loaded = r is not null;
            r ??= LongRangeRunner.Run(c, cancel: cancel);
            if (!loaded && file is not null) AtomicFile.WriteAllBytes(file, JsonSerializer.Serialize(r, Json).ToUtf8());
            results[i] = r;
            lock (gate) onDone?.Invoke(r, loaded);
        });
        return results.Select(r => r!).ToList();
    }

    private static RunResult? TryLoad(string file, RunConfig c)
    {
        if (!File.Exists(file)) return null;
        try
        {
            var r = JsonSerializer.Deserialize<RunResult>(File.ReadAllText(file), Json);
            return r is not null && r.Config == c ? r : null;
        }
        catch (JsonException) { return null; }
    }

    /// <summary>Relative cost estimate of a run (steps × batch × sequence length × gate width × H²).</summary>
    public static double Cost(RunConfig c)
    {
        int gates = c.Model switch { "lstm" or "lstm-fb0" => 4, "gru" => 3, _ => 1 };
        int steps = SequenceTask.Create(c.Task, c.Length).Steps;
        return (double)c.Steps * c.Batch * steps * gates * c.Hidden * (c.Hidden + 10);
    }

    /// <summary>
    /// "Longest T solved" per model: the largest length at which every seed solved the task, the largest at which at
    /// least one seed did, and the count of solved seeds at every length.
    /// </summary>
    public static List<LongestSolved> Summarize(IReadOnlyList<RunResult> results)
    {
        var list = new List<LongestSolved>();
        foreach (var byModel in results.GroupBy(r => r.Config.Model))
        {
            var cells = byModel.GroupBy(r => r.Config.Length).OrderBy(g => g.Key)
                .Select(g => new LengthCell(g.Key, g.Count(r => r.Solved), g.Count(),
                    Median(g.Select(r => r.FinalMetric)), g.Where(r => r.FirstSolvedStep is not null).Select(r => (double)r.FirstSolvedStep!.Value).DefaultIfEmpty(double.NaN).Min()))
                .ToList();
            int? allSeeds = cells.Where(c => c.Solved == c.Runs).Select(c => (int?)c.Length).Max();
            int? anySeed = cells.Where(c => c.Solved > 0).Select(c => (int?)c.Length).Max();
            list.Add(new LongestSolved(byModel.Key, allSeeds, anySeed, cells));
        }
        return list;
    }

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.Order().ToArray();
        if (a.Length == 0) return double.NaN;
        return a.Length % 2 == 1 ? a[a.Length / 2] : 0.5 * (a[a.Length / 2 - 1] + a[a.Length / 2]);
    }
}

/// <summary>Text helpers.</summary>
public static class TextBytes
{
    /// <summary>UTF-8 bytes without BOM (for <see cref="AtomicFile.WriteAllBytes"/>).</summary>
    public static byte[] ToUtf8(this string s) => new System.Text.UTF8Encoding(false).GetBytes(s);
}

/// <summary>Solved counts of one model at one length.</summary>
public sealed record LengthCell(int Length, int Solved, int Runs, double MedianMetric, double FirstSolvedStep);

/// <summary>Per model: the longest T solved by every seed, by at least one seed, and the cells behind it.</summary>
public sealed record LongestSolved(string Model, int? LongestAllSeeds, int? LongestAnySeed, List<LengthCell> Cells);
