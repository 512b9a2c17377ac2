using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Unroll.Data;
using Unroll.Kernels;
using Unroll.Layers;
using Unroll.Models;
using Unroll.Optim;
using Unroll.Tasks;
using Unroll.Tensors;
using Unroll.Training;

namespace Unroll.Bench;

/// <summary>
/// <c>train --config C1|C2|C3|C4|ADD-RNN|ADD-LSTM [--threads 2] [--iters N] [--warmup N] [--bptt T] [--T 200] [--batch N]
/// [--profile] [--seed S] [--tag S]</c>: Unroll's side of the peer workloads of <c>../shared/peers</c> (same model
/// shapes, batching, optimizer, clipping, dropout, tying, timed section), through the library's models
/// (<see cref="LanguageModels"/>, <see cref="SequenceModel{T}"/>) and the same per-update calls as
/// <c>Training.Trainer</c> (zero grads, forward with the fused softmax-loss-gradient, backward, global-norm clip,
/// optimizer step). Prints median ms/iteration, tokens/s (or sequences/s), peak RSS (VmHWM), managed bytes
/// allocated per iteration, and a <c>RESULT {json}</c> line in the peers' form.
/// </summary>
/// <remarks>
/// LM configs: a synthetic Zipf-like stream (p_k ∝ 1/(k+1), V = 10000, 100000 tokens, drawn by inverse CDF from
/// Unroll's <see cref="Rng"/> — the same distribution as the peers' numpy stream, not the same draws), the textbook
/// batching (<see cref="BpttBatcher"/>: N streams at offsets i·⌊L/N⌋, T steps per iteration, state carried and
/// detached), mean cross-entropy over N·T, SGD lr 20, clip 0.25. C1: Rnnlm, LSTM, E = H = 100; C2: BetterRnnlm,
/// 2-layer LSTM 650, dropout 0.5 (after the embedding, between layers, after the top layer), tied; C3: C2 with GRU;
/// C4: Rnnlm with a tanh RNN, E = H = 100. N 20, T 35.
/// ADD: the adding problem (T 200, batch 64, 16 fixed batches cycled as the peers do), one layer H 128 + a linear
/// head on the last step, MSE, Adam 1e-3, no clipping. The timed section of an iteration is the whole update
/// including filling the batch, as in the peers.
/// </remarks>
public static class TrainBench
{
    private const string Usage =
        "train --config C1|C2|C3|C4|ADD-RNN|ADD-LSTM [--threads 2] [--iters N] [--warmup N] [--bptt T (LM)] [--T 200 (adding)] [--batch N]\n" +
        "      [--warmup-seconds 2] [--stream-tokens 100000] [--seed 0] [--profile] [--tag S]\n" +
        "  defaults as the peers: C1/C4 5 warm-up + 30 timed iterations, others 3 + 12; the warm-up also lasts at least\n" +
        "  --warmup-seconds (≤ 500 updates) so the JIT's tiered compilation is done before timing.\n" +
        "  --profile: also time every phase of an update (embedding, each layer, dropout, output GEMM, softmax-CE, ...)\n" +
        "  --profile-cpu: the same by the calling thread's CPU time (use with --threads 1 on a busy machine)\n" +
        "  --reference-cells: the recurrent layers run the reference step kernels (TensorPrimitives) instead of the fused SIMD ones\n" +
        "  --ab sweepnext|sweep|depthsplit|singleblock|biasregs: updates alternate (ABBA) between the default and the named\n" +
        "    library switch turned off, in one process (one model); or --ab KEY=VALUE[,KEY=VALUE] (kc, ablock, bpanel, singlek,\n" +
        "    singlerows, packahead): those GEMM blocking values instead of the default on the \"off\" updates;\n" +
        "    prints both medians and the median per-pair ratio off/default";

