using System.Diagnostics;
using System.Globalization;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Nodes;
using Unroll.Optim;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Bench;

/// <summary>
/// <c>update [--config C2|C1] [--threads 2] [--reps 15]</c>: the per-update passes outside the GEMMs on the parameters
/// of an LM config (C2: 13.3 M floats), each in its previous form (serial, one pass per operation, one
/// <see cref="Rng.NextDouble"/> per dropout element) and its current form, interleaved rep by rep (A, B, A, B, …) so a
/// busy machine slows both alike. Prints the minimum and median wall ms of each and the ratio of the medians; with
/// more than one thread also the current form on 1 thread vs on all of them, interleaved the same way.
/// </summary>
public static class UpdateProbe
{
    public static int Run(string[] args)
    {
        string config = "C2";
        int threads = 2, reps = 15;
        for (int i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--config": config = args[++i].ToUpperInvariant(); break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--reps": reps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"update: unknown option {args[i]}"); return 2;
            }
        Gemm.Threads = threads;
        var cfg = config switch
        {
            "C1" => new LanguageModelConfig { Model = "rnnlm", Cell = "lstm", Vocab = 10000, Embed = 100, Hidden = 100, Layers = 1 },
            "C2" => new LanguageModelConfig { Model = "better-rnnlm", Cell = "lstm", Vocab = 10000, Embed = 650, Hidden = 650, Layers = 2, Dropout = 0.5, Tie = true },
            _ => throw new ArgumentException(config),
        };
        var model = LanguageModels.Create<float>(cfg, new Rng(1));
        var ps = model.DistinctParameters();
        var rng = new Rng(2);
        foreach (var p in ps) for (int i = 0; i < p.Grad.Length; i++) p.Grad.Span[i] = (float)(1e-3 * rng.NextGaussian());
        var saved = ps.Select(p => p.Grad.Clone()).ToArray();
        void Restore() { for (int k = 0; k < ps.Count; k++) saved[k].Span.CopyTo(ps[k].Grad.Span); }
        var sgdOld = new Sgd<float>(1e-3); var sgdNew = new Sgd<float>(1e-3);
        long total = ps.Sum(p => (long)p.Value.Length);
        int dropElems = cfg.Dropout > 0 ? 20 * 35 * cfg.Embed : 0;
        var x = new Tensor<float>(20, 35, Math.Max(cfg.Embed, 1)); x.Fill(1f);
        var dropNew = new Dropout<float>(0.5, new Rng(3));
        var maskOld = new Tensor<float>(x.Shape.ToArray()); var yOld = new Tensor<float>(x.Shape.ToArray());
        var dropRng = new Rng(3);

