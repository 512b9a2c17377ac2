using System.Numerics;
using Unroll.Layers;
using Unroll.Nodes;
using Unroll.Tensors;

namespace Unroll.IO;

/// <summary>
/// Unroll's own layers — <see cref="TimeEmbedding{T}"/> → L × <see cref="IRecurrentLayer{T}"/> →
/// <see cref="TimeAffine{T}"/> — on the tensors of an <see cref="LmWeights{T}"/> (wrapped, not copied), for
/// inference on imported weights and for checking exports against Unroll's forward. With tying the decoder is a
/// <see cref="TimeAffine{T}"/> on the embedding parameter used transposed.
/// </summary>
public sealed class LmNetwork<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The embedding (V, E).</summary>
    public TimeEmbedding<T> Embedding { get; }
    /// <summary>The recurrent layers (stateless: each <see cref="Forward"/> starts from the state it is given).</summary>
    public IReadOnlyList<IRecurrentLayer<T>> Layers { get; }
    /// <summary>The output layer (H → V).</summary>
    public TimeAffine<T> Decoder { get; }
    /// <summary>The configuration.</summary>
    public LmConfig Config { get; }

    public LmNetwork(LmWeights<T> w)
    {
        w.Validate();
        Config = w.Config;
        var emb = new Parameter<T>("embed.W", w.Embedding);
        Embedding = new TimeEmbedding<T>(emb);
        var cell = ToCellType(Config.Cell);
        var layers = new List<IRecurrentLayer<T>>();
        for (int l = 0; l < w.Layers.Count; l++)
        {
            var lw = w.Layers[l];
            string name = $"{Config.Cell}{l}";
            var wx = new Parameter<T>($"{name}.Wx", lw.Wx);
            var wh = new Parameter<T>($"{name}.Wh", lw.Wh);
            var b = new Parameter<T>($"{name}.B", lw.B);
            layers.Add(cell switch
            {
                CellType.Lstm => new TimeLSTM<T>(wx, wh, b, stateful: false, name: name),
                CellType.Gru => new TimeGRU<T>(wx, wh, b, new Parameter<T>($"{name}.BhN", lw.BhN!), stateful: false, name: name),
                _ => new TimeRNN<T>(wx, wh, b, cell, stateful: false, name: name),
            });
        }
        Layers = layers;
        var db = new Parameter<T>("affine.b", w.DecoderB);
        Decoder = Config.Tied ? new TimeAffine<T>(emb, db, transposeW: true) : new TimeAffine<T>(new Parameter<T>("affine.W", w.DecoderW), db);
    }

    /// <summary>
    /// logits (N, T, V) for ids (N·T, row-major (N, T)); <paramref name="h0"/>/<paramref name="c0"/> (L, N, H)
    /// initial states (null = zeros). Afterwards <see cref="FinalH"/>/<see cref="FinalC"/> hold (L, N, H).
    /// </summary>
    public Tensor<T> Forward(ReadOnlySpan<int> ids, int n, int t, Tensor<T>? h0 = null, Tensor<T>? c0 = null)
    {
        int L = Layers.Count, H = Config.HiddenSize;
        if (h0 is not null && !h0.HasShape([L, n, H])) throw new ArgumentException($"LmNetwork: h0 has shape {h0.ShapeString}, expected ({L}, {n}, {H}).");
        if (c0 is not null && !c0.HasShape([L, n, H])) throw new ArgumentException($"LmNetwork: c0 has shape {c0.ShapeString}, expected ({L}, {n}, {H}).");
        if (c0 is not null && Config.Cell != "lstm") throw new ArgumentException($"LmNetwork: a {Config.Cell} has no cell state.");
        var x = Embedding.Forward(ids, n, t);
        FinalH = new Tensor<T>(L, n, H);
        FinalC = Config.Cell == "lstm" ? new Tensor<T>(L, n, H) : null;
        for (int l = 0; l < L; l++)
        {
            var layer = Layers[l];
            layer.ResetState();
            if (h0 is not null || c0 is not null)
                layer.SetState(h0?.Slice0(l, 1).Reshape(n, H) ?? new Tensor<T>(n, H),
                               Config.Cell == "lstm" ? c0?.Slice0(l, 1).Reshape(n, H) ?? new Tensor<T>(n, H) : null);
            x = layer.Forward(x);
            FinalH.Slice0(l, 1).Reshape(n, H).CopyFrom(layer.State!);
            if (FinalC is not null) FinalC.Slice0(l, 1).Reshape(n, H).CopyFrom(layer.CellState!);
        }
        return Decoder.Forward(x);
    }

    /// <summary>h of the last step per layer (L, N, H) after <see cref="Forward"/>.</summary>
    public Tensor<T>? FinalH { get; private set; }
    /// <summary>c of the last step per layer (L, N, H) (LSTM) after <see cref="Forward"/>.</summary>
    public Tensor<T>? FinalC { get; private set; }

    /// <summary>PyTorch mode name → <see cref="CellType"/>.</summary>
    public static CellType ToCellType(string cell) => cell switch
    {
        "rnn_tanh" => CellType.Rnn,
        "rnn_relu" => CellType.RnnRelu,
        "lstm" => CellType.Lstm,
        "gru" => CellType.Gru,
        _ => throw new InteropFormatException($"unknown cell '{cell}'."),
    };

    /// <summary><see cref="CellType"/> → PyTorch mode name.</summary>
    public static string CellName(CellType cell) => cell switch
    {
        CellType.Rnn => "rnn_tanh",
        CellType.RnnRelu => "rnn_relu",
        CellType.Lstm => "lstm",
        CellType.Gru => "gru",
        _ => throw new ArgumentException($"unknown cell {cell}."),
    };
}
