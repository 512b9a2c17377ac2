using System.Text;

namespace Unroll.Tasks;

/// <summary>
/// A recurrent model of the long-range suite, by name:
/// <list type="bullet">
/// <item><c>rnn</c> — tanh RNN, Xavier-initialised Wx and Wh, zero bias.</item>
/// <item><c>ornn</c> — tanh RNN with an orthogonal Wh (Saxe et al. 2014), Xavier Wx.</item>
/// <item><c>irnn</c> — ReLU RNN with Wh = I and zero bias (Le, Jaitly &amp; Hinton 2015), Wx ~ N(0, 0.001²) as in the paper.</item>
/// <item><c>lstm</c> — LSTM with forget-gate bias 1 (Gers et al. 2000; Jozefowicz et al. 2015), Xavier weights.</item>
/// <item><c>lstm-fb0</c> — the same LSTM with forget-gate bias 0.</item>
/// <item><c>gru</c> — GRU (PyTorch form), Xavier weights, zero biases.</item>
/// </list>
/// </summary>
public sealed record ModelSpec(string Name, string Description)
{
    /// <summary>All model names, in the order they are documented.</summary>
    public static readonly string[] Names = ["rnn", "ornn", "irnn", "lstm", "lstm-fb0", "gru"];

    private static readonly Dictionary<string, string> Descriptions = new()
    {
        ["rnn"] = "tanh RNN, Xavier init",
        ["ornn"] = "tanh RNN, orthogonal W_h",
        ["irnn"] = "ReLU RNN, W_h = I (Le et al. 2015)",
        ["lstm"] = "LSTM, forget-gate bias 1",
        ["lstm-fb0"] = "LSTM, forget-gate bias 0",
        ["gru"] = "GRU",
    };

    /// <summary>Parses a model name (case-insensitive).</summary>
    /// <exception cref="ArgumentException">Unknown name; the message lists the known ones.</exception>
    public static ModelSpec Parse(string name)
    {
        var n = name.Trim().ToLowerInvariant();
        if (n == "lstm-nofb" || n == "lstm0") n = "lstm-fb0";
        if (!Descriptions.TryGetValue(n, out var d))
            throw new ArgumentException($"unknown model '{name}' (expected one of: {string.Join(", ", Names)}).");
        return new ModelSpec(n, d);
    }
}

/// <summary>
/// Everything that defines one training run of <see cref="LongRangeRunner"/>; the run is a pure function of it.
/// </summary>
public sealed record RunConfig
{
    /// <summary>Task name ("adding", "copy", "temporal-order").</summary>
    public required string Task { get; init; }
    /// <summary>The task's T.</summary>
    public required int Length { get; init; }
    /// <summary>Model name (see <see cref="ModelSpec.Names"/>).</summary>
    public required string Model { get; init; }
    /// <summary>The run's seed: model initialisation and the training batches derive from it.</summary>
    public required int Seed { get; init; }
    /// <summary>Seed of the fixed held-out set (shared by every run of a comparison).</summary>
    public int HeldOutSeed { get; init; } = 1;
    /// <summary>Training steps (parameter updates).</summary>
    public int Steps { get; init; } = 3000;
    /// <summary>Sequences per batch.</summary>
    public int Batch { get; init; } = 50;
    /// <summary>Hidden units H.</summary>
    public int Hidden { get; init; } = 64;
    /// <summary>Learning rate.</summary>
    public double LearningRate { get; init; } = 1e-3;
    /// <summary>Optimizer name (sgd, momentum, adagrad, rmsprop, adam).</summary>
    public string Optimizer { get; init; } = "adam";
    /// <summary>Global-norm gradient clipping threshold; 0 turns clipping off.</summary>
    public double Clip { get; init; } = 1.0;
    /// <summary>Evaluate on the held-out set every this many steps (and after the last).</summary>
    public int EvalEvery { get; init; } = 100;
    /// <summary>Held-out sequences (rounded up to a multiple of <see cref="Batch"/>).</summary>
    public int HeldOut { get; init; } = 500;
    /// <summary>Solved threshold; null = the task's default (adding MSE ≤ 0.01, otherwise accuracy ≥ 0.99).</summary>
    public double? SolveThreshold { get; init; }
    /// <summary>Stop training at the first evaluation that meets the threshold.</summary>
    public bool EarlyStop { get; init; }

    /// <summary>
    /// The fast preset (used by <c>unroll demo</c> and the <c>--quick</c> option of <c>unroll compare</c>): H = 32,
    /// batch 32, Adam at lr 0.01, clip 1, at most 1000 steps, evaluation every 50 steps on 256 held-out sequences,
    /// early stop at the first solved evaluation. On the adding problem at T = 50 and 100 an LSTM and a GRU solve it
    /// within a few hundred steps (seconds of CPU each) while the tanh RNN and the IRNN do not.
    /// </summary>
    public static RunConfig Quick(string task, int length, string model, int seed) => new()
    {
        Task = task, Length = length, Model = model, Seed = seed, HeldOutSeed = seed,
        Steps = 1000, Batch = 32, Hidden = 32, LearningRate = 0.01, Clip = 1.0, EvalEvery = 50, HeldOut = 256, EarlyStop = true,
    };