    public static int Run(string[] args)
    {
        string config = "C1", tag = "";
        int threads = 2, iters = -1, warmup = -1, bptt = -1, length = 200, batch = -1, streamTokens = 100_000;
        ulong seed = 0;
        bool profile = false, cpuClock = false, referenceCells = false;
        string ab = "";
        double warmupSeconds = 2;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                int NextInt() => int.Parse(Next(), CultureInfo.InvariantCulture);
                switch (args[i])
                {
                    case "--config": config = Next().ToUpperInvariant(); break;
                    case "--threads": threads = NextInt(); break;
                    case "--iters": iters = NextInt(); break;
                    case "--warmup": warmup = NextInt(); break;
                    case "--warmup-seconds": warmupSeconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--bptt": bptt = NextInt(); break;
                    case "--batch": batch = NextInt(); break;
                    case "--T": length = NextInt(); break;
                    case "--stream-tokens": streamTokens = NextInt(); break;
                    case "--seed": seed = ulong.Parse(Next(), CultureInfo.InvariantCulture); break;
                    case "--profile": profile = true; break;
                    case "--profile-cpu": profile = true; cpuClock = true; break;
                    case "--tag": tag = Next(); break;
                    case "--reference-cells": referenceCells = true; break;
                    case "--ab": ab = Next(); break;
                    case "-h" or "--help": Console.WriteLine(Usage); return 0;
                    default: throw new ArgumentException($"unknown option {args[i]}");
                }
            }
            if (config is not ("C1" or "C2" or "C3" or "C4" or "ADD-RNN" or "ADD-LSTM")) throw new ArgumentException($"unknown --config {config}");
            if (threads < 1) throw new ArgumentException("--threads must be ≥ 1");
            if (ab.Length > 0 && profile) throw new ArgumentException("--ab and --profile cannot be combined (--ab times whole updates)");
            if (ab.Length > 0 && AbSwitch(ab) is null)
                throw new ArgumentException($"--ab {ab}: unknown switch (known: {string.Join(", ", AbSwitches.Keys)}, or KEY=VALUE[,KEY=VALUE] with KEY one of {string.Join(", ", AbTunables.Keys)})");
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine($"train: {e.Message}\n{Usage}");
            return 2;
        }

        bool big = config is "C2" or "C3" or "ADD-RNN" or "ADD-LSTM";
        if (warmup < 0) warmup = big ? 3 : 5;
        if (iters < 0) iters = big ? 12 : 30;
        Gemm.Threads = threads;
        string loadBefore = LoadAverage();

        IWorkload w = config.StartsWith('C')
            ? new LmWorkload(config, batch > 0 ? batch : 20, bptt > 0 ? bptt : 35, streamTokens, seed, profile ? new PhaseTimer(cpuClock) : null)
            : new AddingWorkload(config, batch > 0 ? batch : 64, length, seed);
        foreach (var l in w.Recurrent) ((TimeRecurrentBase<float>)l).UseReferenceKernels = referenceCells;
        if (ab.Length > 0) return RunAb(w, ab, warmup, iters, config);

        // Warm-up: the peers' iteration count, and at least --warmup-seconds of updates (at most 500), so that the JIT's
        // tiered compilation (call counting, then optimised code compiled in the background) is finished before
        // timing — libtorch's kernels are native and need no such warm-up.
        double loss = 0;
        var warm = Stopwatch.StartNew();
        int warmDone = 0;
        while (warmDone < warmup || (warm.Elapsed.TotalSeconds < warmupSeconds && warmDone < 500)) { loss = w.Step(); warmDone++; }
        w.Profile?.Reset();
        var times = new double[iters];
        var proc = Process.GetCurrentProcess();
        var cpu0 = proc.TotalProcessorTime;
        long wall0 = Stopwatch.GetTimestamp();
        long allocThread0 = GC.GetAllocatedBytesForCurrentThread();
        long allocTotal0 = GC.GetTotalAllocatedBytes(precise: true);
        int gc0 = GC.CollectionCount(0);
        for (int i = 0; i < iters; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            loss = w.Step();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        long allocThread = GC.GetAllocatedBytesForCurrentThread() - allocThread0;
        long allocTotal = GC.GetTotalAllocatedBytes(precise: true) - allocTotal0;
        int gcs = GC.CollectionCount(0) - gc0;
        double wall = Stopwatch.GetElapsedTime(wall0).TotalSeconds;
        proc.Refresh();
        double ownCores = (proc.TotalProcessorTime - cpu0).TotalSeconds / wall;
        string loadAfter = LoadAverage();

        var sorted = times.Order().ToArray();
        double med = Stats.Median(sorted);
        double sum = times.Sum();
        string unit = w.Unit;
        double rssMiB = StatusKiB("VmHWM") / 1024.0;
        var rec = new Dictionary<string, object?>
        {
            ["kind"] = config.StartsWith('C') ? "lm" : "adding",
            ["impl"] = "unroll",
            ["config"] = config,
            ["model"] = w.Describe,
            ["params"] = w.NumParams,
            ["threads"] = threads,
            ["gemm"] = Gemm.Backend.Name,
            ["warmup"] = warmDone,
            ["warmup_s"] = Math.Round(warm.Elapsed.TotalSeconds, 2),
            ["iters"] = iters,
            ["median_ms"] = med * 1e3,
            ["mean_ms"] = sum / iters * 1e3,
            ["min_ms"] = sorted[0] * 1e3,
            ["max_ms"] = sorted[^1] * 1e3,
            [$"{unit}_per_s_median"] = w.ItemsPerIter / med,
            [$"{unit}_per_s_mean"] = w.ItemsPerIter * iters / sum,
            ["final_loss"] = loss,
            ["times_ms"] = times.Select(t => Math.Round(t * 1e3, 2)).ToArray(),
            ["peak_rss_mib"] = Math.Round(rssMiB, 1),
            ["alloc_bytes_per_iter_thread"] = (double)allocThread / iters,
            ["alloc_bytes_per_iter_total"] = (double)allocTotal / iters,
            ["gen0_collections"] = gcs,
            ["own_cores"] = Math.Round(ownCores, 3),
            ["loadavg_before"] = loadBefore,
            ["loadavg_after"] = loadAfter,
            ["tag"] = tag,
            ["reference_cells"] = referenceCells,
        };
        if (w.Profile is { } p) rec["profile_ms_per_iter"] = p.PerIteration(iters);
        if (w.Profile is { } pp) pp.Print(iters, med * 1e3);
        Console.WriteLine("RESULT " + JsonSerializer.Serialize(rec));
        Console.WriteLine($"unroll {config} threads={threads} gemm={Gemm.Backend.Name}: median {med * 1e3:F1} ms/iter, {w.ItemsPerIter / med:F1} {unit}/s, " +
                          $"peak RSS {rssMiB:F0} MiB, alloc {(double)allocThread / iters:F0} B/iter (all threads {(double)allocTotal / iters:F0}), " +
                          $"loss {loss:F4}, own cores {ownCores:F2}, load {loadBefore} -> {loadAfter}");
        return 0;
    }

    /// <summary>
    /// Switches of the library that <c>--ab NAME</c> flips between updates: (turn it off, restore the default). Each is
    /// read at every product, so flipping it between two updates of one model is exact (the same switches as the
    /// environment variables of the same names, for A/B runs in one process instead of alternating processes).
    /// </summary>
    private static readonly Dictionary<string, (Action Off, Action On)> AbSwitches = new()
    {
        // UNROLL_GEMM_SWEEP_NEXT: the step products' fetch of the next W_h panel
        ["sweepnext"] = (() => GemmTuning.SweepFetchNext = false, () => GemmTuning.SweepFetchNext = true),
        // UNROLL_GEMM_SWEEP_ROWS=0: the step products run as ordinary blocked products instead of panel by panel
        ["sweep"] = Swap(() => GemmTuning.SweepMaxRows, v => GemmTuning.SweepMaxRows = v, 0),
        // UNROLL_GEMM_DEPTH_SPLIT=0: deep products split C between the cores instead of the depth
        ["depthsplit"] = (() => ManagedGemm.DepthSplit = false, () => ManagedGemm.DepthSplit = true),
        // UNROLL_GEMM_SINGLE_BLOCK_K=0: K ≤ 768 products use equal depth blocks of ≈ KC instead of one
        ["singleblock"] = Swap(() => GemmTuning.SingleBlockMaxK, v => GemmTuning.SingleBlockMaxK = v, 0),
        // UNROLL_GEMM_BIAS_REGS=0: the bias of a product starts in a padded tile row instead of the registers
        ["biasregs"] = (() => GemmTuning.BiasInRegisters = false, () => GemmTuning.BiasInRegisters = true),
    };

    private static (Action Off, Action On) Swap(Func<int> get, Action<int> set, int offValue)
    {
        int dflt = get();
        return (() => set(offValue), () => set(dflt));
    }

    /// <summary>GEMM blocking values that <c>--ab KEY=VALUE</c> sets on the "off" updates (the default on the others).</summary>
    private static readonly Dictionary<string, (Func<int> Get, Action<int> Set)> AbTunables = new()
    {
        ["kc"] = (() => GemmTuning.KC, v => GemmTuning.KC = v),                              // depth of a packed block
        ["ablock"] = (() => GemmTuning.ABlockBytes, v => GemmTuning.ABlockBytes = v),        // bytes of a packed A block
        ["bpanel"] = (() => GemmTuning.BPanelBytes, v => GemmTuning.BPanelBytes = v),        // bytes of a packed B panel
        ["singlek"] = (() => GemmTuning.SingleBlockMaxK, v => GemmTuning.SingleBlockMaxK = v), // one depth block up to this K
        ["singlerows"] = (() => GemmTuning.SingleBlockMinRows, v => GemmTuning.SingleBlockMinRows = v),
        ["packahead"] = (() => GemmTuning.PackAheadRows, v => GemmTuning.PackAheadRows = v),
    };

    /// <summary>A named switch, or KEY=VALUE[,KEY=VALUE…] for <see cref="AbTunables"/>; null when neither.</summary>
    private static (Action Off, Action On)? AbSwitch(string name)
    {
        if (AbSwitches.TryGetValue(name, out var sw)) return sw;
        Action off = () => { }, on = () => { };
        foreach (var item in name.Split(','))
        {
            int eq = item.IndexOf('=');
            if (eq <= 0 || !AbTunables.TryGetValue(item[..eq], out var t)
                || !int.TryParse(item[(eq + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v <= 0)
                return null;
            var (o, n) = Swap(t.Get, t.Set, v);
            off += o; on += n;
        }
        return (off, on);
    }

    /// <summary>
    /// <c>--ab NAME</c>: one model, updates alternating between the library's default and the switch NAME turned off,
    /// in the order ABBA (so that drift within a pair cancels); prints each side's median and the median of the per-pair
    /// ratios off/on (&gt; 1: the default is faster). Same process, same model, same moments of the host.
    /// </summary>
    private static int RunAb(IWorkload w, string name, int warmup, int iters, string config)
    {
        var (off, on) = AbSwitch(name)!.Value;
        for (int i = 0; i < Math.Max(warmup, 5); i++) { off(); w.Step(); on(); w.Step(); }
        var tOn = new double[iters]; var tOff = new double[iters];
        for (int i = 0; i < iters; i++)
        {
            bool onFirst = i % 2 == 0;
            for (int j = 0; j < 2; j++)
            {
                bool isOn = (j == 0) == onFirst;
                if (isOn) on(); else off();
                long t0 = Stopwatch.GetTimestamp();
                w.Step();
                (isOn ? tOn : tOff)[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
        }
        on();
        var ratios = tOff.Zip(tOn, (a, b) => a / b).Order().ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ab {name} {config}: default {Stats.Median(tOn):F1} ms, {name} off {Stats.Median(tOff):F1} ms; per-pair off/default median {Stats.Median(ratios):F3} " +
            $"(quartiles {ratios[ratios.Length / 4]:F3}–{ratios[3 * ratios.Length / 4]:F3}), {iters} pairs, load {LoadAverage()}"));
        return 0;
    }

    /// <summary>One benchmark workload: <see cref="Step"/> is one timed update.</summary>
    internal interface IWorkload
    {
        double Step();
        string Describe { get; }
        long NumParams { get; }
        int ItemsPerIter { get; }
        string Unit { get; }
        PhaseTimer? Profile { get; }
        /// <summary>The model's recurrent layers (e.g. to switch their step kernels for an A/B run).</summary>
        IReadOnlyList<IRecurrentLayer<float>> Recurrent { get; }
    }

    /// <summary>The LM configs through <see cref="LanguageModels.Create{T}"/> (or, with --profile, the same layers and nodes composed with a timer between phases).</summary>
    internal sealed class LmWorkload : IWorkload
    {
        private readonly ILanguageModel<float> _model;
        private readonly ProfiledLm? _profiled;
        private readonly List<Parameter<float>> _ps;
        private readonly Sgd<float> _opt = new(20);
        private readonly BpttBatcher _batcher;
        private readonly int[] _xs, _ts;
        private readonly int _n, _t;
        private int _k;

        public LmWorkload(string config, int n, int t, int streamTokens, ulong seed, PhaseTimer? profile)
        {
            Config = config switch
            {
                "C1" => new LanguageModelConfig { Model = "rnnlm", Cell = "lstm", Vocab = 10000, Embed = 100, Hidden = 100, Layers = 1 },
                "C2" => new LanguageModelConfig { Model = "better-rnnlm", Cell = "lstm", Vocab = 10000, Embed = 650, Hidden = 650, Layers = 2, Dropout = 0.5, Tie = true },
                "C3" => new LanguageModelConfig { Model = "better-rnnlm", Cell = "gru", Vocab = 10000, Embed = 650, Hidden = 650, Layers = 2, Dropout = 0.5, Tie = true },
                "C4" => new LanguageModelConfig { Model = "rnnlm", Cell = "rnn", Vocab = 10000, Embed = 100, Hidden = 100, Layers = 1 },
                _ => throw new ArgumentException(config),
            };
            _model = LanguageModels.Create<float>(Config, new Rng(seed));
            _ps = _model.DistinctParameters();
            _batcher = new BpttBatcher(ZipfStream(streamTokens, Config.Vocab, new Rng(seed ^ 0x2F1F)), n, t, "synthetic stream");
            _n = n; _t = t;
            _xs = new int[n * t]; _ts = new int[n * t];
            if (profile is not null) { Profile = profile; _profiled = new ProfiledLm(_model, profile); }
        }

        public LanguageModelConfig Config { get; }
        public PhaseTimer? Profile { get; }
        public IReadOnlyList<IRecurrentLayer<float>> Recurrent => _model.Recurrent;
        /// <summary>The gradient-flow monitor the trainer attaches with --flow-every (null = off, as in the trainer).</summary>
        public FlowMonitor<float>? Flow { get; set; }
        /// <summary>The model (for attaching a <see cref="FlowMonitor{T}"/>).</summary>
        public ILanguageModel<float> Model => _model;
        public string Unit => "tokens";
        public int ItemsPerIter => _n * _t;
        public long NumParams => _ps.Sum(p => (long)p.Value.Length);
        public string Describe => $"{Config.Cell} V={Config.Vocab} E={Config.Embed} H={Config.Hidden} L={Config.Layers} dropout={Config.Dropout} tie={Config.Tie} N={_n} T={_t} lr=20 clip=0.25 model={Config.Model}";

        /// <summary>One update, the calls of Trainer.DoStep: fill, zero grads, forward + fused loss gradient, backward, clip, SGD.</summary>
        public double Step()
        {
            if (_profiled is not null) return _profiled.Step(_batcher, _k++, _xs, _ts, _n, _t, _ps, _opt);
            _batcher.Fill(_k++, _xs, _ts);
            _model.ZeroGrad();
            float loss = _model.Forward(_xs, _ts, _n, _t);
            _model.Backward();
            Flow?.AfterBackward(_k - 1, _ps);                          // the trainer's AfterBackward hook (--flow-every)
            double norm = GradClip.GlobalNorm(_ps);                      // as Trainer.DoStep: clip inside the update
            _opt.Step(_ps, GradClip.ClipCoefficient(norm, 0.25));
            return loss;
        }
    }

    /// <summary>The adding problem through <see cref="SequenceModel{T}"/>: Adam 1e-3, MSE, 16 fixed batches cycled.</summary>
    internal sealed class AddingWorkload : IWorkload
    {
        private readonly SequenceModel<float> _model;
        private readonly List<Parameter<float>> _ps;
        private readonly Adam<float> _opt = new(1e-3);
        private readonly TaskBatch<float>[] _batches;
        private readonly string _cell;
        private readonly int _n, _len;
        private int _k;

        public AddingWorkload(string config, int n, int length, ulong seed)
        {
            _cell = config == "ADD-RNN" ? "rnn" : "lstm";
            var task = new AddingProblem(length);
            _model = new SequenceModel<float>(task, ModelSpec.Parse(_cell), 128, new Rng(seed));
            _ps = _model.DistinctParameters();
            var data = new Rng(seed ^ 0xADD);
            _batches = [.. Enumerable.Range(0, 16).Select(_ => task.Sample<float>(data, n))];
            _n = n; _len = length;
        }

        public PhaseTimer? Profile => null;
        public IReadOnlyList<IRecurrentLayer<float>> Recurrent => [_model.Layer];
        public string Unit => "seqs";
        public int ItemsPerIter => _n;
        public long NumParams => _ps.Sum(p => (long)p.Value.Length);
        public string Describe => $"adding {_cell} H=128 T={_len} B={_n} Adam lr=0.001 MSE";

        public double Step()
        {
            var b = _batches[_k++ % _batches.Length];
            _model.ZeroGrad();
            float loss = _model.Loss(b);
            _model.Backward();
            _opt.Step(_ps);
            return loss;
        }
    }

    /// <summary>
    /// n ids from p_k ∝ 1/(k+1), k &lt; V (inverse CDF: the first k with cdf[k] &gt; u, u uniform in [0, 1)),
    /// as numpy's <c>RandomState.choice(V, n, p)</c> in the peers' <c>zipf_stream</c>.
    /// </summary>
    public static int[] ZipfStream(int n, int v, Rng rng)
    {
        var cdf = new double[v];
        double acc = 0;
        for (int k = 0; k < v; k++) { acc += 1.0 / (k + 1); cdf[k] = acc; }
        for (int k = 0; k < v; k++) cdf[k] /= acc;
        var ids = new int[n];
        for (int i = 0; i < n; i++)
        {
            double u = rng.NextDouble();
            int lo = 0, hi = v - 1;
            while (lo < hi) { int mid = (lo + hi) >> 1; if (cdf[mid] <= u) lo = mid + 1; else hi = mid; }
            ids[i] = lo;
        }
        return ids;
    }

    internal static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
    }

    internal static long StatusKiB(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key + ":", StringComparison.Ordinal))
                return long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        return -1;
    }
}
