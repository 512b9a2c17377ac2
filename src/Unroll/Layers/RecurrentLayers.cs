using System.Numerics;
using Unroll.Init;
using Unroll.Tensors;

namespace Unroll.Layers;

/// <summary>Factory for recurrent layers by <see cref="CellType"/>.</summary>
public static class RecurrentLayers
{
    /// <summary>
    /// A new <see cref="TimeRNN{T}"/> (Rnn, RnnRelu), <see cref="TimeLSTM{T}"/> or <see cref="TimeGRU{T}"/>
    /// initialised from <paramref name="rng"/> with <paramref name="init"/> (null = textbook defaults).
    /// </summary>
    public static IRecurrentLayer<T> Create<T>(CellType cell, int inputSize, int hiddenSize, Rng rng, RecurrentInit? init = null,
                                               bool stateful = false, string? name = null)
        where T : unmanaged, IFloatingPointIeee754<T> => cell switch
    {
        CellType.Rnn or CellType.RnnRelu => new TimeRNN<T>(inputSize, hiddenSize, rng, cell, init, stateful, name ?? "rnn"),
        CellType.Lstm => new TimeLSTM<T>(inputSize, hiddenSize, rng, init, stateful, name ?? "lstm"),
        CellType.Gru => new TimeGRU<T>(inputSize, hiddenSize, rng, init, stateful, name ?? "gru"),
        _ => throw new ArgumentException($"RecurrentLayers.Create: unknown cell type {cell}."),
    };

    /// <summary>A second layer of the same cell on the SAME parameter objects (weights tied), with its own state and caches.</summary>
    public static IRecurrentLayer<T> Twin<T>(IRecurrentLayer<T> layer, bool? stateful = null, string? name = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(layer);
        bool st = stateful ?? layer.Stateful;
        string nm = name ?? layer.Name;
        return layer switch
        {
            TimeRNN<T> r => new TimeRNN<T>(r.Wx, r.Wh, r.B, r.Cell, st, nm),
            TimeLSTM<T> l => new TimeLSTM<T>(l.Wx, l.Wh, l.B, st, nm),
            TimeGRU<T> g => new TimeGRU<T>(g.Wx, g.Wh, g.B, g.BhN, st, nm),
            _ => throw new ArgumentException($"RecurrentLayers.Twin: unsupported layer {layer.GetType().Name}."),
        };
    }
}
