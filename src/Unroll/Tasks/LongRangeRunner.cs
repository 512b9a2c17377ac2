using System.Diagnostics;
using MathNet.Numerics.LinearAlgebra;
using Unroll.Optim;
using Unroll.Tensors;

namespace Unroll.Tasks;

/// <summary>
/// Trains one <see cref="SequenceModel{T}"/> (float) on one long-range task as a <see cref="RunConfig"/> says, evaluating
/// on a fixed held-out set, and measures the gradient flow through time at initialisation and at the end.
/// </summary>
/// <remarks>
/// Randomness: the training batches come from a stream seeded by (task, T, seed, hidden) — the same batches for every
/// model of the same seed — and the initial weights from a stream seeded by (task, T, seed, model, hidden). The
/// held-out set is <see cref="SequenceTask.HeldOut{T}"/> of <see cref="RunConfig.HeldOutSeed"/>. So a run is a pure
/// function of its configuration (on one machine and GEMM backend).
/// </remarks>
public static class LongRangeRunner
{
    /// <summary>Runs <paramref name="config"/>. <paramref name="onEval"/> (optional) sees every curve point as it is made.</summary>
    public static RunResult Run(RunConfig config, Action<CurvePoint>? onEval = null, CancellationToken cancel = default)
    {
        config.Validate();
        var sw = Stopwatch.StartNew();
        var task = SequenceTask.Create(config.Task, config.Length);
        var spec = ModelSpec.Parse(config.Model);
        var model = new SequenceModel<float>(task, spec, config.Hidden, new Rng(config.StreamSeed("init", perModel: true)));
        var ps = model.DistinctParameters();
        var opt = Optimizers.Create<float>(config.Optimizer, config.LearningRate);
        var dataRng = new Rng(config.StreamSeed("data", perModel: false));
        var batch = task.Sample<float>(dataRng, config.Batch);
        int chunks = (config.HeldOut + config.Batch - 1) / config.Batch;
        var heldOut = Enumerable.Range(0, chunks)
            .Select(k => task.HeldOut<float>(config.Batch, (ulong)config.HeldOutSeed * 1_000_003UL + (ulong)k)).ToList();
        double threshold = config.SolveThreshold ?? task.DefaultSolveThreshold;
        bool lowerIsBetter = task.SolvedMetric == "mse";
        bool Meets(double m) => lowerIsBetter ? m <= threshold : m >= threshold;

        var flowInit = MeasureFlow(model, heldOut[0]);
        var curve = new List<CurvePoint>();
        int? firstSolved = null;
        bool diverged = false;
        double lossSum = 0, normSum = 0; int since = 0, step = 0;
        (double loss, double metric) last = Evaluate(model, task, heldOut);
        while (step < config.Steps)
        {
            cancel.ThrowIfCancellationRequested();
            task.Fill(dataRng, batch);
            model.ZeroGrad();
            double loss = double.CreateTruncating(model.Loss(batch));
            model.Backward();
            double norm = GradClip.GlobalNorm(ps);
            step++;
            if (!double.IsFinite(loss) || !double.IsFinite(norm)) { diverged = true; break; }
            opt.Step(ps, GradClip.ClipCoefficient(norm, config.Clip));     // clipping folded into the update
            lossSum += loss; normSum += norm; since++;
            if (step % config.EvalEvery == 0 || step == config.Steps)
            {
                last = Evaluate(model, task, heldOut);
                var p = new CurvePoint(step, lossSum / since, last.loss, last.metric, normSum / since);
                curve.Add(p);
                onEval?.Invoke(p);
                lossSum = normSum = 0; since = 0;
                if (firstSolved is null && Meets(last.metric)) firstSolved = step;
                if (config.EarlyStop && firstSolved is not null) break;
            }
        }
        if (diverged) last = (double.NaN, lowerIsBetter ? double.NaN : 0);
        var flowEnd = diverged ? new FlowSummary(double.NaN, SigmaMax(model), "non-finite", []) : MeasureFlow(model, heldOut[0]);
        model.ZeroGrad();
        return new RunResult
        {
            Config = config,
            Metric = task.SolvedMetric,
            Threshold = threshold,
            BaselineLoss = task.BaselineLoss,
            FinalLoss = last.loss,
            FinalMetric = last.metric,
            Solved = !diverged && Meets(last.metric),
            FirstSolvedStep = firstSolved,
            StepsDone = step,
            Diverged = diverged,
            FlowInit = flowInit,
            FlowEnd = flowEnd,
            Curve = curve,
            Seconds = sw.Elapsed.TotalSeconds,
        };
    }

