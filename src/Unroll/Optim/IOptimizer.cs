using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Optim;

/// <summary>Updates parameters from their accumulated gradients (<see cref="Parameter{T}.Grad"/>).</summary>
public interface IOptimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The learning rate used by the next <see cref="Step"/> (schedules set it).</summary>
    double LearningRate { get; set; }
    /// <summary>One update of every parameter in <paramref name="ps"/> (pass each tied parameter once).</summary>
    void Step(IReadOnlyList<Parameter<T>> ps);
}

/// <summary>
/// Everything an optimizer needs to continue the same trajectory after a restart: its kind, hyperparameters,
/// learning rate, number of updates done, and per-parameter state tensors ("slots", e.g. Adam's m and v) keyed
/// <c>"{slot}:{parameter name}"</c>. Slot tensors are copies, stored exactly (bit for bit) in checkpoints.
/// </summary>
public sealed class OptimizerState<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public required string Kind { get; init; }
    public required double LearningRate { get; init; }
    public required long Steps { get; init; }
    public required Dictionary<string, double> Hyperparameters { get; init; }
    public required Dictionary<string, Tensor<T>> Slots { get; init; }
}

/// <summary>
/// Shared machinery: per-parameter slot tensors (allocated on first use, keyed by parameter identity),
/// the update counter, and state export/import. Subclasses implement <see cref="Update"/> for one parameter.
/// Scalar coefficients are computed in double and rounded once to <typeparamref name="T"/>.
/// </summary>
public abstract class Optimizer<T> : IOptimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Dictionary<Parameter<T>, Tensor<T>[]> _slots = new(ReferenceEqualityComparer.Instance);
    private Tensor<T>? _scratch;

    protected Optimizer(double learningRate)
    {
        if (!double.IsFinite(learningRate) || learningRate < 0)
            throw new ArgumentException($"{GetType().Name}: learning rate must be finite and ≥ 0, got {learningRate}.");
        LearningRate = learningRate;
    }

    public double LearningRate { get; set; }
    /// <summary>Number of <see cref="Step"/> calls done (Adam's t).</summary>
    public long Steps { get; private set; }
    /// <summary>Short name: sgd, momentum, adagrad, rmsprop, adam.</summary>
    public abstract string Kind { get; }
    /// <summary>Names of the per-parameter state tensors (e.g. "m", "v").</summary>
    protected abstract string[] SlotNames { get; }
    /// <summary>The hyperparameters other than the learning rate (for checkpoints and logs).</summary>
    public abstract Dictionary<string, double> Hyperparameters { get; }

    public void Step(IReadOnlyList<Parameter<T>> ps)
    {
        Steps++;
        for (int i = 0; i < ps.Count; i++)
        {
            var p = ps[i];
            bool dup = false;
            for (int j = 0; j < i; j++) if (ReferenceEquals(ps[j], p)) { dup = true; break; }
            if (dup) continue;                                   // a tied parameter is updated once
            Update(p.Value.Span, p.Grad.Span, SlotsOf(p), Scratch(p.Value.Length));
        }
    }

    /// <summary>Updates one parameter in place from its gradient.</summary>
    /// <param name="w">the parameter's values (updated in place).</param>
    /// <param name="g">its gradient, same length.</param>
    /// <param name="slots">this parameter's state tensors, same length as w, in <see cref="SlotNames"/> order.</param>
    /// <param name="tmp">scratch of the same length.</param>
    protected abstract void Update(Span<T> w, ReadOnlySpan<T> g, Tensor<T>[] slots, Span<T> tmp);

    private Tensor<T>[] SlotsOf(Parameter<T> p)
    {
        if (!_slots.TryGetValue(p, out var s))
        {
            s = new Tensor<T>[SlotNames.Length];
            for (int k = 0; k < s.Length; k++) s[k] = new Tensor<T>(p.Value.Shape.ToArray());
            _slots[p] = s;
        }
        return s;
    }

    private Span<T> Scratch(int n)
    {
        if (_scratch is null || _scratch.Length < n) _scratch = new Tensor<T>(n);
        return _scratch.Span[..n];
    }

    /// <summary>Copies the whole state (slots keyed by parameter name; names must be unique).</summary>
    public OptimizerState<T> ExportState(IReadOnlyList<Parameter<T>> ps)
    {
        var slots = new Dictionary<string, Tensor<T>>();
        foreach (var p in ps)
        {
            if (SlotNames.Length == 0) break;
            var s = SlotsOf(p);
            for (int k = 0; k < s.Length; k++)
            {
                string key = $"{SlotNames[k]}:{p.Name}";
                if (slots.ContainsKey(key)) { if (slots[key].Span.SequenceEqual(s[k].Span)) continue; throw new ArgumentException($"{Kind}: two parameters are named '{p.Name}'; optimizer state needs unique names."); }
                slots[key] = s[k].Clone();
            }
        }
        return new OptimizerState<T> { Kind = Kind, LearningRate = LearningRate, Steps = Steps, Hyperparameters = Hyperparameters, Slots = slots };
    }

    /// <summary>Restores a state from <see cref="ExportState"/>; every slot must be present with the parameter's shape.</summary>
    public void ImportState(OptimizerState<T> state, IReadOnlyList<Parameter<T>> ps)
    {
        if (state.Kind != Kind) throw new InvalidDataException($"Optimizer state is for '{state.Kind}', but the optimizer is '{Kind}'.");
        foreach (var p in ps)
        {
            var s = SlotsOf(p);
            for (int k = 0; k < s.Length; k++)
            {
                string key = $"{SlotNames[k]}:{p.Name}";
                if (!state.Slots.TryGetValue(key, out var src))
                    throw new InvalidDataException($"Optimizer state has no slot '{key}'.");
                if (!src.SameShape(s[k]))
                    throw new InvalidDataException($"Optimizer slot '{key}' has shape {src.ShapeString}, parameter has {s[k].ShapeString}.");
                s[k].CopyFrom(src);
            }
        }
        LearningRate = state.LearningRate;
        Steps = state.Steps;
    }

    /// <summary>Rounds a double coefficient to T.</summary>
    protected static T C(double v) => T.CreateTruncating(v);
}

/// <summary>Creates optimizers by name (CLI and checkpoints).</summary>
public static class Optimizers
{
    public static readonly string[] Names = ["sgd", "momentum", "adagrad", "rmsprop", "adam"];

    /// <summary>An optimizer with PyTorch's default hyperparameters unless overridden in <paramref name="hyper"/>.</summary>
    public static Optimizer<T> Create<T>(string kind, double lr, IReadOnlyDictionary<string, double>? hyper = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double H(string k, double d) => hyper is not null && hyper.TryGetValue(k, out var v) ? v : d;
        return kind switch
        {
            "sgd" => new Sgd<T>(lr),
            "momentum" => new Momentum<T>(lr, H("momentum", 0.9)),
            "adagrad" => new AdaGrad<T>(lr, H("eps", 1e-10)),
            "rmsprop" => new RmsProp<T>(lr, H("alpha", 0.99), H("eps", 1e-8)),
            "adam" => new Adam<T>(lr, H("beta1", 0.9), H("beta2", 0.999), H("eps", 1e-8)),
            _ => throw new ArgumentException($"Unknown optimizer '{kind}' (expected one of: {string.Join(", ", Names)})."),
        };
    }
}