    /// <summary>Checks every field; throws <see cref="ArgumentException"/> with one clear sentence.</summary>
    public void Validate()
    {
        SequenceTask.Create(Task, Length);
        ModelSpec.Parse(Model);
        if (Steps <= 0) throw new ArgumentException($"steps must be positive, got {Steps}.");
        if (Batch <= 0) throw new ArgumentException($"batch must be positive, got {Batch}.");
        if (Hidden <= 0) throw new ArgumentException($"hidden must be positive, got {Hidden}.");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"learning rate must be a positive number, got {LearningRate}.");
        if (!(Clip >= 0) || double.IsInfinity(Clip)) throw new ArgumentException($"clip must be ≥ 0 (0 = off), got {Clip}.");
        if (EvalEvery <= 0) throw new ArgumentException($"eval-every must be positive, got {EvalEvery}.");
        if (HeldOut <= 0) throw new ArgumentException($"held-out size must be positive, got {HeldOut}.");
        if (SolveThreshold is { } s && (!double.IsFinite(s) || s < 0)) throw new ArgumentException($"solve threshold must be a finite number ≥ 0, got {s}.");
    }

    /// <summary>A stable key naming the run's configuration (used for resume files).</summary>
    public string Key => $"{Task}-T{Length}-{Model}-s{Seed}";

    /// <summary>Deterministic 64-bit seed for a named stream of this run (FNV-1a of the fields, then the name).</summary>
    public ulong StreamSeed(string stream, bool perModel)
    {
        var s = $"{Task}|{Length}|{Seed}|{(perModel ? Model : "")}|{Hidden}|{stream}";
        ulong h = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(s)) { h ^= b; h *= 1099511628211UL; }
        return h;
    }
}

/// <summary>One evaluation on the held-out set during training.</summary>
/// <param name="Step">Training steps done.</param>
/// <param name="TrainLoss">Mean training loss over the steps since the previous point.</param>
/// <param name="TestLoss">Held-out loss (MSE or mean cross-entropy).</param>
/// <param name="TestMetric">Held-out metric deciding "solved" (MSE, or accuracy of the recalled symbols).</param>
/// <param name="GradNorm">Mean pre-clip global gradient norm over the steps since the previous point.</param>
public sealed record CurvePoint(int Step, double TrainLoss, double TestLoss, double TestMetric, double GradNorm);

/// <summary>
/// Gradient flow through time for one model state, measured by back-propagating only the last step's loss gradient
/// (on held-out sequences) and reading ‖∂L/∂h_t‖ at every step.
/// </summary>
/// <param name="Gain">‖∂L/∂h_first‖ / ‖∂L/∂h_last‖: how much of the last step's error signal reaches the first step.</param>
/// <param name="SigmaMaxWh">Largest singular value of the recurrent matrix W_h (H × kH, all gates).</param>
/// <param name="Verdict">"vanishing", "exploding" or "healthy" by <see cref="Unroll.Flow.FlowVerdict.Judge"/> with its
/// default thresholds (total gain below 1e-2 or per-step gain below 0.5 is vanishing; above 1e2 or 2 exploding).</param>
/// <param name="StepNorms">‖∂L/∂h_t‖ for t = 0..Steps−1 (Frobenius over the batch).</param>
/// <param name="Evidence">The verdict's generated sentence.</param>
public sealed record FlowSummary(double Gain, double SigmaMaxWh, string Verdict, double[] StepNorms, string Evidence = "")
{
    /// <summary>Judges per-step norms (t = 0..T−1) with the gradient-flow instrument's verdict.</summary>
    public static (string Verdict, string Evidence) Judge(double[] stepNorms)
    {
        if (stepNorms.Length < 2) return ("healthy", "a single step: nothing to propagate");
        var back = stepNorms.Reverse().ToArray();
        var v = Unroll.Flow.FlowVerdict.Judge(new Unroll.Flow.FlowEvidence(back, stepNorms.Length - 1) { Propagated = true });
        return (v.Kind.ToString().ToLowerInvariant(), v.Evidence);
    }
}

/// <summary>The outcome of one run.</summary>
public sealed record RunResult
{
    public required RunConfig Config { get; init; }
    /// <summary>"mse" or "accuracy".</summary>
    public required string Metric { get; init; }
    /// <summary>The threshold used.</summary>
    public required double Threshold { get; init; }
    /// <summary>The task's trivial-strategy loss (adding 1/6, copy 10 ln 8/(T+20), temporal order ln 4).</summary>
    public required double BaselineLoss { get; init; }
    /// <summary>Held-out loss at the end.</summary>
    public required double FinalLoss { get; init; }
    /// <summary>Held-out metric at the end.</summary>
    public required double FinalMetric { get; init; }
    /// <summary>Whether the final metric meets the threshold.</summary>
    public required bool Solved { get; init; }
    /// <summary>First evaluated step at which the metric met the threshold, or null.</summary>
    public required int? FirstSolvedStep { get; init; }
    /// <summary>Steps actually trained (less than configured after early stop or divergence).</summary>
    public required int StepsDone { get; init; }
    /// <summary>True when the loss or gradient became non-finite (training stopped there).</summary>
    public required bool Diverged { get; init; }
    public required FlowSummary FlowInit { get; init; }
    public required FlowSummary FlowEnd { get; init; }
    public required List<CurvePoint> Curve { get; init; }
    /// <summary>Wall time of the run in seconds.</summary>
    public required double Seconds { get; init; }
}
