using System.Numerics;
using Unroll.Layers;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.IO;

/// <summary>
/// Moves weights between Unroll's trained language models (<see cref="Rnnlm{T}"/>, <see cref="BetterRnnlm{T}"/>,
/// parameters <c>embed.W</c> (V,E), <c>rnn{k}.Wx/Wh/b(/bhN)</c>, <c>out.W</c> (H,V), <c>out.b</c> (V)) and the
/// model-independent <see cref="LmWeights{T}"/> that the PyTorch layout and the ONNX export read and write.
/// </summary>
public static class LmModelBridge
{
    /// <summary>Unroll's cell name (rnn, rnn-relu, lstm, gru) → PyTorch's mode name (rnn_tanh, rnn_relu, lstm, gru).</summary>
    public static string ToPyTorchCell(string cell) => cell switch
    {
        "rnn" => "rnn_tanh",
        "rnn-relu" => "rnn_relu",
        "lstm" or "gru" => cell,
        _ => throw new ArgumentException($"unknown cell '{cell}'."),
    };

    /// <summary>PyTorch's mode name → Unroll's cell name.</summary>
    public static string FromPyTorchCell(string cell) => cell switch
    {
        "rnn_tanh" => "rnn",
        "rnn_relu" => "rnn-relu",
        "lstm" or "gru" => cell,
        _ => throw new InteropFormatException($"unknown cell '{cell}'."),
    };

    /// <summary>A copy of the model's weights (inference form: dropout has no weights).</summary>
    public static LmWeights<T> FromModel<T>(ILanguageModel<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var mc = model.Config;
        var byName = model.Parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
        Tensor<T> Get(string name) => byName.TryGetValue(name, out var p) ? p.Value.Clone()
            : throw new ArgumentException($"LmModelBridge: the model has no parameter '{name}'.");
        var config = new LmConfig(ToPyTorchCell(mc.Cell), mc.Vocab, mc.Embed, mc.Hidden, mc.Layers, mc.Tie).Validate();
        var emb = Get("embed.W");
        var layers = model.Recurrent.Select(l => new RecurrentWeights<T>(l.Wx.Value.Clone(), l.Wh.Value.Clone(), l.B.Value.Clone(),
            l is TimeGRU<T> g ? g.BhN.Value.Clone() : null)).ToList();
        var decW = mc.Tie ? LmWeights<T>.Transpose(emb) : Get("out.W");
        return new LmWeights<T>(config, emb, layers, decW, Get("out.b")).Validate();
    }

    /// <summary>
    /// The Unroll model holding <paramref name="w"/>: <c>rnnlm</c> for one untied layer, else <c>better-rnnlm</c>
    /// (dropout 0; set it before training further). A one-layer tied model becomes an untied <c>rnnlm</c> whose
    /// output weight is a copy of the embedding (the same function; Unroll's rnnlm has no tying).
    /// </summary>
    public static ILanguageModel<T> ToModel<T>(LmWeights<T> w) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var c = w.Validate().Config;
        bool rnnlm = c.Layers == 1;
        if (c.VocabSize < 2) throw new InteropFormatException($"Unroll's language models need a vocabulary of at least 2 tokens (got {c.VocabSize}).");
        var mc = new LanguageModelConfig
        {
            Model = rnnlm ? "rnnlm" : "better-rnnlm",
            Cell = FromPyTorchCell(c.Cell),
            Vocab = c.VocabSize,
            Embed = c.EmbedSize,
            Hidden = c.HiddenSize,
            Layers = c.Layers,
            Dropout = 0,
            Tie = c.Tied && !rnnlm,
        };
        var model = LanguageModels.Create<T>(mc, new Rng(0));
        var byName = model.Parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
        byName["embed.W"].Value.CopyFrom(w.Embedding);
        for (int l = 0; l < c.Layers; l++)
        {
            var layer = model.Recurrent[l];
            layer.Wx.Value.CopyFrom(w.Layers[l].Wx);
            layer.Wh.Value.CopyFrom(w.Layers[l].Wh);
            layer.B.Value.CopyFrom(w.Layers[l].B);
            if (layer is TimeGRU<T> g) g.BhN.Value.CopyFrom(w.Layers[l].BhN!);
        }
        if (!mc.Tie) byName["out.W"].Value.CopyFrom(w.DecoderW);
        byName["out.b"].Value.CopyFrom(w.DecoderB);
        model.Training = false;
        return model;
    }
}

