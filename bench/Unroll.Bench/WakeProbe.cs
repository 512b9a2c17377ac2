using System.Diagnostics;
using System.Globalization;
using Unroll.Kernels;

namespace Unroll.Bench;

/// <summary>
/// <c>wake [--reps N]</c>: how long the GEMM worker pool takes to run a trivial 2-part job after the caller has done
/// X µs of work alone (the worker spins, then blocks; a blocked worker must be woken by the OS), for X from 0 to
/// 2000 µs; median and 90th percentile of the job's wall time in µs.
/// </summary>
public static class WakeProbe
{
    private sealed class Empty : IPartitionedWork { public void RunPart(int part, int parts) { } }

    public static int Run(string[] args)
    {
        int reps = 400;
        for (int i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--reps": reps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"wake: unknown option '{args[i]}'"); return 2;
            }
        var w = new Empty();
        Console.WriteLine($"# pool of {Gemm.Threads} threads, {reps} jobs per gap; load {TrainBench.LoadAverage()}");
        Console.WriteLine("| caller-only gap µs | job µs median | job µs p90 |");
        Console.WriteLine("|---:|---:|---:|");
        foreach (int gap in new[] { 0, 5, 20, 50, 100, 300, 1000, 2000 })
        {
            var t = new double[reps];
            long gapTicks = gap * Stopwatch.Frequency / 1_000_000;
            for (int r = 0; r < reps; r++)
            {
                long until = Stopwatch.GetTimestamp() + gapTicks;
                while (Stopwatch.GetTimestamp() < until) { }
                long t0 = Stopwatch.GetTimestamp();
                GemmWorkers.Shared.TryRun(w, 2);
                t[r] = (Stopwatch.GetTimestamp() - t0) * 1e6 / Stopwatch.Frequency;
            }
            Array.Sort(t);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {gap} | {t[reps / 2]:F1} | {t[reps * 9 / 10]:F1} |"));
        }
        return 0;
    }
}
