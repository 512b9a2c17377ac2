using System.Diagnostics;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Unroll.Data;
using Unroll.IO;
using Unroll.Models;
using Unroll.Optim;
using Unroll.Tensors;

namespace Unroll.Training;

/// <summary>Settings of a truncated-BPTT run (the textbook's RnnlmTrainer plus what a long run needs).</summary>
public sealed record TrainOptions
{
    /// <summary>N, parallel streams.</summary>
    public int Batch { get; init; } = 20;
    /// <summary>T, time steps per truncated-BPTT window.</summary>
    public int Bptt { get; init; } = 35;
    public int Epochs { get; init; } = 4;
    /// <summary>Stop after this many updates in total (0 = no limit); whichever of this and <see cref="Epochs"/> ends first.</summary>
    public long MaxSteps { get; init; }
    /// <summary>Max global gradient norm (0 = no clipping).</summary>
    public double Clip { get; init; } = 0.25;
    /// <summary>Streams and window length for evaluation (textbook eval_perplexity: batch 10, T 35).</summary>
    public int EvalBatch { get; init; } = 10;
    public int EvalBptt { get; init; } = 35;
    /// <summary>Also evaluate every this many updates (0 = only at epoch ends and at the end).</summary>
    public long EvalEvery { get; init; }
    /// <summary>K: stop after this many consecutive skipped (non-finite) updates.</summary>
    public int MaxBadSteps { get; init; } = 5;
    /// <summary>Report bits per character (character models).</summary>
    public bool BitsPerChar { get; init; }
    /// <summary>Write <c>best.safetensors</c> whenever validation improves (the textbook keeps the best model).</summary>
    public bool KeepBest { get; init; } = true;
    /// <summary>Also write the checkpoint every this many updates (0 = at epoch ends and at the end only).</summary>
    public long CheckpointEvery { get; init; }
    /// <summary>Directory for checkpoint.safetensors, best.safetensors (null = write nothing).</summary>
    public string? OutDir { get; init; }

    public void Validate()
    {
        if (Batch < 1 || Bptt < 1 || EvalBatch < 1 || EvalBptt < 1) throw new ArgumentException("--batch, --bptt and the evaluation sizes must be ≥ 1.");
        if (Epochs < 1) throw new ArgumentException($"--epochs must be ≥ 1, got {Epochs}.");
        if (MaxSteps < 0) throw new ArgumentException($"--max-steps must be ≥ 0, got {MaxSteps}.");
        if (!(Clip >= 0) || double.IsInfinity(Clip)) throw new ArgumentException($"--clip must be ≥ 0 (0 disables), got {Clip}.");
        if (MaxBadSteps < 1) throw new ArgumentException($"--max-bad-steps must be ≥ 1, got {MaxBadSteps}.");
    }
}

/// <summary>One update (or skipped update).</summary>
public sealed record StepReport(long Step, int Epoch, int Iteration, int IterationsPerEpoch, double Loss, double GradNorm, bool Clipped,
                                bool Skipped, double TokensPerSecond, double LearningRate, double ElapsedSeconds, int Tokens);

/// <summary>One evaluation: mean cross-entropy (nats), perplexity, bits per character when asked.</summary>
public sealed record EvalReport(long Step, int Epoch, string Split, double Loss, double Perplexity, double? BitsPerChar, bool Improved);

/// <summary>Receives progress (the CLI shows it as a progress bar or plain lines).</summary>
public interface ITrainingObserver
{
    void OnStep(StepReport r);
    void OnEval(EvalReport r);
    void OnMessage(string message);
}

/// <summary>Training stopped because of K consecutive non-finite losses or gradients.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

public enum StopReason { Completed, MaxSteps, Interrupted }

public sealed record TrainResult(StopReason Reason, long Steps, int Epoch, double LastLoss, EvalReport? LastEval, double BestValid,
                                 long SkippedSteps, string? CheckpointPath);