/// <summary>The vocabulary written beside an export (<c>vocab.json</c>): <c>{"kind": "word"|"char", "tokens": [...]}</c>.</summary>
public sealed record ExportVocab(string Kind, string[] Tokens)
{
    /// <summary>The file name in an export directory.</summary>
    public const string FileName = "vocab.json";

    public string ToJson() => new System.Text.Json.Nodes.JsonObject
    {
        ["kind"] = Kind,
        ["tokens"] = new System.Text.Json.Nodes.JsonArray(Tokens.Select(t => (System.Text.Json.Nodes.JsonNode?)t).ToArray()),
    }.ToJsonString(new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";

    /// <summary>Reads <c>{"kind", "tokens"}</c> or a bare JSON array of strings (kind "word"); bad input → <see cref="InteropFormatException"/>.</summary>
    public static ExportVocab Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Vocabulary file not found: {path}", path);
        try
        {
            var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path));
            string kind = "word";
            System.Text.Json.Nodes.JsonArray? arr = node as System.Text.Json.Nodes.JsonArray;
            if (node is System.Text.Json.Nodes.JsonObject o)
            {
                kind = o["kind"]?.GetValue<string>() ?? "word";
                arr = o["tokens"] as System.Text.Json.Nodes.JsonArray;
            }
            if (arr is null) throw new InteropFormatException($"{path}: expected {{\"kind\": ..., \"tokens\": [...]}} or a JSON array of tokens.");
            if (kind is not ("word" or "char")) throw new InteropFormatException($"{path}: kind must be \"word\" or \"char\", got \"{kind}\".");
            var tokens = arr.Select(t => t?.GetValue<string>() ?? throw new InteropFormatException($"{path}: a token is null.")).ToArray();
            if (tokens.Distinct(StringComparer.Ordinal).Count() != tokens.Length) throw new InteropFormatException($"{path}: the vocabulary has repeated tokens.");
            return new ExportVocab(kind, tokens);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException and not InteropFormatException)
        {
            throw new InteropFormatException($"{path}: not a valid vocabulary file ({e.Message.Split('\n')[0]}).");
        }
    }
}

/// <summary>Checkpoint ↔ model glue for <c>unroll export</c>/<c>unroll import</c>.</summary>
public static class LmCheckpoints
{
    /// <summary>The model stored in a checkpoint (weights loaded, evaluation mode) and its metadata.</summary>
    public static (ILanguageModel<float> Model, CheckpointMeta Meta) Load(string path)
    {
        var ck = Checkpoint.Load(path);
        var config = LanguageModelConfig.FromJson(ck.Meta.Config);
        try { config.Validate(); }
        catch (ArgumentException e) { throw new InvalidDataException($"{path}: the model configuration is not valid: {e.Message}"); }
        var model = LanguageModels.Create<float>(config, new Rng(0));
        ck.LoadParameters(model.Parameters.ToList());
        model.Training = false;
        return (model, ck.Meta);
    }

    /// <summary>Writes an imported model as a fresh checkpoint (step 0, no optimizer state, no carried state).</summary>
    public static void Save(string path, ILanguageModel<float> model, ExportVocab vocab)
    {
        if (vocab.Tokens.Length != model.Config.Vocab)
            throw new InteropFormatException($"the vocabulary has {vocab.Tokens.Length} tokens but the weights have vocab_size {model.Config.Vocab}.");
        var meta = new CheckpointMeta { Config = model.Config.ToJson(), VocabKind = vocab.Kind, Vocab = vocab.Tokens };
        Checkpoint.Save(path, meta, model.Parameters.ToList(), null, []);
    }
}
