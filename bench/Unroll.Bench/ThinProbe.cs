using System.Diagnostics;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Bench;

/// <summary>
/// <c>thin [--reps 31]</c>: the adding problem's narrow-input weight gradient [dWx ; db] = [xs | 1]ᵀ · dA
/// (m = 3, k = 12800, n = 512 for ADD-LSTM, 128 for ADD-RNN) by <see cref="ThinProduct"/> against the managed GEMM
/// (and OpenBLAS when present), on the default threads, wall clock, alternating call by call; median ms.
/// </summary>
public static class ThinProbe
{
    public static int Run(string[] args)
    {
        int reps = 31;
        for (int i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--reps": reps = int.Parse(args[++i]); break;
                default: Console.Error.WriteLine($"thin: unknown option {args[i]}"); return 2;
            }
        var backends = new List<IGemmBackend> { ManagedGemm.Instance };
        if (OpenBlasGemm.TryLoad(out var ob, out _)) backends.Add(ob!);
        Console.WriteLine($"# threads {Gemm.Threads}, {reps} repetitions alternating, wall clock, median ms; load {TrainBench.LoadAverage()}");
        Console.WriteLine("| m | k | n | ThinProduct | " + string.Join(" | ", backends.Select(b => b.Name)) + " | GEMM (managed) / ThinProduct |");
        Console.WriteLine("|---|---|---|---:|" + string.Concat(backends.Select(_ => "---:|")) + "---:|");
        foreach (int n in new[] { 512, 128 })
        {
            int m = 3, k = 12800;
            var rng = new Rng(7);
            var a = new float[k * m]; var b = new float[k * n]; var c = new float[m * n];
            for (int i = 0; i < a.Length; i++) a[i] = (float)rng.NextGaussian();
            for (int i = 0; i < b.Length; i++) b[i] = (float)rng.NextGaussian() * 0.01f;
            var times = new List<double>[backends.Count + 1];
            for (int i = 0; i < times.Length; i++) times[i] = [];
            for (int rep = -3; rep < reps; rep++)
            {
                long t0 = Stopwatch.GetTimestamp();
                ThinProduct.Run<float>(m, n, k, a, m, b, n, c, n);
                if (rep >= 0) times[0].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                for (int i = 0; i < backends.Count; i++)
                {
                    t0 = Stopwatch.GetTimestamp();
                    backends[i].Gemm(true, false, m, n, k, 1f, a, m, b, n, 0f, c, n);
                    if (rep >= 0) times[i + 1].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                }
            }
            double Med(List<double> l) { l.Sort(); return l[l.Count / 2]; }
            var med = times.Select(Med).ToArray();
            Console.WriteLine($"| {m} | {k} | {n} | {med[0]:F3} | " + string.Join(" | ", med.Skip(1).Select(x => x.ToString("F3"))) + $" | {med[1] / med[0]:F2} |");
        }
        return 0;
    }
}
