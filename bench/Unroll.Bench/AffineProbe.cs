using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Bench;

/// <summary>
/// <c>affine [--rows 700] [--d 100] [--v 10000] [--reps 10]</c>: the three GEMMs of an LM output layer
/// (logits = xs·W, dxs = dys·Wᵀ, dW += xsᵀ·dys), one thread, by the calling thread's CPU time, plus the alternative
/// dxsᵀ = W·dysᵀ (better tiles when D is small). For the profile in docs/benchmarks.md.
/// </summary>
public static class AffineProbe
{
    public static int Run(string[] args)
    {
        int rows = 700, d = 100, v = 10000, reps = 10;
        for (int i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--rows": rows = int.Parse(args[++i]); break;
                case "--d": d = int.Parse(args[++i]); break;
                case "--v": v = int.Parse(args[++i]); break;
                case "--reps": reps = int.Parse(args[++i]); break;
                default: Console.Error.WriteLine($"affine: unknown option {args[i]}"); return 2;
            }
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
}