    /// <summary>
    /// Held-out loss and metric: adding — MSE (both); copy — mean cross-entropy over all steps and the fraction of
    /// recalled symbols (last 10 steps) predicted right; temporal order — cross-entropy and accuracy at the last step.
    /// </summary>
    public static (double Loss, double Metric) Evaluate(SequenceModel<float> model, SequenceTask task, IReadOnlyList<TaskBatch<float>> heldOut)
    {
        double lossSum = 0; long right = 0, scored = 0;
        foreach (var b in heldOut)
        {
            lossSum += double.CreateTruncating(model.Loss(b));
            if (task.Target == TargetKind.RegressionLast) continue;
            var outs = model.Output;                          // (N·Steps, V) or (N, V)
            int v = outs.Dim(1);
            for (int i = 0; i < b.N; i++)
                for (int t = task.RecallFrom; t < b.Steps; t++)
                {
                    int row = task.Target == TargetKind.ClassesEveryStep ? i * b.Steps + t : i;
                    var logits = outs.Row(row);
                    int arg = 0;
                    for (int c = 1; c < v; c++) if (logits[c] > logits[arg]) arg = c;
                    scored++;
                    if (arg == b.Labels![i * b.Steps + t]) right++;
                }
        }
        double loss = lossSum / heldOut.Count;
        return task.Target == TargetKind.RegressionLast ? (loss, loss) : (loss, (double)right / scored);
    }

    /// <summary>
    /// Back-propagates only the last step's loss gradient of <paramref name="probe"/> and summarises ‖∂L/∂h_t‖ per
    /// step (parameter gradients are cleared afterwards).
    /// </summary>
    public static FlowSummary MeasureFlow(SequenceModel<float> model, TaskBatch<float> probe)
    {
        model.ZeroGrad();
        model.Loss(probe);
        model.Backward(lastStepOnly: true);
        var g = model.Layer.StepGradH;                        // (N, T, H)
        int n = g.Dim(0), steps = g.Dim(1), h = g.Dim(2);
        var norms = new double[steps];
        for (int i = 0; i < n; i++)
        {
            var row = g.Row(i);
            for (int t = 0; t < steps; t++)
            {
                var s = row.Slice(t * h, h);
                double acc = 0;
                foreach (var x in s) acc += (double)x * x;
                norms[t] += acc;
            }
        }
        for (int t = 0; t < steps; t++) norms[t] = Math.Sqrt(norms[t]);
        model.ZeroGrad();
        double gain = norms[^1] > 0 ? norms[0] / norms[^1] : double.NaN;
        var (verdict, evidence) = FlowSummary.Judge(norms);
        return new FlowSummary(gain, SigmaMax(model), verdict, norms, evidence);
    }

    /// <summary>σ_max of W_h (H × kH) by MathNet's SVD.</summary>
    public static double SigmaMax(SequenceModel<float> model)
    {
        var wh = model.Layer.Wh.Value;
        int r = wh.Dim(0), c = wh.Dim(1);
        var m = Matrix<double>.Build.Dense(r, c, (i, j) => wh[i, j]);
        foreach (var x in wh.Span) if (!float.IsFinite(x)) return double.NaN;
        return m.Svd(computeVectors: false).S[0];
    }
}
