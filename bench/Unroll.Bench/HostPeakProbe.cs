using System.Diagnostics;
using System.Globalization;
using Unroll.Kernels;

namespace Unroll.Bench;

/// <summary>
/// <c>hostpeak [--threads 2] [--ms 1000]</c>: the machine's float32 FMA rate at this moment — the managed AVX-512
/// microkernel on L1-resident panels (see <see cref="KernelProbe"/>) on every thread at once, timed by the wall clock
/// over a fixed window, so that a core the host slows down (another tenant on its sibling hyperthread, a lower clock)
/// or takes away shows in the figure. On the shared benchmark VM this swings between ≈ 200 and ≈ 340 GFLOP/s for
/// both cores within minutes (docs/benchmarks.md), which moves every training time; <c>bench/compare-peers.sh
/// --probe</c> runs it around each training run so that a round's ratio can be read against the host's speed.
/// Prints one RESULT line (JSON): total and per-thread GFLOP/s.
/// </summary>
public static unsafe class HostPeakProbe
{
    private const int Kc = 256;

    public static int Run(string[] args)
    {
        int threads = 2, ms = 1000;
        const string usage = "usage: hostpeak [--threads 2] [--ms 1000]";
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] is not ("--threads" or "--ms")) { Console.Error.WriteLine($"hostpeak: unknown option {args[i]} ({usage})"); return 2; }
            if (i + 1 >= args.Length || !int.TryParse(args[i + 1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
            {
                Console.Error.WriteLine($"hostpeak: {args[i]} needs an integer ({usage})");
                return 2;
            }
            if (args[i++] == "--threads") threads = v; else ms = v;
        }
        if (threads < 1 || ms < 10) { Console.Error.WriteLine("hostpeak: --threads ≥ 1 and --ms ≥ 10"); return 2; }
        if (!Avx512Kernel<float>.IsSupported) { Console.Error.WriteLine("hostpeak: no AVX-512 on this CPU"); return 2; }

        var gflops = new double[threads];
        using var ready = new CountdownEvent(threads);
        using var go = new ManualResetEventSlim();
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int id = t;
            workers[t] = new Thread(() => gflops[id] = Spin(ready, go, ms)) { IsBackground = true };
            workers[t].Start();
        }
        ready.Wait();
        go.Set();
        foreach (var w in workers) w.Join();
        double total = gflops.Sum();
        string per = string.Join(",", gflops.Select(g => g.ToString("0.0", CultureInfo.InvariantCulture)));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT {{\"kind\":\"hostpeak\",\"threads\":{threads},\"ms\":{ms},\"gflops_total\":{total:0.0},\"gflops_per_thread\":[{per}]}}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"hostpeak: {total:0.0} GFLOP/s on {threads} threads at once ({per}), microkernel on L1-resident panels, {ms} ms wall"));
        return 0;
    }

    /// <summary>One thread: warm up (JIT, clock), wait for the others, then run the kernel for <paramref name="ms"/> of wall time.</summary>
    private static double Spin(CountdownEvent ready, ManualResetEventSlim go, int ms)
    {
        int mr = Avx512Kernel<float>.MR, nr = Avx512Kernel<float>.NR;
        using var panels = new KernelProbe.Panels(Kc);
        float* a = panels.A, b = panels.B, c = panels.C;
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 100) for (int r = 0; r < 100; r++) Avx512Kernel<float>.Run(Kc, a, b, nr, c, nr, 0f);
        ready.Signal();
        go.Wait();
        long calls = 0;
        var sw = Stopwatch.StartNew();
        long limit = ms * Stopwatch.Frequency / 1000;
        while (sw.ElapsedTicks < limit)
        {
            for (int r = 0; r < 100; r++) Avx512Kernel<float>.Run(Kc, a, b, nr, c, nr, 0f);
            calls += 100;
        }
        return 2.0 * mr * nr * Kc * calls / sw.Elapsed.TotalSeconds / 1e9;
    }
}