/// <summary>
/// Truncated-BPTT training of an <see cref="ILanguageModel{T}"/> as the textbook's RnnlmTrainer: N streams at
/// offsets i·⌊L/N⌋ (<see cref="BpttBatcher"/>), T steps per update, the recurrent state carried from one update to
/// the next and reset at every epoch start and around every evaluation (training state is saved and restored around
/// an evaluation, so evaluating does not change the training trajectory).
/// <para>Each update: forward (mean loss over N·T), backward, clip by global norm (pre-clip norm reported), optimizer
/// step. A non-finite loss or gradient norm skips the update: parameters and carried state stay at their last good
/// values, the event is reported and counted, and after <see cref="TrainOptions.MaxBadSteps"/> consecutive ones
/// training stops with <see cref="TrainingDivergedException"/> (the last checkpoint on disk is untouched).</para>
/// <para>Checkpoints hold everything the next update depends on (weights, optimizer slots and step count, schedule
/// state, carried state, the model's dropout Rng, position in the epoch), so <see cref="Resume"/> continues the same
/// trajectory bit for bit.</para>
/// </summary>
public sealed class Trainer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static readonly string[] MetricColumns =
        ["step", "epoch", "loss", "ppl", "lr", "tokens_per_s", "grad_norm", "clipped", "skipped",
         "valid_loss", "valid_ppl", "valid_bpc", "test_loss", "test_ppl", "test_bpc", "elapsed_s"];

    private readonly ILanguageModel<T> _model;
    private readonly Optimizer<T> _opt;
    private readonly LrSchedule _schedule;
    private readonly TrainOptions _o;
    private readonly int[] _train;
    private readonly int[]? _valid;
    private readonly CheckpointMeta _baseMeta;
    private readonly ITrainingObserver? _obs;
    private readonly MetricsLog? _log;
    private readonly List<Parameter<T>> _ps;
    private readonly Stopwatch _clock = new();
    private double _elapsedBefore;

    /// <summary>A trainer for <paramref name="model"/> on the <paramref name="train"/> ids, validating on <paramref name="valid"/>
    /// (may be null) with <paramref name="optimizer"/>, <paramref name="schedule"/> and <paramref name="options"/>;
    /// <paramref name="baseMeta"/> gives the vocabulary (and its kind) stored in checkpoints; progress goes to
    /// <paramref name="observer"/> and metric rows to <paramref name="log"/> (both optional).</summary>
    public Trainer(ILanguageModel<T> model, Optimizer<T> optimizer, LrSchedule schedule, TrainOptions options,
                   int[] train, int[]? valid, CheckpointMeta baseMeta, ITrainingObserver? observer = null, MetricsLog? log = null)
    {
        options.Validate();
        _model = model; _opt = optimizer; _schedule = schedule; _o = options;
        _train = train; _valid = valid; _baseMeta = baseMeta; _obs = observer; _log = log;
        _ps = model.DistinctParameters();
        TrainBatcher = new BpttBatcher(train, options.Batch, options.Bptt, "training split");
        if (valid is not null && valid.Length < 2) throw new ArgumentException($"The validation split has {valid.Length} tokens; at least 2 are needed.");
    }

    public BpttBatcher TrainBatcher { get; }
    /// <summary>Updates attempted so far.</summary>
    public long Step { get; private set; }
    public int Epoch { get; private set; }
    public int Iteration { get; private set; }
    public double BestValid { get; private set; } = double.PositiveInfinity;
    public long SkippedSteps { get; private set; }
    /// <summary>Updates of this process whose pre-clip global norm exceeded the clip threshold (clipping fired).</summary>
    public long ClippedSteps { get; private set; }
    /// <summary>The training loss of every update of this process, in order (NaN where skipped because of the loss).</summary>
    public List<double> Losses { get; } = [];
    /// <summary>Called after every backward pass, before clipping (gradient instruments; tests inject faults here).</summary>
    public Action<long, IReadOnlyList<Parameter<T>>>? AfterBackward { get; set; }

    public string? CheckpointPath => _o.OutDir is null ? null : Path.Combine(_o.OutDir, "checkpoint.safetensors");
    public string? BestPath => _o.OutDir is null ? null : Path.Combine(_o.OutDir, "best.safetensors");

    /// <summary>Continues from a checkpoint written by a run with the same model configuration and data.</summary>
    public void Resume(LoadedCheckpoint ck)
    {
        var m = ck.Meta;
        if (!LanguageModelConfig.FromJson(m.Config).Equals(_model.Config))
            throw new InvalidDataException($"{ck.Path}: the checkpoint's model configuration differs from this run's.");
        if (m.Vocab.Length != _baseMeta.Vocab.Length || !m.Vocab.SequenceEqual(_baseMeta.Vocab, StringComparer.Ordinal) || m.VocabKind != _baseMeta.VocabKind)
            throw new InvalidDataException($"{ck.Path}: the data's vocabulary ({_baseMeta.Vocab.Length} {_baseMeta.VocabKind} tokens) does not match the checkpoint's ({m.Vocab.Length} {m.VocabKind} tokens).");
        if (m.ScheduleKind != _schedule.Kind)
            throw new InvalidDataException($"{ck.Path}: the checkpoint used the '{m.ScheduleKind}' schedule, this run '{_schedule.Kind}'.");
        ck.LoadParameters(_ps);
        _opt.ImportState(ck.OptimizerState<T>(), _ps);
        _schedule.Restore(m.ScheduleState);
        if (m.ModelRng is { } r) _model.Rng.SetState(r);
        LanguageModels.SetStateTensors(_model, ck.State<T>);
        Step = m.Step; Epoch = m.Epoch; Iteration = m.Iteration;
        BestValid = m.BestValid; SkippedSteps = m.SkippedSteps;
        if (m.Training.TryGetPropertyValue("elapsed_s", out var e) && e is not null) _elapsedBefore = (double)e;
        _obs?.OnMessage($"resumed from {ck.Path} at step {Step} (epoch {Epoch + 1}, iteration {Iteration})");
    }

    /// <summary>Trains until the epochs or <see cref="TrainOptions.MaxSteps"/> are done, or <paramref name="ct"/> is cancelled (then a checkpoint is saved).</summary>
    public TrainResult Run(CancellationToken ct = default)
    {
        int n = _o.Batch, t = _o.Bptt, iters = TrainBatcher.IterationsPerEpoch;
        var xs = new int[n * t]; var ts = new int[n * t];
        int consecutiveBad = 0;
        double lastLoss = double.NaN;
        EvalReport? lastEval = null;
        _clock.Start();
        _model.Training = true;
        while (Epoch < _o.Epochs)
        {
            if (Iteration == 0) _model.ResetState();                              // epoch boundary
            while (Iteration < iters)
            {
                if (_o.MaxSteps > 0 && Step >= _o.MaxSteps) return Stop(StopReason.MaxSteps, lastLoss, lastEval);
                if (ct.IsCancellationRequested) return Stop(StopReason.Interrupted, lastLoss, lastEval);
                var r = DoStep(xs, ts, n, t, iters);
                if (r.Skipped)
                {
                    consecutiveBad++;
                    _obs?.OnMessage($"step {r.Step}: non-finite {(double.IsFinite(r.Loss) ? "gradient" : "loss")} — update skipped ({SkippedSteps} skipped so far)");
                    if (consecutiveBad >= _o.MaxBadSteps)
                        throw new TrainingDivergedException($"Training stopped: {consecutiveBad} consecutive updates had a non-finite loss or gradient (steps {r.Step - consecutiveBad + 1}–{r.Step}); "
                            + (CheckpointPath is not null && File.Exists(CheckpointPath) ? $"the last good checkpoint {CheckpointPath} is intact." : "no checkpoint was written.")
                            + " Try a smaller --lr or --clip.");
                }
                else { consecutiveBad = 0; lastLoss = r.Loss; }
                if (_o.CheckpointEvery > 0 && Step % _o.CheckpointEvery == 0) SaveCheckpoint(CheckpointPath);
                if (_o.EvalEvery > 0 && Step % _o.EvalEvery == 0 && Iteration < iters && _valid is not null)
                    lastEval = Evaluate(_valid, "valid", affectsSchedule: false);
            }
            // epoch end: validate, adjust the learning rate, keep the best, start the next epoch from a fresh state
            if (_valid is not null)
            {
                lastEval = Evaluate(_valid, "valid", affectsSchedule: true);
                if (lastEval.Improved && _o.KeepBest) SaveCheckpoint(BestPath);
            }
            Epoch++; Iteration = 0;
            _model.ResetState();
            SaveCheckpoint(CheckpointPath);
        }
        return new TrainResult(StopReason.Completed, Step, Epoch, lastLoss, lastEval, BestValid, SkippedSteps, CheckpointPath);
    }

    private TrainResult Stop(StopReason why, double lastLoss, EvalReport? lastEval)
    {
        SaveCheckpoint(CheckpointPath);
        if (why == StopReason.MaxSteps && Iteration > 0 && _valid is not null)
            lastEval = Evaluate(_valid, "valid", affectsSchedule: false);         // report only: a resume must not see a changed schedule
        return new TrainResult(why, Step, Epoch, lastLoss, lastEval, BestValid, SkippedSteps, CheckpointPath);
    }

    private StepReport DoStep(int[] xs, int[] ts, int n, int t, int iters)
    {
        TrainBatcher.Fill(Iteration, xs, ts);
        _opt.LearningRate = _schedule.AtStep(Step, Epoch, _opt.LearningRate);
        var saved = LanguageModels.SaveState(_model);
        long t0 = Stopwatch.GetTimestamp();
        _model.ZeroGrad();
        double loss = double.CreateTruncating(_model.Forward(xs, ts, n, t));
        double norm = double.NaN;
        bool clipped = false, bad = !double.IsFinite(loss);
        if (!bad)
        {
            _model.Backward();
            AfterBackward?.Invoke(Step, _ps);
            // = GradClip.ClipGlobalNorm then Step, bit for bit (the gradients end up clipped as before), but the
            // scaling is done inside the optimizer's pass over the parameters instead of a pass of its own
            norm = GradClip.GlobalNorm(_ps);
            if (!double.IsFinite(norm)) bad = true;
            else { clipped = _o.Clip > 0 && norm > _o.Clip; if (clipped) ClippedSteps++; _opt.Step(_ps, GradClip.ClipCoefficient(norm, _o.Clip)); }
        }
        if (bad) { LanguageModels.RestoreState(_model, saved); SkippedSteps++; }
        double secs = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        Losses.Add(loss);
        var r = new StepReport(Step, Epoch, Iteration, iters, loss, norm, clipped, bad, n * t / Math.Max(secs, 1e-9), _opt.LearningRate, Elapsed, n * t);
        Step++; Iteration++;
        _log?.Write(new Dictionary<string, object?>
        {
            ["step"] = r.Step, ["epoch"] = r.Epoch, ["loss"] = r.Loss, ["ppl"] = Math.Exp(r.Loss), ["lr"] = r.LearningRate,
            ["tokens_per_s"] = Math.Round(r.TokensPerSecond, 1), ["grad_norm"] = r.GradNorm, ["clipped"] = r.Clipped, ["skipped"] = r.Skipped,
            ["elapsed_s"] = Math.Round(r.ElapsedSeconds, 3),
        });
        _obs?.OnStep(r);
        return r;
    }

    private double Elapsed => _elapsedBefore + _clock.Elapsed.TotalSeconds;

    /// <summary>
    /// Mean loss (nats/token) over a split, state carried through it (reset before and after): the textbook's
    /// eval_perplexity — EvalBatch streams of ⌊(L−1)/EvalBatch⌋ tokens in windows of EvalBptt, the ⌊…/EvalBptt⌋ full
    /// windows of each stream (so up to EvalBatch·EvalBptt − 1 trailing tokens are not scored).
    /// </summary>
    public double MeanLoss(int[] split, string what)
    {
        // a split shorter than EvalBatch × EvalBptt is evaluated with fewer streams (then shorter windows), never refused
        int bptt = Math.Min(_o.EvalBptt, split.Length - 1);
        int batch = Math.Clamp((split.Length - 1) / Math.Max(bptt, 1), 1, _o.EvalBatch);
        if (bptt < 1) throw new ArgumentException($"The {what} has {split.Length} tokens; at least 2 are needed to evaluate.");
        var b = new BpttBatcher(split, batch, bptt, what);
        var saved = LanguageModels.SaveState(_model);
        bool wasTraining = _model.Training;
        _model.Training = false;
        _model.ResetState();
        var xs = new int[b.TokensPerIteration]; var ts = new int[b.TokensPerIteration];
        double sum = 0;
        for (int k = 0; k < b.IterationsPerEpoch; k++)
        {
            b.Fill(k, xs, ts);
            sum += double.CreateTruncating(_model.Forward(xs, ts, b.Batch, b.Bptt, withGrad: false));
        }
        _model.ResetState();
        LanguageModels.RestoreState(_model, saved);
        _model.Training = wasTraining;
        return sum / b.IterationsPerEpoch;
    }

    /// <summary>Evaluates a split (perplexity, bits/char), reports it and writes a metrics row; validation may drive the schedule.</summary>
    public EvalReport Evaluate(int[] split, string name, bool affectsSchedule = false)
    {
        double loss = MeanLoss(split, name == "valid" ? "validation split" : $"{name} split");
        bool improved = false;
        if (affectsSchedule)
        {
            improved = loss < BestValid;
            if (improved) BestValid = loss;
            double before = _opt.LearningRate;
            _opt.LearningRate = _schedule.AtEvaluation(Math.Exp(loss), _opt.LearningRate);
            if (_opt.LearningRate != before) _obs?.OnMessage($"learning rate {before:G4} → {_opt.LearningRate:G4} (validation did not improve)");
        }
        double? bpc = _o.BitsPerChar ? loss / Math.Log(2) : null;
        var r = new EvalReport(Step, Epoch, name, loss, Math.Exp(loss), bpc, improved);
        _log?.Write(new Dictionary<string, object?>
        {
            ["step"] = Step, ["epoch"] = Epoch, [$"{name}_loss"] = loss, [$"{name}_ppl"] = r.Perplexity, [$"{name}_bpc"] = bpc,
            ["lr"] = _opt.LearningRate, ["elapsed_s"] = Math.Round(Elapsed, 3),
        });
        _obs?.OnEval(r);
        return r;
    }

    /// <summary>The checkpoint metadata for the current position.</summary>
    public CheckpointMeta BuildMeta() => new()
    {
        Config = _model.Config.ToJson(),
        VocabKind = _baseMeta.VocabKind,
        Vocab = _baseMeta.Vocab,
        Step = Step, Epoch = Epoch, Iteration = Iteration,
        ModelRng = _model.Rng.GetState(),
        ScheduleKind = _schedule.Kind,
        ScheduleState = _schedule.State,
        Training = TrainingJson(),
        BestValid = BestValid,
        SkippedSteps = SkippedSteps,
    };

    private JsonObject TrainingJson()
    {
        var o = (JsonObject)JsonSerializer.SerializeToNode(_o with { OutDir = null })!;
        o.Remove("OutDir");
        o["elapsed_s"] = Elapsed;
        return o;
    }

    /// <summary>Writes a checkpoint of the current position to <paramref name="path"/> (atomically; null = nowhere).</summary>
    public void SaveCheckpoint(string? path)
    {
        if (path is null) return;
        Checkpoint.Save(path, BuildMeta(), _ps, _opt.ExportState(_ps), LanguageModels.StateTensors(_model));
    }
}
