using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Unroll.Tensors;

namespace Unroll.IO;

/// <summary>
/// The configuration of a language model Embedding → (RNN|LSTM|GRU)×L → Linear, as written to the JSON sidecar
/// next to an exported weight file. <see cref="Cell"/> uses PyTorch's mode names: <c>"rnn_tanh"</c>,
/// <c>"rnn_relu"</c>, <c>"lstm"</c>, <c>"gru"</c>.
/// </summary>
public sealed record LmConfig(string Cell, int VocabSize, int EmbedSize, int HiddenSize, int Layers, bool Tied)
{
    /// <summary>The <c>format</c> value of the sidecar.</summary>
    public const string FormatTag = "unroll-lm-pytorch";
    /// <summary>The cell names accepted, in PyTorch's spelling.</summary>
    public static readonly IReadOnlyList<string> Cells = ["rnn_tanh", "rnn_relu", "lstm", "gru"];

    /// <summary>Gate count k: the recurrent weights have k·H columns (4 LSTM, 3 GRU, 1 RNN).</summary>
    public int Gates => Cell switch { "lstm" => 4, "gru" => 3, _ => 1 };

    /// <summary>Throws <see cref="InteropFormatException"/> if a size is not positive, the cell is unknown, or tying
    /// is asked for with embed ≠ hidden.</summary>
    public LmConfig Validate()
    {
        if (!Cells.Contains(Cell))
            throw new InteropFormatException($"model config: unknown cell '{Cell}' (expected one of {string.Join(", ", Cells)}).");
        if (VocabSize <= 0 || EmbedSize <= 0 || HiddenSize <= 0 || Layers <= 0)
            throw new InteropFormatException($"model config: vocab_size, embed_size, hidden_size and num_layers must be positive (got {VocabSize}, {EmbedSize}, {HiddenSize}, {Layers}).");
        if (Tied && EmbedSize != HiddenSize)
            throw new InteropFormatException($"model config: tied weights need embed_size == hidden_size (got {EmbedSize} and {HiddenSize}).");
        return this;
    }

    /// <summary>The sidecar JSON (stable key order, indented).</summary>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["format"] = FormatTag,
            ["cell"] = Cell,
            ["vocab_size"] = VocabSize,
            ["embed_size"] = EmbedSize,
            ["hidden_size"] = HiddenSize,
            ["num_layers"] = Layers,
            ["tied"] = Tied,
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>Parses and validates a sidecar; any problem → <see cref="InteropFormatException"/> naming it.</summary>
    public static LmConfig FromJson(string json)
    {
        JsonObject o;
        try
        {
            o = JsonNode.Parse(json) as JsonObject ?? throw new InteropFormatException("model config: the JSON is not an object.");
        }
        catch (JsonException e)
        {
            throw new InteropFormatException($"model config: invalid JSON ({e.Message}).");
        }
        string? format = Get<string>(o, "format", required: false);
        if (format is not null && format != FormatTag)
            throw new InteropFormatException($"model config: format is '{format}', expected '{FormatTag}'.");
        var known = new HashSet<string> { "format", "cell", "vocab_size", "embed_size", "hidden_size", "num_layers", "tied" };
        foreach (var kv in o)
            if (!known.Contains(kv.Key)) throw new InteropFormatException($"model config: unknown key '{kv.Key}'.");
        return new LmConfig(
            Get<string>(o, "cell")!,
            Get<int>(o, "vocab_size"),
            Get<int>(o, "embed_size"),
            Get<int>(o, "hidden_size"),
            Get<int>(o, "num_layers"),
            Get<bool>(o, "tied", required: false)).Validate();
    }

    private static TV? Get<TV>(JsonObject o, string key, bool required = true)
    {
        if (!o.TryGetPropertyValue(key, out var node) || node is null)
        {
            if (required) throw new InteropFormatException($"model config: missing key '{key}'.");
            return default;
        }
        try { return node.GetValue<TV>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InteropFormatException($"model config: '{key}' must be {(typeof(TV) == typeof(string) ? "a string" : typeof(TV) == typeof(bool) ? "true or false" : "an integer")} (got {node.ToJsonString()}).");
        }
    }
}

/// <summary>
/// Bad interop input (a weight file or sidecar that does not describe the chosen model): one clear message.
/// Derives from <see cref="FormatException"/>, so the CLI reports it as bad input (exit 2).
/// </summary>
public sealed class InteropFormatException(string message) : FormatException(message);

