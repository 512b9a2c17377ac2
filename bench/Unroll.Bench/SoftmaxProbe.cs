using System.Diagnostics;
using Unroll.Nodes;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Bench;

/// <summary>
/// <c>softmax [--rows 700] [--v 10000] [--reps 20]</c>: ns per element of the pieces of the fused softmax-CE-gradient
/// (max, fused exp-and-sum, scale) and of the whole kernel vs the previous multi-pass form, single-threaded, by the
/// calling thread's CPU time. For the profile in docs/benchmarks.md.
/// </summary>
public static class SoftmaxProbe
{
    public static int Run(string[] args)
    {
        int rows = 700, v = 10000, reps = 20;
        for (int i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--rows": rows = int.Parse(args[++i]); break;
                case "--v": v = int.Parse(args[++i]); break;
                case "--reps": reps = int.Parse(args[++i]); break;
                default: Console.Error.WriteLine($"softmax: unknown option {args[i]}"); return 2;
            }
        Unroll.Kernels.Gemm.Threads = 1;
        var rng = new Rng(1);
        var x = new float[rows * v]; var d = new float[rows * v];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(4 * rng.NextGaussian());
        var t = new int[rows];
        for (int i = 0; i < rows; i++) t[i] = rng.NextInt(v);
        var timer = new PhaseTimer(cpuClock: true);
        for (int rep = 0; rep < reps + 3; rep++)
        {
            if (rep == 3) timer.Reset();
            timer.Start();
            for (int r = 0; r < rows; r++) { var m = TP.Max<float>(x.AsSpan(r * v, v)); GC.KeepAlive(m); }
            timer.Mark("TP.Max");
            for (int r = 0; r < rows; r++) SoftmaxCrossEntropy.ExpShiftedSum<float>(x.AsSpan(r * v, v), 3f, d.AsSpan(r * v, v));
            timer.Mark("ExpShiftedSum");
            for (int r = 0; r < rows; r++) TP.Exp<float>(x.AsSpan(r * v, v), d.AsSpan(r * v, v));
            timer.Mark("TP.Exp");
            for (int r = 0; r < rows; r++) TP.Multiply<float>(d.AsSpan(r * v, v), 0.5f, d.AsSpan(r * v, v));
            timer.Mark("TP.Multiply");
            SoftmaxCrossEntropy.LossAndGradient<float>(x, rows, v, t, -1, 1f, d, out _);
            timer.Mark("LossAndGradient");
        }
        var per = timer.PerIteration(reps);
        foreach (var (k, ms) in per) Console.WriteLine($"{k,-16} {ms,8:F3} ms per {rows}x{v}  = {ms * 1e6 / ((double)rows * v),6:F3} ns/element");

        // In-cache kernel speed (a 4096-element row, L1/L2 resident): TensorPrimitives' exp/sigmoid/tanh vs ExpF.
        var a = x.AsSpan(0, 4096); var b = d.AsSpan(0, 4096);
        var t2 = new PhaseTimer(cpuClock: true);
        int inner = 2000;
        for (int rep = 0; rep < 4; rep++)
        {
            if (rep == 1) t2.Reset();
            t2.Start();
            for (int k = 0; k < inner; k++) TP.Exp<float>(a, b);
            t2.Mark("TP.Exp");
            for (int k = 0; k < inner; k++) SoftmaxCrossEntropy.ExpShiftedSum<float>(a, 12f, b);
            t2.Mark("ExpShiftedSum");
            for (int k = 0; k < inner; k++) TP.Sigmoid<float>(a, b);
            t2.Mark("TP.Sigmoid");
            for (int k = 0; k < inner; k++) TP.Tanh<float>(a, b);
            t2.Mark("TP.Tanh");
            for (int k = 0; k < inner; k++) SoftmaxCrossEntropy.Max<float>(a);
            t2.Mark("Max");
            for (int k = 0; k < inner; k++) TP.Max<float>(a);
            t2.Mark("TP.Max");
        }
        foreach (var (k, ms) in t2.PerIteration(3))
            Console.WriteLine($"in cache: {k,-14} {ms * 1e6 / (4096.0 * inner),6:F3} ns/element");
        return 0;
    }
}
