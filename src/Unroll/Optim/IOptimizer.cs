using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Optim;

/// <summary>Updates parameters from their accumulated gradients (<see cref="Parameter{T}.Grad"/>).</summary>
public interface IOptimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The learning rate used by the next step (schedules set it).</summary>
    double LearningRate { get; set; }
    /// <summary>One update of every parameter in <paramref name="ps"/> (pass each tied parameter once).</summary>
    void Step(IReadOnlyList<Parameter<T>> ps);

    /// <summary>
    /// Exactly <c>g ← g·gradScale</c> for every distinct parameter (in place, as <see cref="GradClip.ClipGlobalNorm{T}"/>
    /// does, with gradScale rounded once to T) followed by <see cref="Step(IReadOnlyList{Parameter{T}})"/>; gradScale = 1
    /// leaves the gradients untouched. Pass <see cref="GradClip.ClipCoefficient"/> to clip by global norm without a
    /// separate pass over the gradients (<see cref="Optimizer{T}"/> scales each block of g just before updating it).
    /// </summary>
    /// <exception cref="ArgumentException">gradScale is not finite.</exception>
    void Step(IReadOnlyList<Parameter<T>> ps, double gradScale)
    {
        if (!double.IsFinite(gradScale)) throw new ArgumentException($"Step: gradScale must be finite, got {gradScale}.");
        if (gradScale != 1) ParameterSweep.Scale(ps, T.CreateTruncating(gradScale));
        Step(ps);
    }
}

/// <summary>
/// The state tensors of one parameter (in <see cref="Optimizer{T}"/>'s slot order) restricted to the element range
/// being updated: <c>slots[k]</c> is slot k's span over the same elements as the w and g spans passed with it.
/// </summary>
public readonly ref struct OptimizerSlots<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly Tensor<T>[] _slots;
    private readonly int _offset, _length;

    internal OptimizerSlots(Tensor<T>[] slots, int offset, int length) { _slots = slots; _offset = offset; _length = length; }

    /// <summary>Number of slots.</summary>
    public int Count => _slots.Length;
    /// <summary>Slot k over the range.</summary>
    public Span<T> this[int k] => _slots[k].Span.Slice(_offset, _length);
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
    private T[]? _referenceScratch;

    protected Optimizer(double learningRate)
    {
        if (!double.IsFinite(learningRate) || learningRate < 0)
            throw new ArgumentException($"{GetType().Name}: learning rate must be finite and ≥ 0, got {learningRate}.");
        LearningRate = learningRate;
    }

    public double LearningRate { get; set; }
    /// <summary>Number of steps done (Adam's t).</summary>
    public long Steps { get; private set; }
    /// <summary>Short name: sgd, momentum, adagrad, rmsprop, adam.</summary>
    public abstract string Kind { get; }
    /// <summary>Names of the per-parameter state tensors (e.g. "m", "v").</summary>
    protected abstract string[] SlotNames { get; }
    /// <summary>The hyperparameters other than the learning rate (for checkpoints and logs).</summary>
    public abstract Dictionary<string, double> Hyperparameters { get; }

    public void Step(IReadOnlyList<Parameter<T>> ps) => Step(ps, 1.0);

    /// <summary>
    /// Same result, bit for bit, as scaling every distinct gradient in place by <paramref name="gradScale"/> (rounded
    /// once to T; skipped when it is 1) and then <see cref="Step(IReadOnlyList{Parameter{T}})"/>, but in one pass: the
    /// parameters are cut into blocks (<see cref="ParameterSweep"/>), each block's g is scaled and then used for the
    /// update while it is in cache, and the blocks are spread over <see cref="Kernels.Gemm.Threads"/> cores when the
    /// model is large. Every update rule is elementwise, so the split does not change any bit. A tied parameter
    /// (listed twice) is updated once.
    /// </summary>
    /// <exception cref="ArgumentException">gradScale is not finite.</exception>
    public void Step(IReadOnlyList<Parameter<T>> ps, double gradScale)
    {
        BeginStep(ps, gradScale);
        ParameterSweep.Update(ps, this, gradScale != 1, C(gradScale));
    }

    /// <summary>The serial start of a step: checks the scale, counts the step, creates missing slots (the parallel pass only reads them).</summary>
    internal void BeginStep(IReadOnlyList<Parameter<T>> ps, double gradScale)
    {
        if (!double.IsFinite(gradScale)) throw new ArgumentException($"{GetType().Name}.Step: gradScale must be finite, got {gradScale}.");
        Steps++;
        for (int i = 0; i < ps.Count; i++) SlotsOf(ps[i]);
    }

    /// <summary>Reference of <see cref="Step(IReadOnlyList{Parameter{T}}, double)"/>: scale every distinct gradient, then update each whole parameter, serially.</summary>
    internal void StepReference(IReadOnlyList<Parameter<T>> ps, double gradScale)
    {
        Steps++;
        T s = C(gradScale);
        for (int i = 0; i < ps.Count; i++)
        {
            if (ParameterSweep.IsRepeat(ps, i)) continue;               // a tied parameter is updated once
            var p = ps[i];
            if (gradScale != 1) System.Numerics.Tensors.TensorPrimitives.Multiply<T>(p.Grad.Span, s, p.Grad.Span);
        }
        for (int i = 0; i < ps.Count; i++)
        {
            if (ParameterSweep.IsRepeat(ps, i)) continue;
            var p = ps[i];
            if (_referenceScratch is null || _referenceScratch.Length < p.Value.Length) _referenceScratch = new T[p.Value.Length];
            Update(p.Value.Span, p.Grad.Span, new OptimizerSlots<T>(SlotsOf(p), 0, p.Value.Length), _referenceScratch.AsSpan(0, p.Value.Length));
        }
    }

    /// <summary>False if <see cref="Update"/> never touches its tmp argument (then it gets an empty span and no thread allocates scratch for it).</summary>
    protected internal virtual bool UsesScratch => true;

    /// <summary>Updates elements [offset, offset + length) of <paramref name="p"/> (its slots exist).</summary>
    internal void UpdateRange(Parameter<T> p, int offset, int length, Span<T> tmp)
        => Update(p.Value.Span.Slice(offset, length), p.Grad.Span.Slice(offset, length), new OptimizerSlots<T>(_slots[p], offset, length), tmp);

    /// <summary>Updates a range of one parameter in place from its gradient (every rule is elementwise).</summary>
    /// <param name="w">the parameter's values over the range (updated in place).</param>
    /// <param name="g">its gradient over the range, same length.</param>
    /// <param name="slots">this parameter's state tensors over the range, in <see cref="SlotNames"/> order.</param>
    /// <param name="tmp">scratch of the same length (empty when <see cref="UsesScratch"/> is false).</param>
    protected abstract void Update(Span<T> w, ReadOnlySpan<T> g, OptimizerSlots<T> slots, Span<T> tmp);

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