/// <summary>The weights of one recurrent layer in Unroll's convention: a = x·Wx + h·Wh + B (gate order i,f,g,o / r,z,n).</summary>
/// <param name="Wx">(D, kH)</param>
/// <param name="Wh">(H, kH)</param>
/// <param name="B">(kH): for LSTM/RNN PyTorch's b_ih + b_hh; for GRU b_ih + [b_hh_r, b_hh_z, 0].</param>
/// <param name="BhN">GRU only, (H): PyTorch's b_hh_n, added to h·Wh_n inside r ⊙ (…); null otherwise.</param>
public sealed record RecurrentWeights<T>(Tensor<T> Wx, Tensor<T> Wh, Tensor<T> B, Tensor<T>? BhN)
    where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// The parameters of a language model Embedding → (RNN|LSTM|GRU)×L → Linear, in Unroll's orientation — the
/// model-independent form that <see cref="PyTorchLayout"/> and <see cref="OnnxExport"/> read and write.
/// </summary>
/// <param name="Config">Sizes and cell.</param>
/// <param name="Embedding">(V, E)</param>
/// <param name="Layers">L layers; layer 0 has D = E, the others D = H.</param>
/// <param name="DecoderW">(H, V): logits = h · DecoderW + DecoderB. With tying it equals Embeddingᵀ.</param>
/// <param name="DecoderB">(V)</param>
public sealed record LmWeights<T>(LmConfig Config, Tensor<T> Embedding, IReadOnlyList<RecurrentWeights<T>> Layers,
    Tensor<T> DecoderW, Tensor<T> DecoderB) where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Checks every shape against <see cref="Config"/>; throws <see cref="ArgumentException"/> naming the tensor.</summary>
    public LmWeights<T> Validate()
    {
        var c = Config.Validate();
        int k = c.Gates, H = c.HiddenSize;
        Expect("embedding", Embedding, c.VocabSize, c.EmbedSize);
        if (Layers.Count != c.Layers) throw new ArgumentException($"LmWeights: {Layers.Count} recurrent layers but the config says {c.Layers}.");
        for (int l = 0; l < Layers.Count; l++)
        {
            var w = Layers[l];
            Expect($"layer {l} Wx", w.Wx, l == 0 ? c.EmbedSize : H, k * H);
            Expect($"layer {l} Wh", w.Wh, H, k * H);
            Expect($"layer {l} B", w.B, k * H);
            if (c.Cell == "gru") Expect($"layer {l} BhN", w.BhN ?? throw new ArgumentException($"LmWeights: GRU layer {l} has no BhN."), H);
            else if (w.BhN is not null) throw new ArgumentException($"LmWeights: layer {l} is {c.Cell} but has a BhN.");
        }
        Expect("decoder W", DecoderW, H, c.VocabSize);
        Expect("decoder b", DecoderB, c.VocabSize);
        return this;
    }

    private static void Expect(string name, Tensor<T> t, params int[] shape)
    {
        if (!t.HasShape(shape))
            throw new ArgumentException($"LmWeights: {name} has shape {t.ShapeString}, expected {Tensor<T>.Format(shape)}.");
    }

    /// <summary>Random weights (uniform ±scale, every tensor including biases) — for tests and fixtures.</summary>
    public static LmWeights<T> Random(LmConfig config, Rng rng, double scale = 0.5)
    {
        var c = config.Validate();
        int k = c.Gates, H = c.HiddenSize;
        Tensor<T> U(params int[] shape)
        {
            var t = new Tensor<T>(shape);
            var s = t.Span;
            for (int i = 0; i < s.Length; i++) s[i] = T.CreateTruncating((2 * rng.NextDouble() - 1) * scale);
            return t;
        }
        var emb = U(c.VocabSize, c.EmbedSize);
        var layers = new List<RecurrentWeights<T>>();
        for (int l = 0; l < c.Layers; l++)
            layers.Add(new RecurrentWeights<T>(U(l == 0 ? c.EmbedSize : H, k * H), U(H, k * H), U(k * H), c.Cell == "gru" ? U(H) : null));
        var dw = c.Tied ? Transpose(emb) : U(H, c.VocabSize);
        return new LmWeights<T>(c, emb, layers, dw, U(c.VocabSize));
    }

    /// <summary>A new (cols, rows) tensor holding the transpose of a rank-2 tensor.</summary>
    public static Tensor<T> Transpose(Tensor<T> a)
    {
        int r = a.Dim(0), cols = a.Dim(1);
        var t = new Tensor<T>(cols, r);
        for (int i = 0; i < r; i++)
            for (int j = 0; j < cols; j++) t[j, i] = a[i, j];
        return t;
    }
}
