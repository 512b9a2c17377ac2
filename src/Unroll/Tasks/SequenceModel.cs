using System.Numerics;
using Unroll.Init;
using Unroll.Layers;
using Unroll.Nodes;
using Unroll.Tensors;

namespace Unroll.Tasks;

/// <summary>
/// The network of the long-range suite: inputs (N, Steps, C) → one recurrent layer → hs (N, Steps, H) → an affine
/// head, read at the last step (adding: 1 output and mean squared error; temporal order: 4 classes and softmax
/// cross-entropy) or at every step (copy: 10 classes, softmax cross-entropy averaged over all N·Steps positions).
/// </summary>
/// <remarks>
/// Initialisation per <see cref="ModelSpec"/> (Xavier = the textbook N(0,1)/√fan_in of <see cref="Initializers.Xavier{T}"/>):
/// rnn — Xavier Wx, Wh; ornn — Xavier Wx, orthogonal Wh; irnn — ReLU, Wh = I, Wx ~ N(0, 0.001²) (Le et al. 2015 §3);
/// lstm / lstm-fb0 — Xavier (per gate), forget-gate bias 1 / 0; gru — Xavier; all other biases zero. The head is
/// Xavier-initialised with zero bias. The layer's weights are drawn first, then the head's, from the same stream.
/// </remarks>
public sealed class SequenceModel<T> : IModule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly SequenceTask _task;
    private readonly Affine<T> _head;
    private readonly MeanSquaredError<T>? _mse;
    private readonly SoftmaxWithLoss<T>? _ce;
    private Tensor<T>? _hLast, _dhs, _out;
    private int[]? _lastLabels;
    private int _n;

    /// <summary>The recurrent layer (its Hs, StepGradH, Wh are what the gradient-flow summary reads).</summary>
    public IRecurrentLayer<T> Layer { get; }
    /// <summary>The model spec it was built from.</summary>
    public ModelSpec Spec { get; }
    /// <summary>Outputs of the last forward: (N·Steps, O) for every-step tasks, else (N, O).</summary>
    public Tensor<T> Output => _out ?? throw new InvalidOperationException("SequenceModel: no forward yet.");

    public SequenceModel(SequenceTask task, ModelSpec spec, int hidden, Rng rng)
    {
        if (hidden <= 0) throw new ArgumentException($"SequenceModel: hidden size must be positive, got {hidden}.");
        _task = task;
        Spec = spec;
        Layer = CreateLayer(spec, task.InputSize, hidden, rng);
        Layer.ComputesInputGradient = false;                  // the input is the task's data: nothing reads ∂L/∂xs
        var w = new Tensor<T>(hidden, task.OutputSize);
        Initializers.Xavier(w, rng);
        _head = new Affine<T>(new Parameter<T>("head.W", w), new Parameter<T>("head.b", new Tensor<T>(task.OutputSize)));
        if (task.Target == TargetKind.RegressionLast) _mse = new MeanSquaredError<T>();
        else _ce = new SoftmaxWithLoss<T>();
    }

    /// <summary>The layer's parameters, then head.W, head.b (a cached array: enumerating it allocates nothing per update).</summary>
    public IEnumerable<Parameter<T>> Parameters => _params ??= [.. Layer.Parameters, .. _head.Parameters];
    private Parameter<T>[]? _params;

    private static IRecurrentLayer<T> CreateLayer(ModelSpec spec, int d, int h, Rng rng) => spec.Name switch
    {
        "rnn" => new TimeRNN<T>(d, h, rng, CellType.Rnn, RecurrentInit.Default, name: "rnn"),
        "ornn" => new TimeRNN<T>(d, h, rng, CellType.Rnn, new RecurrentInit { Recurrent = WeightInit.Orthogonal }, name: "ornn"),
        "irnn" => new TimeRNN<T>(d, h, rng, CellType.RnnRelu,
                                 new RecurrentInit { Input = WeightInit.Gaussian, InputScale = 0.001, Recurrent = WeightInit.Identity }, name: "irnn"),
        "lstm" => new TimeLSTM<T>(d, h, rng, new RecurrentInit { ForgetBias = 1.0 }, name: "lstm"),
        "lstm-fb0" => new TimeLSTM<T>(d, h, rng, new RecurrentInit { ForgetBias = 0.0 }, name: "lstm"),
        "gru" => new TimeGRU<T>(d, h, rng, RecurrentInit.Default, name: "gru"),
        _ => throw new ArgumentException($"SequenceModel: unknown model '{spec.Name}'."),
    };

    /// <summary>Forward and loss of <paramref name="batch"/> (mean over the scored positions).</summary>
    public T Loss(TaskBatch<T> batch)
    {
        var hs = Layer.Forward(batch.Inputs);                 // (N, Steps, H)
        int n = hs.Dim(0), steps = hs.Dim(1), h = hs.Dim(2);
        _n = n;
        if (_task.Target == TargetKind.ClassesEveryStep)
        {
            _out = _head.Forward(hs.Reshape(n * steps, h));    // (N·Steps, V)
            return _ce!.Forward(_out, batch.Labels, SequenceTask.IgnoreIndex);
        }
        var last = Workspace.Ensure(ref _hLast, n, h);
        for (int i = 0; i < n; i++) hs.Row(i).Slice((steps - 1) * h, h).CopyTo(last.Row(i));
        _out = _head.Forward(last);                           // (N, O)
        if (_mse is not null) return _mse.Forward(_out, batch.Targets!);
        _lastLabels = _lastLabels is { Length: var len } && len == n ? _lastLabels : new int[n];
        var labels = batch.Labels!;
        for (int i = 0; i < n; i++) _lastLabels[i] = labels[i * steps + steps - 1];
        return _ce!.Forward(_out, _lastLabels, SequenceTask.IgnoreIndex);
    }

    /// <summary>
    /// Back-propagates the loss of the last <see cref="Loss"/> into every parameter gradient (added). With
    /// <paramref name="lastStepOnly"/>, only the head's gradient at the last step enters the recurrent layer (the
    /// gradient-flow probe; the same as the full gradient for last-step tasks).
    /// </summary>
    public void Backward(bool lastStepOnly = false)
    {
        var hs = Layer.Hs;
        int n = _n, steps = hs.Dim(1), h = hs.Dim(2);
        var dhs = Workspace.Ensure(ref _dhs, n, steps, h);
        var dout = _mse is not null ? _mse.Backward(T.One) : _ce!.Backward(T.One);
        var dh = _head.Backward(dout);                        // inverts out = head(h): (N·Steps, H) or (N, H)
        if (_task.Target == TargetKind.ClassesEveryStep && !lastStepOnly)
            dh.Span.CopyTo(dhs.Span);
        else
        {
            dhs.Clear();
            bool every = _task.Target == TargetKind.ClassesEveryStep;
            for (int i = 0; i < n; i++)
            {
                var src = every ? dh.Row(i * steps + steps - 1) : dh.Row(i);
                src.CopyTo(dhs.Row(i).Slice((steps - 1) * h, h));
            }
        }
        Layer.Backward(dhs);
    }
}
