using System.Diagnostics;
using Unroll.Flow;
using Unroll.Init;
using Unroll.Layers;
using Unroll.Optim;
using Unroll.Tasks;
using Unroll.Tensors;

namespace Unroll.Demo;

/// <summary>Progress of a demo stage: <paramref name="Done"/> of <paramref name="Total"/> units (training steps).</summary>
public sealed record DemoProgress(string Stage, long Done, long Total);

/// <summary>Per-iteration record of one training run (pre-clip global gradient norm, training loss).</summary>
/// <param name="Loss">Training loss of every iteration (the batch before the update).</param>
/// <param name="GradNorm">Global gradient norm before clipping, per iteration.</param>
/// <param name="Clipped">Whether clipping scaled the gradient at that iteration.</param>
/// <param name="Diverged">True when the loss or the norm became non-finite (training stopped there).</param>
public sealed record TrainTrace(double[] Loss, double[] GradNorm, bool[] Clipped, bool Diverged)
{
    /// <summary>Iterations at which clipping fired.</summary>
    public int ClipCount => Clipped.Count(c => c);
}

/// <summary>One cell of section b: gradient flow at initialisation and after training on the adding problem.</summary>
public sealed record CellRun(string Cell, GradientFlowRecord Init, GradientFlowSummary InitSummary, double InitMse,
                             GradientFlowRecord Trained, GradientFlowSummary TrainedSummary, double FinalMse, TrainTrace Trace);

/// <summary>Section a: the seed experiment, W_h alone (<see cref="WhOnly"/>) and through a real tanh RNN (<see cref="Tanh"/>).</summary>
public sealed record SeedSection(IReadOnlyList<FlowCurve> WhOnly, IReadOnlyList<FlowCurve> Tanh);

/// <summary>Section b.</summary>
public sealed record CellsSection(int Length, int Steps, double BaselineMse, IReadOnlyList<CellRun> Runs);

/// <summary>Section c, clipping on an exploding tanh RNN: the same model, data and SGD, without and with clipping.</summary>
public sealed record ClipSection(int Length, double WhScale, double SigmaMaxInit, double MaxNorm, double LearningRate,
                                 TrainTrace Without, TrainTrace With, double FinalMseWithout, double FinalMseWith);

/// <summary>Section c: clipping and the short comparison.</summary>
public sealed record RemediesSection(ClipSection Clip, IReadOnlyList<RunResult> Compare);

/// <summary>Everything one demo run measured.</summary>
public sealed record DemoResult(DemoOptions Options, SeedSection Seed, CellsSection Cells, RemediesSection Remedies, double Seconds);

/// <summary>
/// Runs the measurements behind <c>unroll demo</c> (nothing is written here; see <see cref="DemoOutputs"/>):
/// a. the seed experiment (<see cref="SeedExperiment"/>, <see cref="LayerExperiment"/>), b. tanh RNN / LSTM / GRU on
/// the adding problem with the <see cref="GradientFlowRecorder{T}"/> at initialisation and after training,
/// c. global-norm clipping on an exploding tanh RNN and a short <see cref="LongRangeRunner"/> comparison.
/// Training runs are independent jobs spread over <see cref="DemoOptions.Threads"/> threads; each is a pure
/// function of the options (seeded), so the result does not depend on the thread count.
/// </summary>
public static class DemoRunner
{
    public const string StageSeed = "a. seed experiment", StageCells = "b. rnn / lstm / gru", StageClip = "c. clipping", StageCompare = "c. compare";

