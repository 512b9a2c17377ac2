using System.Globalization;
using Unroll.Kernels;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Bench;

/// <summary>
/// Fused vs reference recurrent step kernels (<see cref="LstmKernels"/>, <see cref="GruKernels"/>, <see cref="RnnKernels"/>),
/// measured by the calling thread's CPU time (robust on a shared machine), GEMM on one thread, A and B alternating in
/// blocks within one process, medians over blocks:
/// <list type="bullet">
/// <item><c>cells [blocks]</c>: one kernel call per row size (ns/call), then one layer's Forward + Backward at the
/// adding problem's shape (N 64, T 200, D 1, H 128) for LSTM, GRU and tanh RNN (ms).</item>
/// <item><c>cells train CONFIG [blocks] [updates]</c>: whole training updates of a <see cref="TrainBench"/> workload
/// (ADD-LSTM, ADD-RNN, C1…C4), two model instances (fused, reference) updated alternately (ms/update).</item>
/// </list>
/// </summary>
public static unsafe class CellBench
{
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, long* ts);

    private static double CpuSeconds()
    {
        long* ts = stackalloc long[2];
        ClockGetTime(3 /* CLOCK_THREAD_CPUTIME_ID */, ts);
        return ts[0] + ts[1] * 1e-9;
    }

    public static int Run(string[] args)
    {
        Gemm.Threads = 1;
        Console.WriteLine($"# cells: thread CPU time, GEMM {Gemm.Backend.Name} on 1 thread, Vector512 {(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "yes" : "no")}, load {TrainBench.LoadAverage()}");
        if (args.Length > 0 && args[0] == "train")
        {
            string config = args.Length > 1 ? args[1].ToUpperInvariant() : "ADD-LSTM";
            int tb = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 6;
            int per = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 2;
            Train(config, tb, per);
        }
        else
        {
            int blocks = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 41;
            Kernels(blocks, print: false);                            // a first full round only warms the JIT up (tier-1 code for every kernel)
            Kernels(blocks, print: true);
            Layers(blocks);
        }
        Console.WriteLine($"# load after: {TrainBench.LoadAverage()}");
        return 0;
    }

    /// <summary>Median over blocks of (CPU seconds per call) for a and b, alternating a, b, a, b, …; calls per block so a block of a lasts ≈ 2 ms (kernels) or 200 ms (layers).</summary>
    private static (double a, double b) AB(Action a, Action b, int blocks, double blockSeconds = 0.002)
    {
        double w0 = CpuSeconds();
        while (CpuSeconds() - w0 < 0.3) { a(); b(); }                 // warm-up: tiered JIT reaches optimised code
        double t0 = CpuSeconds(); int calls = 0;
        while (CpuSeconds() - t0 < blockSeconds) { a(); calls++; }
        var ta = new double[blocks]; var tb = new double[blocks];
        for (int k = 0; k < blocks; k++)
        {
            double s = CpuSeconds(); for (int i = 0; i < calls; i++) a(); ta[k] = (CpuSeconds() - s) / calls;
            s = CpuSeconds(); for (int i = 0; i < calls; i++) b(); tb[k] = (CpuSeconds() - s) / calls;
        }
        return (Median(ta), Median(tb));
    }

    private static double Median(double[] v) => Stats.Median(v);

    private static float[] Rand(Rng rng, int n, double scale) { var x = new float[n]; for (int i = 0; i < n; i++) x[i] = (float)(rng.NextGaussian() * scale); return x; }

    private static void Kernels(int blocks, bool print)
    {
        if (print) Console.WriteLine("# one kernel call on one row (after restoring its in-place inputs, both columns), ns/call: reference (TensorPrimitives passes) vs fused (one Vector512 pass); medians of " + blocks + " alternating blocks");
        if (print) Console.WriteLine("kernel            H   reference      fused   speedup");
        float thr = Subnormals.SafeProductThreshold<float>();
        foreach (int h in new[] { 16, 100, 128, 650 })
        {
            var rng = new Rng((ulong)h);
            float[] g4 = Rand(rng, 4 * h, 1), g3 = Rand(rng, 3 * h, 1), a3 = Rand(rng, 3 * h, 1), cp = Rand(rng, h, 1), bh = Rand(rng, h, 0.1);
            float[] c = new float[h], tc = new float[h], hh = new float[h], hn = new float[h], s1 = new float[h], s2 = new float[h];
            float[] dh = Rand(rng, h, 1), dc = Rand(rng, h, 1), da4 = new float[4 * h], da3 = new float[3 * h], dr3 = new float[3 * h], dcp = new float[h], dhp = new float[h];
            float[] row = Rand(rng, h, 1), hrow = Rand(rng, h, 0.5);
            // every call starts from the same inputs (the in-place operands are restored first, in both columns), so
            // iterating a kernel on its own output cannot drift into unrepresentative values (subnormals, saturation)
            float[] g4s = (float[])g4.Clone(), g3s = (float[])g3.Clone(), dhs = (float[])dh.Clone(), dcs = (float[])dc.Clone(), rows = (float[])row.Clone();
            Row("LSTM forward", h, blocks, () => { g4s.CopyTo(g4, 0); LstmKernels.ForwardRowReference<float>(g4, cp, c, tc, hh); }, () => { g4s.CopyTo(g4, 0); LstmKernels.ForwardRow<float>(g4, cp, c, tc, hh); });
            LstmKernels.ForwardRowReference<float>(g4, cp, c, tc, hh);                      // post-activation gates for the backward
            Row("LSTM backward", h, blocks, () => { dhs.CopyTo(dh, 0); dcs.CopyTo(dc, 0); LstmKernels.BackwardRowReference<float>(g4, tc, cp, dh, dc, da4, dcp, thr, s1); },
                                            () => { dhs.CopyTo(dh, 0); dcs.CopyTo(dc, 0); LstmKernels.BackwardRow<float>(g4, tc, cp, dh, dc, da4, dcp, thr, s1); });
            Row("GRU forward", h, blocks, () => { g3s.CopyTo(g3, 0); GruKernels.ForwardRowReference<float>(g3, a3, bh, cp, hn, hh, s1); }, () => { g3s.CopyTo(g3, 0); GruKernels.ForwardRow<float>(g3, a3, bh, cp, hn, hh, s1); });
            GruKernels.ForwardRowReference<float>(g3, a3, bh, cp, hn, hh, s1);
            Row("GRU backward", h, blocks, () => { dhs.CopyTo(dh, 0); dcs.CopyTo(dhp, 0); GruKernels.BackwardRowReference<float>(g3, hn, cp, dh, da3, dr3, dhp, thr, s1, s2); },
                                           () => { dhs.CopyTo(dh, 0); dcs.CopyTo(dhp, 0); GruKernels.BackwardRow<float>(g3, hn, cp, dh, da3, dr3, dhp, thr, s1, s2); });
            Row("RNN tanh forward", h, blocks, () => { rows.CopyTo(row, 0); RnnKernels.ForwardRowReference<float>(row, false); }, () => { rows.CopyTo(row, 0); RnnKernels.ForwardRow<float>(row, false); });
            Row("RNN tanh backward", h, blocks, () => { dhs.CopyTo(dh, 0); RnnKernels.BackwardRowReference<float>(hrow, dh, da4.AsSpan(0, h), false, thr); },
                                                () => { dhs.CopyTo(dh, 0); RnnKernels.BackwardRow<float>(hrow, dh, da4.AsSpan(0, h), false, thr); });
        }

        void Row(string name, int h, int blocks, Action reference, Action fused)
        {
            var (r, f) = AB(reference, fused, print ? blocks : 3);
            if (print) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-17} {h,4} {r * 1e9,10:F1} {f * 1e9,10:F1} {r / f,8:F2}x"));
        }
    }

    private static void Layers(int blocks)
    {
        const int n = 64, t = 200, h = 128;
        Console.WriteLine($"# one layer Forward + Backward, N={n} T={t} D=1 H={h} (the adding problem's shape), ms: reference vs fused step kernels; medians of {Math.Max(5, blocks / 4)} alternating blocks");
        Console.WriteLine("cell   reference      fused   speedup");
        foreach (var cell in new[] { CellType.Lstm, CellType.Gru, CellType.Rnn })
        {
            var layer = (TimeRecurrentBase<float>)RecurrentLayers.Create<float>(cell, 1, h, new Rng(1));   // one instance switching kernels (no placement bias)
            var rng = new Rng(2);
            var xs = new Tensor<float>(n, t, 1); var dhs = new Tensor<float>(n, t, h);
            var xsp = xs.Span; for (int i = 0; i < xsp.Length; i++) xsp[i] = (float)rng.NextGaussian();
            var dsp = dhs.Span; for (int i = 0; i < dsp.Length; i++) dsp[i] = (float)(rng.NextGaussian() * 0.01);
            var (r, f) = AB(() => { layer.UseReferenceKernels = true; layer.Forward(xs); layer.Backward(dhs); },
                            () => { layer.UseReferenceKernels = false; layer.Forward(xs); layer.Backward(dhs); }, Math.Max(5, blocks / 4), 0.2);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{cell,-5} {r * 1e3,10:F2} {f * 1e3,10:F2} {r / f,8:F2}x"));
        }
    }

    private static void Train(string config, int blocks, int per)
    {
        // ONE model instance whose layers switch between reference and fused step kernels every block (the order
        // alternating), so that memory placement and running first or second cannot bias the comparison.
        // CELLS_AA=1: both "sides" fused (an A/A check of the harness).
        TrainBench.IWorkload w = config.StartsWith('C')
            ? new TrainBench.LmWorkload(config, 20, 35, 100_000, 0, null)
            : new TrainBench.AddingWorkload(config, 64, 200, 0);
        bool aa = Environment.GetEnvironmentVariable("CELLS_AA") == "1";
        void Use(bool reference) { foreach (var l in w.Recurrent) ((TimeRecurrentBase<float>)l).UseReferenceKernels = reference && !aa; }
        double w0 = CpuSeconds();
        for (int i = 0; i < 6 || CpuSeconds() - w0 < 4; i++) { Use(i % 2 == 0); w.Step(); }   // warm-up: tiered JIT done for both
        var tf = new double[blocks]; var tr = new double[blocks];
        for (int k = 0; k < blocks; k++)
            for (int pass = 0; pass < 2; pass++)
            {
                bool isRef = (pass == 0) == (k % 2 == 0);
                Use(isRef);
                double s = CpuSeconds(); for (int i = 0; i < per; i++) w.Step(); double dt = (CpuSeconds() - s) / per;
                if (isRef) tr[k] = dt; else tf[k] = dt;
            }
        double mr = Median(tr), mf = Median(tf);
        Console.WriteLine($"# training update {config} ({w.Describe}), CPU ms/update, medians of {blocks} blocks of {per}, one model switching kernels, order alternated{(aa ? " — A/A: both fused" : "")}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{config}: reference {mr * 1e3:F1} ms, fused {mf * 1e3:F1} ms, speedup {mr / mf:F3}x, saved {(mr - mf) * 1e3:F1} ms/update ({100 * (mr - mf) / mr:F1} %)"));
    }
}
