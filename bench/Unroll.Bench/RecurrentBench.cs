using System.Diagnostics;
using Unroll.Init;
using Unroll.Kernels;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Bench;

/// <summary>
/// Recurrent layer timings. <c>recurrent [cell] [N] [T] [H] [reps]</c>: float32 Forward and Backward of one layer
/// (D = H) in ms and the GFLOP/s of its matrix products; then the subnormal experiment: a tanh RNN (N 64, T 200,
/// H 128, W_h ~ N(0, 0.3²/H)) with the loss at the last step only, so the gradient vanishes through float's
/// subnormal range — Backward with the default flush threshold vs. exact IEEE (threshold 0), alternated in one run.
/// </summary>
public static class RecurrentBench
{
    public static int Run(string[] args)
    {
        var cell = args.Length > 0 ? Enum.Parse<CellType>(args[0], ignoreCase: true) : CellType.Lstm;
        int n = Arg(args, 1, 20), t = Arg(args, 2, 35), h = Arg(args, 3, 650), reps = Arg(args, 4, 10);
        Console.WriteLine($"GEMM backend: {Gemm.Backend.Name}; {Environment.ProcessorCount} logical CPUs");

        var layer = RecurrentLayers.Create<float>(cell, h, h, new Rng(1));
        var rng = new Rng(2);
        var xs = Random(rng, 1.0, n, t, h);
        var dhs = Random(rng, 0.01, n, t, h);
        for (int i = 0; i < 3; i++) { layer.Forward(xs); layer.Backward(dhs); }
        var f = new List<double>(); var b = new List<double>();
        var sw = new Stopwatch();
        for (int i = 0; i < reps; i++)
        {
            sw.Restart(); layer.Forward(xs); f.Add(sw.Elapsed.TotalMilliseconds);
            sw.Restart(); layer.Backward(dhs); b.Add(sw.Elapsed.TotalMilliseconds);
        }
        int k = TimeRecurrentBase<float>.GatesOf(cell);
        double fwdFlop = 2.0 * n * t * (h + h) * k * h;          // x·Wx + h·Wh
        double bwdFlop = 2 * fwdFlop;                             // dWx, dWh, dxs, dh_{t−1}
        double mf = Median(f), mb = Median(b);
        Console.WriteLine($"{cell} N={n} T={t} D=H={h}: forward {mf:F2} ms ({fwdFlop / mf / 1e6:F1} GFLOP/s), backward {mb:F2} ms ({bwdFlop / mb / 1e6:F1} GFLOP/s) (medians of {reps})");

        // Subnormal experiment.
        int sn = 64, st = 200, sh = 128;
        var rnn = new TimeRNN<float>(1, sh, new Rng(1), init: new RecurrentInit { Recurrent = WeightInit.Gaussian, RecurrentScale = 0.3 / Math.Sqrt(sh) });
        var sx = Random(new Rng(2), 1.0, sn, st, 1);
        var sd = new Tensor<float>(sn, st, sh);
        for (int i = 0; i < sn; i++) for (int j = 0; j < sh; j++) sd[i, st - 1, j] = 1f;
        float flush = Subnormals.SafeProductThreshold<float>();
        var times = new Dictionary<bool, List<double>> { [true] = [], [false] = [] };
        var subs = new Dictionary<bool, int>();
        for (int round = 0; round < reps; round++)
            foreach (bool on in new[] { true, false })
            {
                rnn.GradFlushThreshold = on ? flush : 0f;
                rnn.Forward(sx);
                sw.Restart(); rnn.Backward(sd); times[on].Add(sw.Elapsed.TotalMilliseconds);
                int c = 0; foreach (var v in rnn.StepGradH.Span) if (float.IsSubnormal(v)) c++;
                subs[on] = c;
            }
        double on1 = Median(times[true]), off1 = Median(times[false]);
        Console.WriteLine($"vanishing tanh RNN N={sn} T={st} H={sh}, Backward: flush below {flush:G3}: {on1:F2} ms ({subs[true]} subnormal dh); " +
                          $"exact IEEE: {off1:F2} ms ({subs[false]} subnormal dh); ratio {off1 / on1:F2}x (medians of {reps}, alternated)");
        return 0;
    }

    private static int Arg(string[] a, int i, int d) => a.Length > i ? int.Parse(a[i]) : d;
    private static double Median(List<double> v) { var s = v.Order().ToArray(); return s[s.Length / 2]; }

    private static Tensor<float> Random(Rng rng, double scale, params int[] shape)
    {
        var x = new Tensor<float>(shape);
        var s = x.Span;
        for (int i = 0; i < s.Length; i++) s[i] = (float)(rng.NextGaussian() * scale);
        return x;
    }
}
