using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Bench;

/// <summary>
/// <c>affine [--rows 700] [--d 100] [--v 10000] [--reps 10]</c>: the three GEMMs of an LM output layer
/// (logits = xs·W, dxs = dys·Wᵀ, dW += xsᵀ·dys), one thread, by the calling thread's CPU time, plus the alternative
/// dxsᵀ = W·dysᵀ (better tiles when D is small). For the profile in docs/benchmarks.md.
/// <c>affine --bias-ab [--tied] [--d 650] [--rows 700] [--v 10000] [--reps 5] [--rounds 9]</c>: the whole
/// <see cref="TimeAffine{T}.Forward"/> (ys = xs·W + b) on the default threads, wall clock, with the bias written into
/// the GEMM's tiles (<see cref="Gemm.BiasInTiles"/>) against a broadcast pass plus a beta = 1 product, alternating in
/// rounds; prints each round's medians and the median ratio. <c>--regs-ab</c> instead compares, with the bias in the
/// tiles, a copy of the bias into each C tile (then a beta = 1 kernel) against kernels whose accumulators start from
/// the bias (<see cref="GemmTuning.BiasInRegisters"/>).
/// </summary>
public static class AffineProbe
{
    public static int Run(string[] args)
    {
        int rows = 700, d = 100, v = 10000, reps = 10, rounds = 9;
        bool biasAb = false, regsAb = false, tied = false;
        for (int i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--rows": rows = int.Parse(args[++i]); break;
                case "--d": d = int.Parse(args[++i]); break;
                case "--v": v = int.Parse(args[++i]); break;
                case "--reps": reps = int.Parse(args[++i]); break;
                case "--rounds": rounds = int.Parse(args[++i]); break;
                case "--bias-ab": biasAb = true; break;
                case "--regs-ab": regsAb = true; break;
                case "--tied": tied = true; break;
                default: Console.Error.WriteLine($"affine: unknown option {args[i]}"); return 2;
            }
        if (biasAb || regsAb) return BiasAb(rows, d, v, reps, rounds, tied, regsAb);
        Gemm.Threads = 1;
        var rng = new Rng(2);
        float[] R(int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)rng.NextGaussian(); return a; }
        float[] x = R(rows * d), w = R(d * v), dy = R(rows * v), y = new float[rows * v], dx = new float[rows * d], dxt = new float[d * rows], dw = new float[d * v], bias = R(v);
        var timer = new PhaseTimer(cpuClock: true);
        for (int rep = 0; rep < reps + 2; rep++)
        {
            if (rep == 2) timer.Reset();
            timer.Start();
            Gemm.Run(false, false, rows, v, d, 1f, x, d, w, v, 0f, y, v); timer.Mark("fwd xs·W");
            for (int r = 0; r < rows; r++) bias.CopyTo(y.AsSpan(r * v, v));
            timer.Mark("bias rows");
            Gemm.Run(false, false, rows, v, d, 1f, x, d, w, v, 1f, y, v); timer.Mark("fwd + beta=1");
            Gemm.Run(false, true, rows, d, v, 1f, dy, v, w, v, 0f, dx, d); timer.Mark("dxs = dys·Wᵀ");
            Gemm.Run(false, true, d, rows, v, 1f, w, v, dy, v, 0f, dxt, rows); timer.Mark("dxsᵀ = W·dysᵀ");
            Gemm.Run(true, false, d, v, rows, 1f, x, d, dy, v, 1f, dw, v); timer.Mark("dW += xsᵀ·dys");
        }
        double flop = 2.0 * rows * d * v;
        foreach (var (k, ms) in timer.PerIteration(reps))
            Console.WriteLine($"{k,-16} {ms,8:F2} ms  {flop / (ms * 1e6),7:F1} GFLOP/s per CPU-second   ({rows}x{d}x{v})");
        return 0;
    }

    private static int BiasAb(int rows, int d, int v, int reps, int rounds, bool tied, bool regs)
    {
        var rng = new Rng(2);
        Tensor<float> R(params int[] shape)
        {
            var t = new Tensor<float>(shape);
            var sp = t.Span;
            for (int i = 0; i < sp.Length; i++) sp[i] = (float)rng.NextGaussian() * 0.1f;
            return t;
        }
        var node = new Unroll.Nodes.TimeAffine<float>(new Parameter<float>("W", tied ? R(v, d) : R(d, v)), new Parameter<float>("b", R(v)), tied);
        var xs = R(1, rows, d);
        Console.WriteLine($"TimeAffine forward, rows {rows}, D {d}, V {v}{(tied ? " (tied)" : "")}, {Gemm.Threads} threads; ms per call (median of {reps}); load {TrainBench.LoadAverage()}");
        var ratios = new List<double>();
        for (int round = 0; round < rounds; round++)
        {
            double Time(bool newer)
            {
                if (regs) GemmTuning.BiasInRegisters = newer;
                else Gemm.BiasInTiles = newer;
                var ms = new double[reps];
                node.Forward(xs);
                for (int r = 0; r < reps; r++)
                {
                    long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                    node.Forward(xs);
                    ms[r] = System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                }
                Array.Sort(ms);
                return ms[reps / 2];
            }
            double old = Time(false), now = Time(true);
            ratios.Add(old / now);
            Console.WriteLine(regs ? $"round {round + 1}: bias copied into tiles {old,7:F2}  bias in accumulators {now,7:F2}  old/new {old / now:F3}"
                                   : $"round {round + 1}: broadcast + beta=1 {old,7:F2}  bias in tiles {now,7:F2}  old/new {old / now:F3}");
        }
        ratios.Sort();
        Console.WriteLine($"median old/new {ratios[ratios.Count / 2]:F3} (range {ratios[0]:F3}–{ratios[^1]:F3})");
        return 0;
    }
}