    public static DemoResult Run(DemoOptions options, Action<DemoProgress>? progress = null, CancellationToken cancel = default)
    {
        var o = options.Validate();
        var sw = Stopwatch.StartNew();
        var counters = new Dictionary<string, (long Done, long Total)>
        {
            [StageSeed] = (0, 1),
            [StageCells] = (0, (long)o.Cells.Length * o.CellsSteps),
            [StageClip] = (0, 2L * o.ClipSteps),
            [StageCompare] = (0, (long)o.CompareModels.Length * o.CompareLengths.Length * o.CompareSteps),
        };
        var gate = new object();
        void Report(string stage, long add)
        {
            DemoProgress p;
            lock (gate)
            {
                var (d, t) = counters[stage];
                d = Math.Min(t, d + add);
                counters[stage] = (d, t);
                p = new DemoProgress(stage, d, t);
            }
            progress?.Invoke(p);
        }
        foreach (var (stage, (_, total)) in counters.ToList()) progress?.Invoke(new DemoProgress(stage, 0, total));

        var seed = RunSeed(o);
        Report(StageSeed, 1);

        // every training run is one job; the longest first so the threads finish together
        var cellRuns = new CellRun?[o.Cells.Length];
        ClipSection? clip = null;
        TrainTrace? clipWithout = null, clipWith = null;
        double mseWithout = double.NaN, mseWith = double.NaN, sigmaInit = double.NaN;
        var compare = new RunResult?[o.CompareModels.Length * o.CompareLengths.Length];
        var jobs = new List<(double Cost, Action Work)>();
        for (int i = 0; i < o.Cells.Length; i++)
        {
            int c = i;
            jobs.Add((Cost(o.Cells[c], o.CellsLength, o.CellsSteps), () => cellRuns[c] = RunCell(o, o.Cells[c], n => Report(StageCells, n), cancel)));
        }
        foreach (bool clipOn in new[] { false, true })
        {
            bool on = clipOn;
            jobs.Add((Cost("rnn", o.ClipLength, o.ClipSteps), () =>
            {
                var (trace, mse, sigma) = RunClip(o, on, n => Report(StageClip, n), cancel);
                lock (gate) { if (on) { clipWith = trace; mseWith = mse; } else { clipWithout = trace; mseWithout = mse; } sigmaInit = sigma; }
            }));
        }
        for (int m = 0; m < o.CompareModels.Length; m++)
            for (int l = 0; l < o.CompareLengths.Length; l++)
            {
                int slot = m * o.CompareLengths.Length + l;
                var config = CompareConfig(o, o.CompareModels[m], o.CompareLengths[l]);
                jobs.Add((Cost(config.Model, config.Length, config.Steps), () =>
                {
                    int last = 0;
                    compare[slot] = LongRangeRunner.Run(config, p => { Report(StageCompare, p.Step - last); last = p.Step; }, cancel);
                    Report(StageCompare, config.Steps - last);   // early stop or divergence: the rest counts as done
                }));
            }
        var ordered = jobs.OrderByDescending(j => j.Cost).Select(j => j.Work).ToList();
        Parallel.ForEach(ordered, new ParallelOptions { MaxDegreeOfParallelism = o.Threads, CancellationToken = cancel }, work => work());
        cancel.ThrowIfCancellationRequested();

        clip = new ClipSection(o.ClipLength, o.ClipWhScale, sigmaInit, o.ClipMaxNorm, o.ClipLearningRate, clipWithout!, clipWith!, mseWithout, mseWith);
        var cells = new CellsSection(o.CellsLength, o.CellsSteps, new AddingProblem(o.CellsLength).BaselineLoss, cellRuns.Select(r => r!).ToList());
        return new DemoResult(o, seed, cells, new RemediesSection(clip, compare.Select(r => r!).ToList()), sw.Elapsed.TotalSeconds);
    }

    /// <summary>Section a, exactly as <c>unroll gradient-flow --seed S</c> with its defaults computes it.</summary>
    public static SeedSection RunSeed(DemoOptions o)
    {
        var master = new Rng((ulong)o.Seed);
        var baseWh = LayerExperiment.InitialWh(CellType.Rnn, WeightInit.Gaussian, o.SeedH, master);
        ulong layerSeed = master.NextUInt64();
        var whOnly = o.SeedScales.Select(sc => SeedExperiment.Run(SeedExperiment.Scaled(baseWh, sc), o.SeedN, o.SeedT, sc, $"scale={Fmt.G3(sc)}")).ToList();
        var tanh = o.SeedScales.Select(sc => LayerExperiment.Run(CellType.Rnn, SeedExperiment.Scaled(baseWh, sc), o.SeedN, o.SeedT, sc,
                                                                 $"tanh rnn scale={Fmt.G3(sc)}", new Rng(layerSeed))).ToList();
        return new SeedSection(whOnly, tanh);
    }

    /// <summary>The long-range runner's configuration for one compare run.</summary>
    public static RunConfig CompareConfig(DemoOptions o, string model, int length) => new()
    {
        Task = "adding", Length = length, Model = model, Seed = o.Seed, Steps = o.CompareSteps, Batch = o.Batch,
        Hidden = o.Hidden, LearningRate = o.CompareLearningRate, Optimizer = "adam", Clip = 1.0,
        EvalEvery = Math.Max(1, o.CompareSteps / 5), HeldOut = o.HeldOut,
    };

    /// <summary>Trains one cell on the adding problem, recording the gradient flow before and after.</summary>
    public static CellRun RunCell(DemoOptions o, string cell, Action<int>? onSteps = null, CancellationToken cancel = default)
    {
        var task = new AddingProblem(o.CellsLength);
        var model = new SequenceModel<float>(task, ModelSpec.Parse(cell), o.Hidden, new Rng(StreamSeed(o.Seed, "cells-init-" + cell)));
        var heldOut = HeldOut(task, o);
        var recorder = new GradientFlowRecorder<float>();
        var (initRec, initSum) = Probe(model, heldOut[0], recorder);
        double initMse = LongRangeRunner.Evaluate(model, task, heldOut).Metric;
        var opt = Optimizers.Create<float>("adam", o.CellsLearningRate);
        var trace = Train(model, task, o.CellsSteps, o.Batch, opt, clip: 1.0, new Rng(StreamSeed(o.Seed, "cells-data")), onSteps, cancel);
        var (endRec, endSum) = Probe(model, heldOut[0], recorder);
        double finalMse = trace.Diverged ? double.NaN : LongRangeRunner.Evaluate(model, task, heldOut).Metric;
        return new CellRun(cell, initRec, initSum, initMse, endRec, endSum, finalMse, trace);
    }