        Console.WriteLine($"# update probe: {config}, {ps.Count} parameters, {total} elements ({total * 4 / 1e6:F1} MB per pass), threads {threads}, {reps} reps, load {TrainBench.LoadAverage()}");
        // warm-up (JIT tiers, pool threads, scratch)
        for (int w = 0; w < 3; w++)
        {
            OldZero(ps); ParameterSweep.Zero(ps); Restore();
            OldNorm(ps); GradClip.GlobalNorm(ps);
            OldClipSgd(ps, sgdOld, 0.5); Restore(); sgdNew.Step(ps, 0.5); Restore();
            OldDropout(dropRng, 0.5, x, maskOld, yOld); dropNew.Forward(x);
        }
        var tz = (new double[reps], new double[reps]); var tn = (new double[reps], new double[reps]);
        var tc = (new double[reps], new double[reps]); var td = (new double[reps], new double[reps]);
        double normOld = 0, normNew = 0;
        var t1 = (new double[reps], new double[reps]); var t2 = (new double[reps], new double[reps]); var t3 = (new double[reps], new double[reps]);
        for (int r = 0; r < reps && threads > 1; r++)
        {
            // the current form on 1 thread vs on `threads` threads
            Gemm.Threads = 1; t1.Item1[r] = Ms(() => ParameterSweep.Zero(ps)); Restore();
            Gemm.Threads = threads; t1.Item2[r] = Ms(() => ParameterSweep.Zero(ps)); Restore();
            Gemm.Threads = 1; t2.Item1[r] = Ms(() => GradClip.GlobalNorm(ps));
            Gemm.Threads = threads; t2.Item2[r] = Ms(() => GradClip.GlobalNorm(ps));
            Gemm.Threads = 1; t3.Item1[r] = Ms(() => sgdNew.Step(ps, 0.5)); Restore();
            Gemm.Threads = threads; t3.Item2[r] = Ms(() => sgdNew.Step(ps, 0.5)); Restore();
        }
        for (int r = 0; r < reps; r++)
        {
            tz.Item1[r] = Ms(() => OldZero(ps)); Restore();
            tz.Item2[r] = Ms(() => ParameterSweep.Zero(ps)); Restore();
            tn.Item1[r] = Ms(() => normOld = OldNorm(ps));
            tn.Item2[r] = Ms(() => normNew = GradClip.GlobalNorm(ps));
            tc.Item1[r] = Ms(() => OldClipSgd(ps, sgdOld, 0.5)); Restore();
            tc.Item2[r] = Ms(() => sgdNew.Step(ps, 0.5)); Restore();
            if (dropElems > 0)
            {
                td.Item1[r] = Ms(() => { for (int k = 0; k < 3; k++) OldDropout(dropRng, 0.5, x, maskOld, yOld); });
                td.Item2[r] = Ms(() => { for (int k = 0; k < 3; k++) dropNew.Forward(x); });
            }
        }
        Row("zero_grad", tz); Row("grad_norm", tn); Row("clip+sgd", tc);
        if (dropElems > 0) Row("dropout.fwd x3", td);
        if (threads > 1)
        {
            Console.WriteLine($"# current form, 1 thread ('previous' column) vs {threads} threads ('now' column):");
            Row("zero_grad", t1); Row("grad_norm", t2); Row("clip+sgd", t3);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# norm previous {normOld:R}, now {normNew:R} (relative difference {Math.Abs(normOld - normNew) / normNew:E2})"));
        return 0;

        static double Ms(Action a) { long t0 = Stopwatch.GetTimestamp(); a(); return Stopwatch.GetElapsedTime(t0).TotalMilliseconds; }
        static void Row(string name, (double[] a, double[] b) t)
        {
            double ma = Median(t.a), mb = Median(t.b);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-16} previous min {t.a.Min(),7:F2} median {ma,7:F2} ms | now min {t.b.Min(),7:F2} median {mb,7:F2} ms | previous/now {ma / mb,5:F2}x"));
        }
        static double Median(double[] v) => Stats.Median(v);
    }

    // ---- the previous forms (as before issue 6) ----

    private static void OldZero(List<Parameter<float>> ps) { for (int i = 0; i < ps.Count; i++) ps[i].Grad.Clear(); }

    private static double OldNorm(List<Parameter<float>> ps)
    {
        double sum = 0;
        foreach (var p in ps) { double n = TP.Norm<float>(p.Grad.Span); sum += n * n; }
        return Math.Sqrt(sum);
    }

    private static void OldClipSgd(List<Parameter<float>> ps, Sgd<float> opt, double scale)
    {
        foreach (var p in ps) TP.Multiply<float>(p.Grad.Span, (float)scale, p.Grad.Span);
        opt.StepReference(ps, 1.0);
    }

    private static void OldDropout(Rng rng, double p, Tensor<float> x, Tensor<float> m, Tensor<float> y)
    {
        float keep = (float)(1.0 / (1.0 - p));
        var ms = m.Span;
        for (int i = 0; i < ms.Length; i++) ms[i] = rng.NextDouble() < p ? 0f : keep;
        TP.Multiply<float>(x.Span, ms, y.Span);
    }
}
