using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Tasks;

/// <summary>What a task asks the model to predict.</summary>
public enum TargetKind
{
    /// <summary>One real number after the last step (adding problem): head on the last step, mean squared error.</summary>
    RegressionLast,
    /// <summary>A class at every step (copy memory): head on every step, softmax cross-entropy averaged over the steps.</summary>
    ClassesEveryStep,
    /// <summary>One class after the last step (temporal order): head on the last step, softmax cross-entropy.</summary>
    ClassesLast,
}

/// <summary>
/// One batch of a long-range task. <see cref="Inputs"/> is (N, Steps, C). Regression tasks fill
/// <see cref="Targets"/> (N, 1); classification tasks fill <see cref="Labels"/> (N·Steps class ids, row-major
/// (N, Steps)) with <see cref="SequenceTask.IgnoreIndex"/> at the steps that are not scored.
/// </summary>
public sealed class TaskBatch<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Batch size N.</summary>
    public int N { get; }
    /// <summary>Number of input steps (the task's <see cref="SequenceTask.Steps"/>).</summary>
    public int Steps { get; }
    /// <summary>Inputs (N, Steps, C).</summary>
    public Tensor<T> Inputs { get; }
    /// <summary>Regression targets (N, 1), or null for classification tasks.</summary>
    public Tensor<T>? Targets { get; }
    /// <summary>Class id per step, (N, Steps) row-major, <see cref="SequenceTask.IgnoreIndex"/> where unscored; null for regression.</summary>
    public int[]? Labels { get; }

    internal TaskBatch(SequenceTask task, int n)
    {
        N = n;
        Steps = task.Steps;
        Inputs = new Tensor<T>(n, task.Steps, task.InputSize);
        if (task.Target == TargetKind.RegressionLast) Targets = new Tensor<T>(n, 1);
        else Labels = new int[n * task.Steps];
    }

    /// <summary>The label of every sequence at its last step (length N), for tasks scored at the last step.</summary>
    public int[] LastStepLabels()
    {
        var labels = Labels ?? throw new InvalidOperationException("TaskBatch: a regression batch has no labels.");
        var last = new int[N];
        for (int i = 0; i < N; i++) last[i] = labels[i * Steps + Steps - 1];
        return last;
    }
}

/// <summary>
/// A synthetic long-range dependency task of length <see cref="Length"/> (the "T" of its paper). Every sample is
/// drawn from an injected <see cref="Rng"/> only, so the same seed gives the same data on every machine.
/// </summary>
public abstract class SequenceTask
{
    /// <summary>Label of a step that is not scored (the ignore index of the softmax losses).</summary>
    public const int IgnoreIndex = -1;

    /// <summary>Names accepted by <see cref="Create"/>.</summary>
    public static readonly string[] Names = ["adding", "copy", "temporal-order"];

    protected SequenceTask(int length) => Length = length;

    /// <summary>Short name: "adding", "copy", "temporal-order".</summary>
    public abstract string Name { get; }
    /// <summary>The distance T as the task's paper defines it.</summary>
    public int Length { get; }
    /// <summary>Number of input steps fed to the network (T for adding and temporal order, T+20 for copy).</summary>
    public abstract int Steps { get; }
    /// <summary>Input channels C.</summary>
    public abstract int InputSize { get; }
    /// <summary>Outputs of the head: 1 for regression, the number of classes otherwise.</summary>
    public abstract int OutputSize { get; }
    /// <summary>What is predicted, and where.</summary>
    public abstract TargetKind Target { get; }
    /// <summary>First step whose prediction counts for accuracy ("recalled symbols"): Steps−10 for copy, Steps−1 for temporal order.</summary>
    public virtual int RecallFrom => Steps - 1;
    /// <summary>The loss of the trivial strategy the paper compares against (adding: predict 1; copy: memoryless; temporal order: uniform guess).</summary>
    public abstract double BaselineLoss { get; }
    /// <summary>Where the task is defined (paper and, when different, the code followed).</summary>
    public abstract string Source { get; }
    /// <summary>Metric used to decide "solved": "mse" (lower is better) or "accuracy" (higher is better).</summary>
    public string SolvedMetric => Target == TargetKind.RegressionLast ? "mse" : "accuracy";
    /// <summary>Default solved threshold of the issue: adding MSE ≤ 0.01; copy and temporal order ≥ 99 % right.</summary>
    public double DefaultSolveThreshold => Target == TargetKind.RegressionLast ? 0.01 : 0.99;

    /// <summary>Creates the task <paramref name="name"/> (see <see cref="Names"/>) of length <paramref name="length"/>.</summary>
    /// <exception cref="ArgumentException">Unknown name, or a length too short for the task.</exception>
    public static SequenceTask Create(string name, int length) => name.Trim().ToLowerInvariant() switch
    {
        "adding" => new AddingProblem(length),
        "copy" or "copy-memory" => new CopyMemory(length),
        "temporal-order" or "temporalorder" or "temporal" => new TemporalOrder(length),
        _ => throw new ArgumentException($"unknown task '{name}' (expected one of: {string.Join(", ", Names)})."),
    };

    /// <summary>Allocates a batch of <paramref name="n"/> sequences and fills it from <paramref name="rng"/>.</summary>
    public TaskBatch<T> Sample<T>(Rng rng, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (n <= 0) throw new ArgumentException($"{Name}: batch size must be positive, got {n}.");
        var b = new TaskBatch<T>(this, n);
        Fill(rng, b);
        return b;
    }

    /// <summary>Refills an existing batch (no allocation) with new samples drawn from <paramref name="rng"/>.</summary>
    public void Fill<T>(Rng rng, TaskBatch<T> batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (batch.Steps != Steps || batch.Inputs.Dim(2) != InputSize)
            throw new ArgumentException($"{Name}: batch of shape {batch.Inputs.ShapeString} does not fit this task (Steps {Steps}, C {InputSize}).");
        batch.Inputs.Clear();
        for (int i = 0; i < batch.N; i++) FillOne(rng, batch, i);
    }

    /// <summary>
    /// The fixed held-out set of <paramref name="n"/> sequences for <paramref name="seed"/>: drawn from its own
    /// generator (derived from the seed, independent of any training stream), so every model and every run with the
    /// same seed is evaluated on exactly the same sequences.
    /// </summary>
    public TaskBatch<T> HeldOut<T>(int n, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
        => Sample<T>(new Rng(seed ^ 0x5EED_4E1D_C0DE_0001UL), n);

    /// <summary>Writes sequence <paramref name="i"/> of <paramref name="batch"/> (inputs already zero).</summary>
    protected abstract void FillOne<T>(Rng rng, TaskBatch<T> batch, int i) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>Writes a one-hot symbol at (i, t).</summary>
    protected static void OneHot<T>(TaskBatch<T> batch, int i, int t, int symbol) where T : unmanaged, IFloatingPointIeee754<T>
        => batch.Inputs[i, t, symbol] = T.One;

    protected static ArgumentException TooShort(string task, int length, int min, string why)
        => new($"{task}: length T = {length} is too short; it must be at least {min} ({why}).");
}
