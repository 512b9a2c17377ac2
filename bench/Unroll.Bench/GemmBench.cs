using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Unroll.Kernels;

namespace Unroll.Bench;

/// <summary>
/// <c>gemm [--reps N] [--min-ms T] [--threads T] [--backends a,b] [--shapes 0,1,..] [--no-numpy] [--cold] [--tune k=v,..]</c>: GFLOP/s of float32 GEMM on the
/// issue's shapes (plus the two transposed products of an RNN backward step) for every available backend,
/// repetitions alternating between backends, median reported; numpy (subprocess, bench/reference/numpy_gemm.py)
/// is measured right after each shape when <c>/usr/bin/python3 -c "import numpy"</c> works. <c>--cold</c> rotates through
/// copies of the operands (≥ 512 MB in all), so that every call starts with A, B and C out of cache, as in training.
/// <c>gemm --packed [--reps N] [--min-ms T]</c>: the managed backend's <c>Run</c> (packs B every call) against
/// <c>RunPacked</c> (B packed once, <see cref="GemmPackedB{T}"/>) on the recurrent step shapes, one thread, CPU time.
/// </summary>
public static class GemmBench
{
    private static readonly (int M, int K, int N, string Op)[] Shapes =
    [
        (20, 650, 2600, "NN"), (20, 1300, 2600, "NN"), (700, 650, 2600, "NN"), (700, 650, 10000, "NN"),
        (700, 10000, 650, "NN"), (1024, 1024, 1024, "NN"),
        // RNN backward of h·Wh (batch 20, H 650): dh = da·Whᵀ and dWh += hᵀ·da.
        (20, 2600, 650, "NT"), (650, 20, 2600, "TN"),
        // C2's other large products: logits = h·Eᵀ (tied E 10000×650), dE += dlogitsᵀ·h, dW_x += xᵀ·da (700 = 20×35 tokens).
        (700, 650, 10000, "NT"), (10000, 700, 650, "TN"), (650, 700, 2600, "TN"),
        // C1's output layer (H 100, bias folded into depth 101): logits = [h|1]·[W;b], dxᵀ = W·dlogitsᵀ, dW += hᵀ·dlogits.
        (700, 101, 10000, "NN"), (100, 10000, 700, "NT"), (100, 700, 10000, "TN"),
        // ADD-LSTM's weight gradients over all 12 800 rows (batch 64 × T 200): [dWx ; db] = [x | 1]ᵀ·dA, dWh += hᵀ·dA.
        (3, 12800, 512, "TN"), (128, 12800, 512, "TN"),
        // C2's LSTM input gradient dxs = dA·W_xᵀ (K = 4H = 2600).
        (700, 2600, 650, "NT"),
        // C3's GRU (3H = 1950): input projection, dW_x += xᵀ·da, dxs = da·W_xᵀ.
        (700, 650, 1950, "NN"), (650, 700, 1950, "TN"), (700, 1950, 650, "NT"),
    ];

