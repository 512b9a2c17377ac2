using System.Diagnostics;
using System.Globalization;
using Unroll.Kernels;

namespace Unroll.Bench;

/// <summary>
/// <c>steps [--reps N] [--t T] [--strided]</c>: the recurrent step products as a layer runs them — T consecutive
/// <c>RunPacked</c> calls (C2's forward (20,650,2600) NN and backward (20,2600,650) NT, C3's GRU (20,650,1950) and
/// (20,1950,650), the adding problem's (64,128,512) and (64,512,128); W_h packed once) — wall clock,
/// on all GEMM threads (parallel: true) and on one (parallel: false), alternating; median GFLOP/s. <c>--ab-sweep</c>:
/// both on all threads, the panel sweep (<see cref="GemmTuning.SweepMaxRows"/>) against the blocked loop.
/// </summary>
public static class StepProbe
{
    public static int Run(string[] args)
    {
        int reps = 15, t = 35;
        bool strided = false, abSweep = false, abNext = false;
        double gapUs = 0;
        for (int i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--reps": reps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--t": t = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--strided": strided = true; break;
                case "--ab-sweep": abSweep = true; break;
                case "--ab-next": abNext = true; break;   // columns: 2 threads, the sweep fetching the next panel into L2 | not (GemmTuning.SweepFetchNext)   // columns: 2 threads panel sweep (default) | 2 threads blocked loop (GemmTuning.SweepMaxRows = 0)
                case "--gap-us": gapUs = double.Parse(args[++i], CultureInfo.InvariantCulture); break;   // caller-only work between steps (a layer's cell update), not timed   // batch-major (N,T,·) as in the layers: a step's rows T·width apart
                default: Console.Error.WriteLine($"steps: unknown option '{args[i]}'"); return 2;
            }
        Console.WriteLine($"# {Gemm.Backend.Name}, threads {Gemm.Threads}, {t} steps per repetition, {reps} repetitions alternating, {(strided ? "batch-major (strided) rows" : "contiguous rows")}, {gapUs} µs of caller-only work before each step (not timed); load {TrainBench.LoadAverage()}");
        Console.WriteLine(abNext ? "| M | K | N | op | fetch next panel GFLOP/s | without GFLOP/s | ratio |" : abSweep ? "| M | K | N | op | panel sweep GFLOP/s | blocked loop GFLOP/s | ratio |" : "| M | K | N | op | 2 threads GFLOP/s | 1 thread GFLOP/s | ratio |");
        int sweepRows = GemmTuning.SweepMaxRows;
        Console.WriteLine("|---|---|---|---|---:|---:|---:|");
        foreach (var (m, k, n, tb) in new[] { (20, 650, 2600, false), (20, 2600, 650, true), (20, 650, 1950, false), (20, 1950, 650, true), (64, 128, 512, false), (64, 512, 128, true) })
        {
            var rng = new Unroll.Tensors.Rng(1);
            float[] a = new float[m * k * t], b = new float[k * n], c = new float[m * n * t];
            for (int i = 0; i < a.Length; i++) a[i] = (float)rng.NextGaussian();
            for (int i = 0; i < b.Length; i++) b[i] = (float)rng.NextGaussian() * 0.05f;
            var packed = new GemmPackedB<float>();
            packed.Pack(tb, k, n, b, tb ? k : n);
            long gapTicks = (long)(gapUs * 1e-6 * Stopwatch.Frequency);
            double Steps(bool par)
            {
                if (abSweep) { GemmTuning.SweepMaxRows = par ? sweepRows : 0; par = true; }
                if (abNext) { GemmTuning.SweepFetchNext = par; par = true; }
                long gemmTicks = 0;
                for (int s = 0; s < t; s++)
                {
                    if (gapTicks > 0) { long until = Stopwatch.GetTimestamp() + gapTicks; while (Stopwatch.GetTimestamp() < until) { } }
                    long t0 = Stopwatch.GetTimestamp();
                    if (strided)
                        Gemm.RunPacked<float>(false, m, 1f, a.AsSpan(s * k), t * k, packed, 1f, c.AsSpan(s * n), t * n, parallel: par);
                    else
                        Gemm.RunPacked<float>(false, m, 1f, a.AsSpan(s * m * k, m * k), k, packed, 1f, c.AsSpan(s * m * n, m * n), n, parallel: par);
                    gemmTicks += Stopwatch.GetTimestamp() - t0;
                }
                return (double)gemmTicks / Stopwatch.Frequency;
            }
            for (int w = 0; w < 5; w++) { Steps(true); Steps(false); }
            var t2 = new List<double>(); var t1 = new List<double>();
            for (int r = 0; r < reps; r++)
            {
                t2.Add(Steps(true));
                t1.Add(Steps(false));
            }
            t2.Sort(); t1.Sort();
            double flop = 2.0 * m * k * n * t, g2 = flop / t2[reps / 2] / 1e9, g1 = flop / t1[reps / 2] / 1e9;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {m} | {k} | {n} | {(tb ? "NT" : "NN")} | {g2:F1} | {g1:F1} | {g2 / g1:F2} |"));
        }
        return 0;
    }
}
