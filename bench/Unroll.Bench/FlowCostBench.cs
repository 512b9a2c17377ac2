using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Unroll.Kernels;
using Unroll.Training;

namespace Unroll.Bench;

/// <summary>
/// <c>flowcost [--config C1] [--every 100] [--blocks 8] [--threads 2] [--seed 0]</c>: what the gradient-flow recorder
/// costs during training (issue 6: off = no measurable cost, every 100 updates ≤ 5 %). One process, one model: blocks
/// of <c>--every</c> updates alternate between no monitor (the trainer's <c>--flow-every 0</c>: nothing is attached)
/// and a <see cref="FlowMonitor{T}"/> recording every <c>--every</c> updates (so exactly one recording per block),
/// in the order off, on, on, off, off, on, … so that a slow drift of the machine's speed cancels. Prints the mean
/// ms per update of each kind and their ratio.
/// </summary>
internal static class FlowCostBench
{
    private const string Usage = "flowcost [--config C1|C2|C3|C4] [--every 100] [--blocks 8] [--threads 2] [--seed 0]";

    public static int Run(string[] args)
    {
        string config = "C1";
        int every = 100, blocks = 8, threads = 2;
        ulong seed = 0;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--config": config = Next().ToUpperInvariant(); break;
                    case "--every": every = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--blocks": blocks = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--threads": threads = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--seed": seed = ulong.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "-h" or "--help": Console.WriteLine(Usage); return 0;
                    default: throw new ArgumentException($"unknown option {args[i]}");
                }
            }
            if (config is not ("C1" or "C2" or "C3" or "C4")) throw new ArgumentException($"--config must be C1..C4, got {config}");
            if (every < 1 || blocks < 2 || threads < 1) throw new ArgumentException("--every ≥ 1, --blocks ≥ 2, --threads ≥ 1");
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            Console.Error.WriteLine($"flowcost: {e.Message}\nusage: {Usage}");
            return 2;
        }

        Gemm.Threads = threads;
        var w = new TrainBench.LmWorkload(config, 20, 35, 100000, seed, profile: null);
        var monitor = new FlowMonitor<float>(w.Model, every, outDir: null, append: false);
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 3) w.Step();

        double offSum = 0, onSum = 0;
        int offN = 0, onN = 0;
        var perBlock = new List<double>();
        string loadBefore = TrainBench.LoadAverage();
        for (int b = 0; b < blocks; b++)
        {
            bool on = (b % 4) is 1 or 2;                                   // off, on, on, off, off, on, on, off, …
            w.Flow = on ? monitor : null;
            long t0 = Stopwatch.GetTimestamp();
            for (int k = 0; k < every; k++) w.Step();
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds / every;
            perBlock.Add(Math.Round(ms, 3));
            if (on) { onSum += ms; onN++; } else { offSum += ms; offN++; }
        }
        string loadAfter = TrainBench.LoadAverage();
        double off = offSum / offN, on2 = onSum / onN;
        int recordings = monitor.History.Count / Math.Max(1, w.Model.Recurrent.Count);
        var rec = new Dictionary<string, object?>
        {
            ["kind"] = "flowcost", ["config"] = config, ["every"] = every, ["blocks"] = blocks, ["threads"] = threads,
            ["ms_per_update_off"] = Math.Round(off, 3), ["ms_per_update_on"] = Math.Round(on2, 3),
            ["overhead"] = Math.Round(on2 / off - 1, 4), ["recordings"] = recordings, ["block_ms"] = perBlock,
            ["loadavg_before"] = loadBefore, ["loadavg_after"] = loadAfter,
        };
        // Where one recording's time goes, per layer (the caches of the last update are still in place).
        var recorder = new Unroll.Flow.GradientFlowRecorder<float>();
        var parts = new List<object>();
        foreach (var layer in w.Model.Recurrent)
        {
            long a = Stopwatch.GetTimestamp();
            recorder.Record(layer);
            double recMs = Stopwatch.GetElapsedTime(a).TotalMilliseconds;
            a = Stopwatch.GetTimestamp();
            double sigma = Unroll.Flow.WhSpectrum.LargestSingularValue(layer.Wh.Value);
            double sigMs = Stopwatch.GetElapsedTime(a).TotalMilliseconds;
            parts.Add(new { layer = layer.Name, record_ms = Math.Round(recMs, 2), sigma_max_ms = Math.Round(sigMs, 2), sigma_max = sigma });
        }
        rec["one_recording"] = parts;
        Console.WriteLine("RESULT " + JsonSerializer.Serialize(rec));
        Console.WriteLine($"flowcost {config}: recorder off {off:F2} ms/update, every {every} updates {on2:F2} ms/update " +
                          $"({(on2 / off - 1) * 100:+0.0;-0.0} %), {recordings} recordings, load {loadBefore} -> {loadAfter}");
        return 0;
    }
}
