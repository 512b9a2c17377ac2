namespace Unroll.Demo;

/// <summary>
/// The sizes of one <c>unroll demo</c> run. <see cref="Default"/> is what the command runs (a few minutes on two
/// cores); <see cref="Tiny"/> runs the same pipeline in seconds (tests).
/// </summary>
public sealed record DemoOptions
{
    /// <summary>The one seed of the run.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Runs trained side by side (each run single-threaded).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Seed experiment: batch N, hidden H, steps T, and the W_h scales.</summary>
    public int SeedN { get; init; } = 2;
    public int SeedH { get; init; } = 3;
    public int SeedT { get; init; } = 20;
    public double[] SeedScales { get; init; } = [1.0, 0.5];

    /// <summary>Cells section: length T of the adding problem, Adam steps, learning rate.</summary>
    public int CellsLength { get; init; } = 100;
    public int CellsSteps { get; init; } = 400;
    public double CellsLearningRate { get; init; } = 1e-2;
    /// <summary>Cells trained and compared: names of <see cref="Tasks.ModelSpec"/>.</summary>
    public string[] Cells { get; init; } = ["rnn", "lstm", "gru"];

    /// <summary>Hidden units and batch size of every trained model.</summary>
    public int Hidden { get; init; } = 32;
    public int Batch { get; init; } = 32;
    /// <summary>Held-out sequences for evaluation.</summary>
    public int HeldOut { get; init; } = 256;

    /// <summary>Clipping: a tanh RNN whose W_h is multiplied by <see cref="ClipWhScale"/> after initialisation,
    /// trained with plain SGD at <see cref="ClipLearningRate"/> on the adding problem of length <see cref="ClipLength"/>,
    /// once without and once with global-norm clipping at <see cref="ClipMaxNorm"/>.</summary>
    public int ClipLength { get; init; } = 50;
    public int ClipSteps { get; init; } = 300;
    public double ClipWhScale { get; init; } = 2.0;
    public double ClipLearningRate { get; init; } = 0.1;
    public double ClipMaxNorm { get; init; } = 1.0;

    /// <summary>Compare: models × lengths on the adding problem, Adam steps and learning rate.</summary>
    public string[] CompareModels { get; init; } = ["rnn", "irnn", "lstm", "gru"];
    public int[] CompareLengths { get; init; } = [10, 30, 60];
    public int CompareSteps { get; init; } = 300;
    public double CompareLearningRate { get; init; } = 1e-2;

    /// <summary>What <c>unroll demo</c> runs.</summary>
    public static DemoOptions Default { get; } = new();

    /// <summary>The same pipeline at a size that runs in seconds.</summary>
    public static DemoOptions Tiny { get; } = new()
    {
        CellsLength = 12, CellsSteps = 6, Hidden = 6, Batch = 4, HeldOut = 8,
        ClipLength = 8, ClipSteps = 6, CompareLengths = [4, 8], CompareSteps = 4,
    };

    /// <summary>Throws <see cref="ArgumentException"/> with one sentence when a size is out of range.</summary>
    public DemoOptions Validate()
    {
        void Pos(string name, int v) { if (v <= 0) throw new ArgumentException($"demo: {name} must be positive, got {v}."); }
        Pos("threads", Threads); Pos("seed N", SeedN); Pos("seed H", SeedH); Pos("seed T", SeedT);
        Pos("cells length", CellsLength); Pos("cells steps", CellsSteps); Pos("hidden", Hidden); Pos("batch", Batch);
        Pos("held-out", HeldOut); Pos("clip length", ClipLength); Pos("clip steps", ClipSteps); Pos("compare steps", CompareSteps);
        if (SeedScales.Length == 0 || CompareModels.Length == 0 || CompareLengths.Length == 0 || Cells.Length == 0)
            throw new ArgumentException("demo: scales, cells, models and lengths must not be empty.");
        if (CompareLengths.Any(l => l < 2) || CellsLength < 2 || ClipLength < 2)
            throw new ArgumentException("demo: adding-problem lengths must be at least 2.");
        if (!(ClipMaxNorm > 0)) throw new ArgumentException($"demo: clip max norm must be positive, got {ClipMaxNorm}.");
        return this;
    }
}