    public static int Run(string[] args)
    {
        int reps = 7, minMs = 100;
        bool numpy = true;
        string? only = null;
        int[]? pick = null;
        bool cpuTime = false, packedMode = false, cold = false, peak = false, showCores = false;
        string? ab = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--reps": reps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--min-ms": minMs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--threads": Gemm.Threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--backends": only = args[++i]; break;
                case "--no-numpy": numpy = false; break;
                case "--cold": cold = true; break;   // rotate through copies of the operands (≥ 512 MB in all): every call starts with A, B, C out of cache
                case "--cpu-time": cpuTime = true; break;
                case "--peak": peak = true; break;   // adds "kernel-peak": the same FLOPs in the L1-resident microkernel, alternating (with --cpu-time)
                case "--cores": showCores = true; break;   // print how many cores each backend kept busy (process CPU time / wall time)
                case "--packed": packedMode = true; break;
                case "--ab": ab = args[++i]; break;   // e.g. kc=384: adds "managed (kc=384)" alternating with the default blocking
                case "--shapes": pick = args[++i].Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--tune":   // e.g. kc=256,a=196608,b=1048576 (managed blocking, for experiments)
                    foreach (var kv in args[++i].Split(','))
                    {
                        var (key, v) = (kv.Split('=')[0], int.Parse(kv.Split('=')[1], CultureInfo.InvariantCulture));
                        switch (key)
                        {
                            case "kc": GemmTuning.KC = v; break;
                            case "a": GemmTuning.ABlockBytes = v; break;
                            case "b": GemmTuning.BPanelBytes = v; break;
                            case "cachea": GemmTuning.CacheA = v != 0; break;
                            case "split": GemmTuning.Split = v; break;
                            case "pf": GemmTuning.PackPrefetchRows = v; break;
                            case "half": GemmTuning.HalfEdge = v != 0; break;
                            default: Console.Error.WriteLine($"gemm: unknown tuning key {key}"); return 2;
                        }
                    }
                    break;
                default: Console.Error.WriteLine($"gemm: unknown option {args[i]}"); return 2;
            }
        }

        if (packedMode) return RunPackedComparison(reps, minMs);
        var backends = new List<IGemmBackend> { ManagedGemm.Instance };
        if (OpenBlasGemm.TryLoad(out var ob, out var err)) backends.Add(ob!);
        else Console.WriteLine($"# openblas: not available ({err})");
        if (only is not null)
        {
            var names = only.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            backends = names.Select(GemmBackends.ByName).ToList();
        }
        if (ab is not null)
        {
            var alt = new TunedManaged(ab);
            backends.Insert(Math.Min(1, backends.Count), alt);
        }
        if (peak)
        {
            if (!cpuTime || !Avx512Kernel<float>.IsSupported) { Console.Error.WriteLine("gemm: --peak needs --cpu-time and AVX-512"); return 2; }
            backends.Add(new KernelProbe.PeakBackend());
        }
        if (cpuTime)
        {
            // Single-threaded, timed by the calling thread's CPU clock: robust when other processes share the cores.
            Gemm.Threads = 1;
            numpy = false;
        }
        if (numpy) numpy = PythonHasNumpy();

        Console.WriteLine($"# cpu: {CpuModel()}, {Environment.ProcessorCount} logical cores, {Unroll.Cli.InfoCommand.SimdDescription()}");
        Console.WriteLine($"# load average at start: {TrainBench.LoadAverage()}");
        Console.WriteLine($"# managed blocking: KC={GemmTuning.KC}, A block {GemmTuning.ABlockBytes} B, B panel {GemmTuning.BPanelBytes} B");
        Console.WriteLine($"# Gemm.Threads = {Gemm.Threads}; float32; {reps} repetitions (each ≥ {minMs} ms), backends alternating; median GFLOP/s" +
                          (cpuTime ? " per second of this thread's CPU time (CLOCK_THREAD_CPUTIME_ID)" : " (wall clock)"));
        foreach (var b in backends)
            if (b is OpenBlasGemm o) Console.WriteLine($"# {o.Name}: {o.Library}; {o.Config}; {o.CoreTypeNote}");
        string? numpyCore = null;

        var header = new List<string> { "M", "K", "N", "op" };
        header.AddRange(backends.Select(b => b.Name));
        if (numpy) header.Add("numpy");
        // Ratio column: the first backend over OpenBLAS (or over the second backend when OpenBLAS is not measured),
        // median over the repetitions of the ratio of back-to-back measurements.
        int peer = backends.FindIndex(x => x is OpenBlasGemm);
        if (peer <= 0) peer = backends.Count > 1 && backends[1] is not KernelProbe.PeakBackend ? 1 : -1;   // --peak has its own columns
        if (peer > 0) header.Add($"{backends[0].Name.Split(' ')[0]}/{backends[peer].Name.Split(' ')[0]}");
        int abIdx = backends.FindIndex(x => x is TunedManaged);
        if (abIdx > 0) header.Add("tuned/default, paired median [quartiles]");
        int peakIdx = backends.FindIndex(x => x is KernelProbe.PeakBackend);
        if (peakIdx > 0) header.AddRange(backends.Take(peakIdx).Select(b => $"{b.Name.Split(' ')[0]}/peak"));
        Console.WriteLine("| " + string.Join(" | ", header) + " |");
        Console.WriteLine("|" + string.Concat(Enumerable.Repeat("---|", header.Count)));

        foreach (var (m, k, n, op) in pick is null ? Shapes : pick.Select(i => Shapes[i]))
        {
            bool ta = op[0] == 'T', tb = op[1] == 'T';
            var rng = new Unroll.Tensors.Rng(1);
            int sets = cold ? (int)Math.Clamp((512L << 20) / (4L * (m * k + k * n + m * n)), 2, 64) : 1;
            var sa = new float[sets][]; var sb = new float[sets][]; var sc = new float[sets][];
            for (int si = 0; si < sets; si++) { sa[si] = Rand(rng, m * k); sb[si] = Rand(rng, k * n); sc[si] = new float[m * n]; }
            int cur = 0;
            float[] a = sa[0], b = sb[0], c = sc[0];
            void Next() { if (sets > 1) { cur = (cur + 1) % sets; a = sa[cur]; b = sb[cur]; c = sc[cur]; } }
            int lda = ta ? m : k, ldb = tb ? k : n;
            double flops = 2.0 * m * n * k;
            var iters = new int[backends.Count];
            for (int bi = 0; bi < backends.Count; bi++)
            {
                var be = backends[bi];
                for (int w = 0; w < 3; w++) be.Gemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
                double t0 = Now(cpuTime);
                be.Gemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, c, n);
                iters[bi] = Math.Max(1, (int)(minMs / 1000.0 / Math.Max(Now(cpuTime) - t0, 1e-6)));
            }
            var g = backends.Select(_ => new List<double>()).ToArray();
            var cores = backends.Select(_ => new List<double>()).ToArray();
            using var self = Process.GetCurrentProcess();
            for (int r = 0; r < reps; r++)
                for (int bi = 0; bi < backends.Count; bi++)
                {
                    var be = backends[bi];
                    TimeSpan cpu0 = default;
                    if (showCores) { self.Refresh(); cpu0 = self.TotalProcessorTime; }
                    double t0 = Now(cpuTime), w0 = Now(false);
                    for (int it = 0; it < iters[bi]; it++) { Next(); be.Gemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, c, n); }
                    g[bi].Add(flops * iters[bi] / (Now(cpuTime) - t0) / 1e9);
                    if (showCores) { self.Refresh(); cores[bi].Add((self.TotalProcessorTime - cpu0).TotalSeconds / (Now(false) - w0)); }
                }
            if (showCores)   // the process's CPU seconds per wall second while each backend ran (spinning counts as busy)
                Console.WriteLine($"#   {m}x{k}x{n} {op} cores busy: " + string.Join(", ", backends.Select((be, i) => $"{be.Name} {Median(cores[i]):0.00}")));
            var row = new List<string> { $"{m}", $"{k}", $"{n}", op };
            var med = g.Select(Median).ToArray();
            row.AddRange(med.Select(F));
            if (numpy)
            {
                var (gf, core) = RunNumpy(m, k, n, op, reps, minMs);
                numpyCore ??= core;
                row.Add(F(gf));
            }
            if (peer > 0)   // paired: median over repetitions of the ratio measured back to back
                row.Add(Median(g[0].Zip(g[peer], (x, y) => x / y).ToList()).ToString("0.00", CultureInfo.InvariantCulture));
            if (abIdx > 0)
            {
                // Paired: median over repetitions of (tuned / default) measured back to back, and its spread (quartiles).
                var pr = g[abIdx].Zip(g[0], (x, y) => x / y).Order().ToArray();
                row.Add($"{Median(pr.ToList()).ToString("0.000", CultureInfo.InvariantCulture)} [{pr[pr.Length / 4].ToString("0.00", CultureInfo.InvariantCulture)}–{pr[pr.Length * 3 / 4].ToString("0.00", CultureInfo.InvariantCulture)}]");
            }
            for (int bi = 0; peakIdx > 0 && bi < peakIdx; bi++)   // paired share of the kernel's ceiling at the same moment
                row.Add(Median(g[bi].Zip(g[peakIdx], (x, y) => x / y).ToList()).ToString("0.00", CultureInfo.InvariantCulture));
            Console.WriteLine("| " + string.Join(" | ", row) + " |");
        }
        if (numpy) Console.WriteLine($"# numpy: {numpyCore}");
        Console.WriteLine($"# load average at end: {TrainBench.LoadAverage()}");
        return 0;
    }

    /// <summary>The managed backend with other blocking parameters (<c>--ab kc=..,a=..,b=..,cachea=..,split=..,pf=..,half=..,sb=..,camax=..,ds=0|1,t16=0|1,pa=..,pamin=bytes</c>), swapped in around each call.</summary>
    private sealed class TunedManaged : IGemmBackend
    {
        private readonly int _kc = GemmTuning.KC, _a = GemmTuning.ABlockBytes, _b = GemmTuning.BPanelBytes;
        private readonly bool _cacheA = GemmTuning.CacheA, _half = GemmTuning.HalfEdge;
        private readonly int _sb = GemmTuning.SingleBlockMaxK, _camax = GemmTuning.CacheAMaxElements;
        private readonly int _split = GemmTuning.Split, _pf = GemmTuning.PackPrefetchRows;
        private readonly bool _ds = ManagedGemm.DepthSplit, _t16 = GemmTuning.Transpose16;
        private readonly int _pa = GemmTuning.PackAheadRows;
        private readonly long _pamin = GemmTuning.PackAheadMinBytes;
        public string Name { get; }

        public TunedManaged(string spec)
        {
            Name = $"managed ({spec})";
            foreach (var kv in spec.Split(','))
            {
                var (key, v) = (kv.Split('=')[0], int.Parse(kv.Split('=')[1], CultureInfo.InvariantCulture));
                switch (key)
                {
                    case "kc": _kc = v; break;
                    case "a": _a = v; break;
                    case "b": _b = v; break;
                    case "cachea": _cacheA = v != 0; break;
                    case "split": _split = v; break;
                    case "pf": _pf = v; break;
                    case "half": _half = v != 0; break;
                    case "sb": _sb = v; break;
                    case "camax": _camax = v; break;
                    case "ds": _ds = v != 0; break;
                    case "t16": _t16 = v != 0; break;
                    case "pa": _pa = v; break;
                    case "pamin": _pamin = v; break;
                    default: throw new ArgumentException($"gemm --ab: unknown key {key}");
                }
            }
        }

        private (int, int, int, bool, int, int, bool, int, int, bool, bool, int, long) Swap()
        {
            var old = (GemmTuning.KC, GemmTuning.ABlockBytes, GemmTuning.BPanelBytes, GemmTuning.CacheA, GemmTuning.Split, GemmTuning.PackPrefetchRows, GemmTuning.HalfEdge, GemmTuning.SingleBlockMaxK, GemmTuning.CacheAMaxElements, ManagedGemm.DepthSplit, GemmTuning.Transpose16, GemmTuning.PackAheadRows, GemmTuning.PackAheadMinBytes);
            Restore((_kc, _a, _b, _cacheA, _split, _pf, _half, _sb, _camax, _ds, _t16, _pa, _pamin));
            return old;
        }

        private static void Restore((int, int, int, bool, int, int, bool, int, int, bool, bool, int, long) t) =>
            (GemmTuning.KC, GemmTuning.ABlockBytes, GemmTuning.BPanelBytes, GemmTuning.CacheA, GemmTuning.Split, GemmTuning.PackPrefetchRows, GemmTuning.HalfEdge, GemmTuning.SingleBlockMaxK, GemmTuning.CacheAMaxElements, ManagedGemm.DepthSplit, GemmTuning.Transpose16, GemmTuning.PackAheadRows, GemmTuning.PackAheadMinBytes) = t;

        public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
                         ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
            var old = Swap();
            try { ManagedGemm.Instance.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); }
            finally { Restore(old); }
        }

        public void Gemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, int lda,
                         ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
        {
            var old = Swap();
            try { ManagedGemm.Instance.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); }
            finally { Restore(old); }
        }
    }

    // The recurrent step products: forward C(m×4H) += h(m×H)·W_h (NN), backward dh(m×H) += da(m×4H)·W_hᵀ (NT).
    private static readonly (int M, int K, int N, string Op)[] StepShapes =
    [
        (20, 650, 2600, "NN"), (20, 2600, 650, "NT"), (64, 128, 512, "NN"), (64, 512, 128, "NT"), (32, 128, 512, "NN"), (32, 512, 128, "NT"),
    ];

    private static int RunPackedComparison(int reps, int minMs)
    {
        var be = ManagedGemm.Instance;
        Console.WriteLine($"# cpu: {CpuModel()}, {Environment.ProcessorCount} logical cores, {Unroll.Cli.InfoCommand.SimdDescription()}");
        Console.WriteLine($"# load average at start: {TrainBench.LoadAverage()}");
        Console.WriteLine($"# {be.Name}, float32, one thread (parallel: false); {reps} repetitions (each ≥ {minMs} ms), alternating; " +
                          "median GFLOP/s per second of this thread's CPU time; beta = 1 (the step accumulates into C)");
        Console.WriteLine("| M | K | N | op | Run (packs B) | RunPacked (B packed once) | RunPacked/Run | Pack alone (ms) |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var (m, k, n, op) in StepShapes)
        {
            var (tb, a, b, c, ldb, packed) = StepOperands(be, m, k, n, op);
            double flops = 2.0 * m * n * k;
            Action[] runs =
            [
                () => Gemm.Dispatch<float>(be, false, tb, m, n, k, 1f, a, k, b, ldb, 1f, c, n),
                () => Gemm.RunPacked<float>(be, false, m, 1f, a, k, packed, 1f, c, n, parallel: false),
                () => packed.Pack(be, tb, k, n, b, ldb),
            ];
            double[] med;
            using (Gemm.Serial()) med = Measure(runs, reps, minMs);
            Console.WriteLine($"| {m} | {k} | {n} | {op} | {F(flops / med[0] / 1e9)} | {F(flops / med[1] / 1e9)} | " +
                              $"{(med[0] / med[1]).ToString("0.00", CultureInfo.InvariantCulture)} | {(med[2] * 1e3).ToString("0.000", CultureInfo.InvariantCulture)} |");
        }
        // How two threads should share one step: each its half of the rows (all of B) or its half of the columns
        // (half of B). One half measured on one thread (CPU time), both halves do the same work.
        Console.WriteLine();
        Console.WriteLine("Half a step per thread (2-thread split), RunPacked with parallel: false, GFLOP/s per CPU-second:");
        Console.WriteLine("| M | K | N | op | half the rows | half the columns (ColumnRange) | columns/rows |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var (m, k, n, op) in StepShapes)
        {
            var (_, a, _, c, _, packed) = StepOperands(be, m, k, n, op);
            var (j0, j1) = packed.ColumnRange(0, 2);
            int mh = m / 2;
            double[] flops = [2.0 * mh * n * k, 2.0 * m * (j1 - j0) * k];
            Action[] runs =
            [
                () => Gemm.RunPacked<float>(be, false, mh, 1f, a, k, packed, 1f, c, n, parallel: false),
                () => Gemm.RunPacked<float>(be, false, m, 1f, a, k, packed, j0, j1, 1f, c, n, parallel: false),
            ];
            var med = Measure(runs, reps, minMs);
            double rows = flops[0] / med[0] / 1e9, cols = flops[1] / med[1] / 1e9;
            Console.WriteLine($"| {m} | {k} | {n} | {op} | {F(rows)} | {F(cols)} | {(cols / rows).ToString("0.00", CultureInfo.InvariantCulture)} |");
        }
        Console.WriteLine($"# load average at end: {TrainBench.LoadAverage()}");
        return 0;
    }

    /// <summary>Random operands of one step shape (seed 1) and op(B) packed for <paramref name="be"/>.</summary>
    private static (bool TransB, float[] A, float[] B, float[] C, int Ldb, GemmPackedB<float> Packed) StepOperands(
        ManagedGemm be, int m, int k, int n, string op)
    {
        bool tb = op[1] == 'T';
        var rng = new Unroll.Tensors.Rng(1);
        float[] a = Rand(rng, m * k), b = Rand(rng, k * n), c = new float[m * n];
        int ldb = tb ? k : n;
        var packed = new GemmPackedB<float>();
        packed.Pack(be, tb, k, n, b, ldb);
        return (tb, a, b, c, ldb, packed);
    }

    /// <summary>Median seconds per call of each action, on this thread's CPU clock, repetitions alternating.</summary>
    private static double[] Measure(Action[] runs, int reps, int minMs)
    {
        var iters = new int[runs.Length];
        var med = new double[runs.Length];
        for (int r = 0; r < runs.Length; r++)
        {
            for (int w = 0; w < 3; w++) runs[r]();
            double t0 = KernelProbe.ThreadCpuSeconds();
            runs[r]();
            iters[r] = Math.Max(1, (int)(minMs / 1000.0 / Math.Max(KernelProbe.ThreadCpuSeconds() - t0, 1e-6)));
        }
        var secs = runs.Select(_ => new List<double>()).ToArray();
        for (int rep = 0; rep < reps; rep++)
            for (int r = 0; r < runs.Length; r++)
            {
                double t0 = KernelProbe.ThreadCpuSeconds();
                for (int it = 0; it < iters[r]; it++) runs[r]();
                secs[r].Add((KernelProbe.ThreadCpuSeconds() - t0) / iters[r]);
            }
        for (int r = 0; r < runs.Length; r++) med[r] = Median(secs[r]);
        return med;
    }

    /// <summary>Seconds: wall clock, or this thread's CPU time (CLOCK_THREAD_CPUTIME_ID = 3).</summary>
    private static double Now(bool cpu)
    {
        return cpu ? KernelProbe.ThreadCpuSeconds() : Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
    }

    private static string F(double x) => double.IsNaN(x) ? "n/a" : x.ToString("0.0", CultureInfo.InvariantCulture);
    private static double Median(List<double> x) => Stats.Median(x);

    private static float[] Rand(Unroll.Tensors.Rng rng, int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = rng.NextSingle() * 2 - 1;
        return x;
    }

    private static string Script()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var p = Path.Combine(dir.FullName, "bench", "reference", "numpy_gemm.py");
            if (File.Exists(p)) return p;
        }
        return Path.Combine("bench", "reference", "numpy_gemm.py");
    }

    private static bool PythonHasNumpy()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("/usr/bin/python3", ["-c", "import numpy"]) { RedirectStandardError = true })!;
            p.WaitForExit();
            if (p.ExitCode == 0) return true;
        }
        catch (System.ComponentModel.Win32Exception) { }
        Console.WriteLine("# numpy: not available (/usr/bin/python3 -c \"import numpy\" failed)");
        return false;
    }

    private static (double gflops, string core) RunNumpy(int m, int k, int n, string op, int reps, int minMs)
    {
        // The child inherits this process's environment, including OPENBLAS_CORETYPE if the OpenBLAS backend set it.
        var psi = new ProcessStartInfo("/usr/bin/python3", [Script(), $"{m}", $"{k}", $"{n}", op, $"{reps}", (minMs / 1000.0).ToString(CultureInfo.InvariantCulture)])
        { RedirectStandardOutput = true };
        psi.Environment["OPENBLAS_NUM_THREADS"] = Gemm.Threads.ToString(CultureInfo.InvariantCulture);
        using var p = Process.Start(psi)!;
        string json = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) return (double.NaN, "numpy failed");
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        string core = r.GetProperty("core").ValueKind == JsonValueKind.String
            ? $"numpy {r.GetProperty("numpy").GetString()} on {r.GetProperty("config").GetString()} (core {r.GetProperty("core").GetString()})"
            : $"numpy {r.GetProperty("numpy").GetString()}, BLAS: {string.Join(", ", r.GetProperty("libraries").EnumerateArray().Select(e => e.GetString()))}";
        return (r.GetProperty("median").GetDouble(), core);
    }

    private static string CpuModel()
    {
        try { return File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("model name")).Split(':', 2)[1].Trim(); }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException) { return "unknown"; }
    }
}
