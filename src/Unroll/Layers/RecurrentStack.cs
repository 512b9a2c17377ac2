using System.Numerics;
using Unroll.Init;
using Unroll.Nodes;
using Unroll.Tensors;

namespace Unroll.Layers;

/// <summary>
/// L recurrent layers of one cell stacked in depth: xs (N,T,D) → layer 0 → [dropout] → layer 1 → … → hs (N,T,H).
/// Optional inverted dropout between consecutive layers (not before the first or after the last, as PyTorch's
/// <c>dropout</c> argument of nn.LSTM), one <see cref="TimeDropout{T}"/> node per boundary: in training, each element
/// of a layer's output is kept with probability 1 − p and scaled by 1/(1 − p); masks (N,T,H) are drawn from the one
/// injected <see cref="Rng"/> at every Forward, boundary 0 first. In evaluation the outputs pass through uncopied.
/// </summary>
/// <remarks>
/// The layers are exposed (<see cref="Layers"/>) so an instrument can attach to any of them; their per-step caches
/// (Hs, StepGradH, …) stay reachable as for a single layer. Backward adds into every layer's parameter gradients.
/// </remarks>
public sealed class RecurrentStack<T> : IModule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly IRecurrentLayer<T>[] _layers;
    private readonly TimeDropout<T>[] _drops;
    private readonly Parameter<T>[] _params;

    /// <summary>
    /// A stack of <paramref name="numLayers"/> fresh layers named "{name}0", "{name}1", …, initialised in order from
    /// <paramref name="rng"/>; the dropout masks come from a generator forked from <paramref name="rng"/> afterwards.
    /// </summary>
    /// <param name="cell">The cell of every layer.</param>
    /// <param name="inputSize">D of the first layer.</param>
    /// <param name="hiddenSize">H of every layer (D of layers 1…L−1).</param>
    /// <param name="numLayers">L ≥ 1.</param>
    /// <param name="rng">The injected randomness source.</param>
    /// <param name="dropout">Drop probability p in [0, 1) between layers.</param>
    /// <param name="init">Initialisation of every layer (null = textbook defaults).</param>
    /// <param name="stateful">Carry each layer's state between Forward calls.</param>
    /// <param name="name">Prefix of layer names.</param>
    public RecurrentStack(CellType cell, int inputSize, int hiddenSize, int numLayers, Rng rng, double dropout = 0.0,
                          RecurrentInit? init = null, bool stateful = false, string? name = null)
        : this(MakeLayers(cell, inputSize, hiddenSize, numLayers, rng, init, stateful, name), dropout, dropout > 0 ? rng.Fork() : null) { }

    /// <summary>A stack over given layers (same cell; each layer's InputSize = the previous HiddenSize).</summary>
    /// <param name="layers">The layers, bottom first.</param>
    /// <param name="dropout">Drop probability p in [0, 1) between layers.</param>
    /// <param name="dropoutRng">Randomness for the masks (required when p &gt; 0 and there are ≥ 2 layers).</param>
    public RecurrentStack(IReadOnlyList<IRecurrentLayer<T>> layers, double dropout = 0.0, Rng? dropoutRng = null)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0) throw new ArgumentException("RecurrentStack: needs at least one layer.");
        if (!(dropout >= 0 && dropout < 1)) throw new ArgumentException($"RecurrentStack: dropout {dropout} must be in [0, 1).");
        for (int l = 1; l < layers.Count; l++)
        {
            if (layers[l].Cell != layers[0].Cell)
                throw new ArgumentException($"RecurrentStack: layer {l} '{layers[l].Name}' is {layers[l].Cell}, layer 0 is {layers[0].Cell}.");
            if (layers[l].InputSize != layers[l - 1].HiddenSize)
                throw new ArgumentException($"RecurrentStack: layer {l} '{layers[l].Name}' takes inputs of size {layers[l].InputSize} but layer {l - 1} '{layers[l - 1].Name}' outputs size {layers[l - 1].HiddenSize}.");
        }
        if (dropout > 0 && layers.Count > 1 && dropoutRng is null)
            throw new ArgumentException("RecurrentStack: dropout > 0 needs an injected Rng.");
        _layers = [.. layers];
        Dropout = dropout;
        _drops = dropout > 0 && _layers.Length > 1
            ? [.. Enumerable.Range(0, _layers.Length - 1).Select(_ => new TimeDropout<T>(dropout, dropoutRng!))]
            : [];
        _params = [.. _layers.SelectMany(x => x.Parameters)];
    }

    private static IRecurrentLayer<T>[] MakeLayers(CellType cell, int inputSize, int hiddenSize, int numLayers, Rng rng,
                                                   RecurrentInit? init, bool stateful, string? name)
    {
        ArgumentNullException.ThrowIfNull(rng);
        if (numLayers < 1) throw new ArgumentException($"RecurrentStack: number of layers {numLayers} must be ≥ 1.");
        string prefix = name ?? cell switch { CellType.Lstm => "lstm", CellType.Gru => "gru", _ => "rnn" };
        var layers = new IRecurrentLayer<T>[numLayers];
        for (int l = 0; l < numLayers; l++)
            layers[l] = RecurrentLayers.Create<T>(cell, l == 0 ? inputSize : hiddenSize, hiddenSize, rng, init, stateful, $"{prefix}{l}");
        return layers;
    }

    /// <summary>The layers, bottom (input side) first.</summary>
    public IReadOnlyList<IRecurrentLayer<T>> Layers => _layers;
    /// <summary>L.</summary>
    public int NumLayers => _layers.Length;
    /// <summary>The cell of every layer.</summary>
    public CellType Cell => _layers[0].Cell;
    /// <summary>D of the first layer.</summary>
    public int InputSize => _layers[0].InputSize;
    /// <summary>H of the last layer.</summary>
    public int HiddenSize => _layers[^1].HiddenSize;
    /// <summary>Drop probability between layers.</summary>
    public double Dropout { get; }
    /// <summary>True: draw dropout masks at every Forward; false (evaluation): no dropout.</summary>
    public bool Training { get; set; } = true;
    /// <summary>All layers' parameters, bottom layer first.</summary>
    public IEnumerable<Parameter<T>> Parameters => _params;

    /// <summary>Stateful mode of every layer (get: of layer 0).</summary>
    public bool Stateful
    {
        get => _layers[0].Stateful;
        set { foreach (var l in _layers) l.Stateful = value; }
    }

    /// <summary>Sets <see cref="IRecurrentLayer{T}.GradFlushThreshold"/> of every layer (get: of layer 0).</summary>
    public T GradFlushThreshold
    {
        get => _layers[0].GradFlushThreshold;
        set { foreach (var l in _layers) l.GradFlushThreshold = value; }
    }

    /// <summary>The mask (N,T,H) applied after layer <paramref name="layer"/> by the last Forward (null if it applied none).</summary>
    public Tensor<T>? DropoutMask(int layer) => _droppedLast && layer < _drops.Length ? _drops[layer].Mask : null;

    private bool DropActive => Training && _drops.Length > 0;
    private bool _droppedLast;   // whether the last Forward applied masks (Backward follows it, not the current flag)

    /// <summary>xs (N,T,D) → hs (N,T,H) of the last layer (its workspace).</summary>
    public Tensor<T> Forward(Tensor<T> xs)
    {
        var x = xs;
        _droppedLast = DropActive;
        for (int l = 0; l < _layers.Length; l++)
        {
            var h = _layers[l].Forward(x);
            if (l == _layers.Length - 1) return h;
            x = _droppedLast ? _drops[l].Forward(h) : h;              // y = h ⊙ m (training) or h
        }
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>dhs (N,T,H) → dxs (N,T,D); adds every layer's parameter gradients.</summary>
    public Tensor<T> Backward(Tensor<T> dhs)
    {
        var d = dhs;
        for (int l = _layers.Length - 1; l >= 0; l--)
        {
            var dx = _layers[l].Backward(d);
            if (l == 0) return dx;
            d = _droppedLast ? _drops[l - 1].Backward(dx) : dx;       // inverts y = h ⊙ m: dh = dy ⊙ m
        }
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>Resets the state of every layer.</summary>
    public void ResetState()
    {
        foreach (var l in _layers) l.ResetState();
    }

    /// <summary>Sets the initial state of layer <paramref name="layer"/> (h (N,H), c (N,H) for LSTM).</summary>
    public void SetState(int layer, Tensor<T> h, Tensor<T>? c = null)
    {
        if ((uint)layer >= (uint)_layers.Length)
            throw new ArgumentException($"RecurrentStack: layer {layer} out of range [0, {_layers.Length}).");
        _layers[layer].SetState(h, c);
    }

    /// <summary>Sets the initial states of all layers: one h per layer (and one c per layer for LSTM, or null).</summary>
    public void SetState(IReadOnlyList<Tensor<T>> hs, IReadOnlyList<Tensor<T>?>? cs = null)
    {
        ArgumentNullException.ThrowIfNull(hs);
        if (hs.Count != _layers.Length || (cs is not null && cs.Count != _layers.Length))
            throw new ArgumentException($"RecurrentStack: {hs.Count} h and {cs?.Count ?? 0} c states given for {_layers.Length} layers.");
        for (int l = 0; l < _layers.Length; l++) _layers[l].SetState(hs[l], cs?[l]);
    }

    /// <summary>Each layer's current h (N,H) (null entries after ResetState).</summary>
    public IReadOnlyList<Tensor<T>?> States => _layers.Select(l => l.State).ToArray();
}