    /// <summary>One clipping run: the tanh RNN with W_h × <see cref="DemoOptions.ClipWhScale"/>, SGD, clipping on or off.
    /// Both runs start from the same weights and see the same batches.</summary>
    public static (TrainTrace Trace, double FinalMse, double SigmaMaxInit) RunClip(DemoOptions o, bool clipOn, Action<int>? onSteps = null, CancellationToken cancel = default)
    {
        var task = new AddingProblem(o.ClipLength);
        var model = new SequenceModel<float>(task, ModelSpec.Parse("rnn"), o.Hidden, new Rng(StreamSeed(o.Seed, "clip-init")));
        var wh = model.Layer.Wh.Value.Span;
        for (int i = 0; i < wh.Length; i++) wh[i] *= (float)o.ClipWhScale;
        double sigma = WhSpectrum.Of(model.Layer.Wh.Value).SigmaMax;
        var opt = Optimizers.Create<float>("sgd", o.ClipLearningRate);
        var trace = Train(model, task, o.ClipSteps, o.Batch, opt, clipOn ? o.ClipMaxNorm : 0, new Rng(StreamSeed(o.Seed, "clip-data")), onSteps, cancel);
        double mse = trace.Diverged ? double.NaN : LongRangeRunner.Evaluate(model, task, HeldOut(task, o)).Metric;
        return (trace, mse, sigma);
    }

    /// <summary>
    /// The plain training loop of the demo, recording every iteration: sample a batch, forward, backward, global
    /// gradient norm (clipped to <paramref name="clip"/> when &gt; 0), optimizer step. Stops when the loss or the
    /// norm becomes non-finite.
    /// </summary>
    public static TrainTrace Train(SequenceModel<float> model, SequenceTask task, int steps, int batchSize, IOptimizer<float> opt, double clip,
                                   Rng dataRng, Action<int>? onSteps = null, CancellationToken cancel = default)
    {
        var ps = model.DistinctParameters();
        var batch = task.Sample<float>(dataRng, batchSize);
        var loss = new List<double>(steps); var norm = new List<double>(steps); var clipped = new List<bool>(steps);
        bool diverged = false;
        int reported = 0, every = Math.Max(1, steps / 50);
        for (int s = 0; s < steps; s++)
        {
            cancel.ThrowIfCancellationRequested();
            if (s > 0) task.Fill(dataRng, batch);
            model.ZeroGrad();
            double l = double.CreateTruncating(model.Loss(batch));
            model.Backward();
            double g = GradClip.GlobalNorm(ps);
            loss.Add(l); norm.Add(g); clipped.Add(clip > 0 && double.IsFinite(g) && g > clip);
            if (!double.IsFinite(l) || !double.IsFinite(g)) { diverged = true; break; }
            opt.Step(ps, GradClip.ClipCoefficient(g, clip));                // clipping folded into the update
            if ((s + 1) % every == 0) { onSteps?.Invoke(s + 1 - reported); reported = s + 1; }
        }
        onSteps?.Invoke(steps - reported);
        model.ZeroGrad();
        return new TrainTrace([.. loss], [.. norm], [.. clipped], diverged);
    }

    /// <summary>Back-propagates only the last step's loss of <paramref name="probe"/> and records the layer's gradient flow.</summary>
    public static (GradientFlowRecord Record, GradientFlowSummary Summary) Probe(SequenceModel<float> model, TaskBatch<float> probe, GradientFlowRecorder<float> recorder)
    {
        model.ZeroGrad();
        model.Loss(probe);
        model.Backward(lastStepOnly: true);
        var rec = recorder.Record(model.Layer);
        var summary = rec.Summarize(WhSpectrum.Of(model.Layer.Wh.Value).SigmaMax);
        model.ZeroGrad();
        return (rec, summary);
    }

    private static List<TaskBatch<float>> HeldOut(SequenceTask task, DemoOptions o)
    {
        int chunks = (o.HeldOut + o.Batch - 1) / o.Batch;
        return Enumerable.Range(0, chunks).Select(k => task.HeldOut<float>(o.Batch, (ulong)o.Seed * 1_000_003UL + (ulong)k)).ToList();
    }

    /// <summary>Relative cost of a run (length × steps × cell weight), to start the longest first.</summary>
    private static double Cost(string model, int length, int steps) =>
        (double)length * steps * (model.StartsWith("lstm", StringComparison.Ordinal) ? 4 : model == "gru" ? 3 : 1);

    /// <summary>FNV-1a of (seed, name): independent, reproducible streams.</summary>
    public static ulong StreamSeed(int seed, string name)
    {
        ulong h = 14695981039346656037UL;
        foreach (var b in System.Text.Encoding.UTF8.GetBytes($"{seed}|{name}")) { h ^= b; h *= 1099511628211UL; }
        return h;
    }
}
