namespace Unroll.Optim;

/// <summary>
/// A learning-rate schedule. The trainer calls <see cref="AtStep"/> before every update (with the number of
/// updates already done) and <see cref="AtEvaluation"/> after every validation; each returns the learning rate to use.
/// <see cref="State"/>/<see cref="Restore"/> carry what a schedule remembers (e.g. the best validation score) across a resume.
/// </summary>
public abstract class LrSchedule
{
    /// <summary>Short name: constant, plateau, step, cosine.</summary>
    public abstract string Kind { get; }
    /// <summary>Learning rate for update number <paramref name="step"/> (0-based), given the current one.</summary>
    public virtual double AtStep(long step, int epoch, double lr) => lr;
    /// <summary>Learning rate after a validation scoring <paramref name="metric"/> (lower is better, e.g. perplexity).</summary>
    public virtual double AtEvaluation(double metric, double lr) => lr;
    /// <summary>Remembered values (for checkpoints).</summary>
    public virtual Dictionary<string, double> State => [];
    /// <summary>Restores <see cref="State"/>.</summary>
    public virtual void Restore(IReadOnlyDictionary<string, double> state) { }

    /// <summary>Creates a schedule by name: constant, plateau (÷factor), step (×gamma every stepEpochs), cosine (to 0 over totalSteps).</summary>
    public static LrSchedule Create(string kind, double baseLr, double factor = 4, int stepEpochs = 1, double gamma = 0.5, long totalSteps = 0, double minLr = 0) => kind switch
    {
        "constant" => new ConstantSchedule(),
        "plateau" => new PlateauDivide(factor),
        "step" => new StepSchedule(baseLr, stepEpochs, gamma),
        "cosine" => new CosineSchedule(baseLr, totalSteps, minLr),
        _ => throw new ArgumentException($"Unknown learning-rate schedule '{kind}' (expected constant, plateau, step or cosine)."),
    };
}

/// <summary>The learning rate never changes.</summary>
public sealed class ConstantSchedule : LrSchedule
{
    public override string Kind => "constant";
}

/// <summary>
/// The textbook's rule (train_better_rnnlm.py): after each validation, if the score did not improve on the best so
/// far, divide the learning rate by <see cref="Factor"/> (4.0); otherwise remember the new best.
/// </summary>
public sealed class PlateauDivide : LrSchedule
{
    public PlateauDivide(double factor = 4.0)
    {
        if (!(factor > 1)) throw new ArgumentException($"PlateauDivide: factor must be > 1, got {factor}.");
        Factor = factor;
    }
    public double Factor { get; }
    /// <summary>Best (lowest) score seen; +∞ before the first validation.</summary>
    public double Best { get; private set; } = double.PositiveInfinity;
    /// <summary>True when the last validation improved on the best (the textbook saves the model then).</summary>
    public bool LastImproved { get; private set; }
    public override string Kind => "plateau";

    public override double AtEvaluation(double metric, double lr)
    {
        // textbook: if best_ppl > ppl: best_ppl = ppl (save) else: lr /= 4.0
        LastImproved = metric < Best;
        if (LastImproved) { Best = metric; return lr; }
        return lr / Factor;
    }

    public override Dictionary<string, double> State => new() { ["best"] = Best };
    public override void Restore(IReadOnlyDictionary<string, double> state)
    {
        if (state.TryGetValue("best", out var b)) Best = b;
    }
}

/// <summary>Step decay by epoch (torch StepLR stepped per epoch): lr = base · γ^⌊epoch / stepEpochs⌋.</summary>
public sealed class StepSchedule : LrSchedule
{
    public StepSchedule(double baseLr, int stepEpochs, double gamma)
    {
        if (stepEpochs < 1) throw new ArgumentException($"StepSchedule: step must be ≥ 1 epoch, got {stepEpochs}.");
        if (!(gamma > 0 && gamma <= 1)) throw new ArgumentException($"StepSchedule: gamma must be in (0, 1], got {gamma}.");
        BaseLr = baseLr; StepEpochs = stepEpochs; Gamma = gamma;
    }
    public double BaseLr { get; }
    public int StepEpochs { get; }
    public double Gamma { get; }
    public override string Kind => "step";
    public override double AtStep(long step, int epoch, double lr) => BaseLr * Math.Pow(Gamma, epoch / StepEpochs);
}

/// <summary>
/// Cosine annealing over updates (torch CosineAnnealingLR without restarts):
/// lr(t) = min + (base − min)·(1 + cos(π·t/T))/2 for t &lt; T, then min.
/// </summary>
public sealed class CosineSchedule : LrSchedule
{
    public CosineSchedule(double baseLr, long totalSteps, double minLr = 0)
    {
        if (totalSteps < 1) throw new ArgumentException($"CosineSchedule: total steps must be ≥ 1, got {totalSteps}.");
        BaseLr = baseLr; TotalSteps = totalSteps; MinLr = minLr;
    }
    public double BaseLr { get; }
    public long TotalSteps { get; }
    public double MinLr { get; }
    public override string Kind => "cosine";
    public override double AtStep(long step, int epoch, double lr)
        => step >= TotalSteps ? MinLr : MinLr + (BaseLr - MinLr) * (1 + Math.Cos(Math.PI * step / TotalSteps)) / 2;
}
