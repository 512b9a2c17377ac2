using System.Numerics;
using Unroll.Tensors;

namespace Unroll.IO;

/// <summary>
/// The mapping between Unroll's language-model parameters (<see cref="LmWeights{T}"/>) and the state_dict of
/// PyTorch's word-language-model (<c>nn.Embedding → nn.RNN/LSTM/GRU → nn.Linear</c>, attribute names
/// <c>encoder</c>, <c>rnn</c>, <c>decoder</c>):
/// <list type="table">
/// <item><term><c>encoder.weight</c> [V×E]</term><description>Embedding (V, E), as is.</description></item>
/// <item><term><c>rnn.weight_ih_l{k}</c> [kH×D]</term><description>Wxᵀ (Wx is D×kH); same gate order (i,f,g,o / r,z,n).</description></item>
/// <item><term><c>rnn.weight_hh_l{k}</c> [kH×H]</term><description>Whᵀ.</description></item>
/// <item><term><c>rnn.bias_ih_l{k}</c>, <c>rnn.bias_hh_l{k}</c> [kH]</term><description>Export b_ih = B, b_hh = 0
/// (GRU: b_hh = [0, 0, BhN]). Import B = b_ih + b_hh (GRU: B = b_ih + [b_hh_r, b_hh_z, 0], BhN = b_hh_n).</description></item>
/// <item><term><c>decoder.weight</c> [V×H]</term><description>DecoderWᵀ (DecoderW is H×V); with tying, the embedding.</description></item>
/// <item><term><c>decoder.bias</c> [V]</term><description>DecoderB.</description></item>
/// </list>
/// Tensors are float32 (<see cref="Tensor{T}"/> of float) in both directions.
/// </summary>
public static partial class PyTorchLayout
{
    /// <summary>The names a model with <paramref name="c"/> has, sorted ordinally.</summary>
    public static IReadOnlyList<string> Names(LmConfig c)
    {
        var names = new List<string> { "encoder.weight", "decoder.weight", "decoder.bias" };
        for (int l = 0; l < c.Layers; l++)
            names.AddRange([$"rnn.weight_ih_l{l}", $"rnn.weight_hh_l{l}", $"rnn.bias_ih_l{l}", $"rnn.bias_hh_l{l}"]);
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>The expected PyTorch shape of every name for <paramref name="c"/>.</summary>
    public static IReadOnlyDictionary<string, int[]> Shapes(LmConfig c)
    {
        int k = c.Gates, H = c.HiddenSize, V = c.VocabSize;
        var d = new Dictionary<string, int[]>
        {
            ["encoder.weight"] = [V, c.EmbedSize],
            ["decoder.weight"] = [V, H],
            ["decoder.bias"] = [V],
        };
        for (int l = 0; l < c.Layers; l++)
        {
            d[$"rnn.weight_ih_l{l}"] = [k * H, l == 0 ? c.EmbedSize : H];
            d[$"rnn.weight_hh_l{l}"] = [k * H, H];
            d[$"rnn.bias_ih_l{l}"] = [k * H];
            d[$"rnn.bias_hh_l{l}"] = [k * H];
        }
        return d;
    }

    /// <summary>Unroll → PyTorch: the state_dict tensors (float32), keyed by PyTorch name, sorted ordinally.</summary>
    public static SortedDictionary<string, Tensor<float>> Export<T>(LmWeights<T> w) where T : unmanaged, IFloatingPointIeee754<T>
    {
        w.Validate();
        var c = w.Config;
        int H = c.HiddenSize, k = c.Gates;
        var d = new SortedDictionary<string, Tensor<float>>(StringComparer.Ordinal)
        {
            ["encoder.weight"] = w.Embedding.Cast<float>(),
            // decoder.weight (V×H) = DecoderWᵀ; with tying PyTorch's decoder.weight IS encoder.weight
            ["decoder.weight"] = c.Tied ? w.Embedding.Cast<float>() : LmWeights<float>.Transpose(w.DecoderW.Cast<float>()),
            ["decoder.bias"] = w.DecoderB.Cast<float>(),
        };
        for (int l = 0; l < c.Layers; l++)
        {
            var lw = w.Layers[l];
            d[$"rnn.weight_ih_l{l}"] = LmWeights<float>.Transpose(lw.Wx.Cast<float>());
            d[$"rnn.weight_hh_l{l}"] = LmWeights<float>.Transpose(lw.Wh.Cast<float>());
            d[$"rnn.bias_ih_l{l}"] = lw.B.Cast<float>();
            var bhh = new Tensor<float>(k * H);                     // b_hh = 0 …
            if (c.Cell == "gru") lw.BhN!.Cast<float>().Span.CopyTo(bhh.Span.Slice(2 * H, H));   // … GRU: [0, 0, BhN]
            d[$"rnn.bias_hh_l{l}"] = bhh;
        }
        return d;
    }

    /// <summary>
    /// PyTorch → Unroll: reads the tensors of a state_dict for the model <paramref name="config"/>. A missing
    /// tensor, an extra tensor, or a wrong shape throws <see cref="InteropFormatException"/> naming it (and, for
    /// shapes, both shapes). With <see cref="LmConfig.Tied"/>, one of <c>encoder.weight</c>/<c>decoder.weight</c>
    /// may be absent (PyTorch's safetensors keeps one name of a shared tensor); if both are present they must be equal.
    /// </summary>
    public static LmWeights<T> Import<T>(LmConfig config, IReadOnlyDictionary<string, Tensor<float>> tensors) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var c = config.Validate();
        var shapes = Shapes(c);
        if (c.Tied && !tensors.ContainsKey("encoder.weight") && tensors.TryGetValue("decoder.weight", out var only))
        {
            // safetensors.torch.save_model keeps one name of a shared tensor; with tying that may be decoder.weight
            var copy = new Dictionary<string, Tensor<float>>(tensors, StringComparer.Ordinal) { ["encoder.weight"] = only };
            copy.Remove("decoder.weight");
            tensors = copy;
        }
        var missing = shapes.Keys.Where(n => !tensors.ContainsKey(n) && !(c.Tied && n == "decoder.weight")).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
            throw new InteropFormatException($"weights for a {Describe(c)}: missing tensor{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)}.");
        var extra = tensors.Keys.Where(n => !shapes.ContainsKey(n)).Order(StringComparer.Ordinal).ToList();
        if (extra.Count > 0)
            throw new InteropFormatException($"weights for a {Describe(c)}: unexpected tensor{(extra.Count > 1 ? "s" : "")} {string.Join(", ", extra)}.");
        foreach (var (name, shape) in shapes.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            if (tensors.TryGetValue(name, out var t) && !t.HasShape(shape))
                throw new InteropFormatException($"weights for a {Describe(c)}: {name} has shape {t.ShapeString}, expected {Tensor<float>.Format(shape)}.");

        int H = c.HiddenSize;
        var emb = tensors["encoder.weight"].Cast<T>();
        Tensor<T> decW;
        if (c.Tied)
        {
            if (tensors.TryGetValue("decoder.weight", out var dw) && !dw.Span.SequenceEqual(tensors["encoder.weight"].Span))
                throw new InteropFormatException("weights: the config says tied but decoder.weight differs from encoder.weight.");
            decW = LmWeights<T>.Transpose(emb);
        }
        else decW = LmWeights<T>.Transpose(tensors["decoder.weight"].Cast<T>());

        var layers = new List<RecurrentWeights<T>>();
        for (int l = 0; l < c.Layers; l++)
        {
            var wx = LmWeights<T>.Transpose(tensors[$"rnn.weight_ih_l{l}"].Cast<T>());   // Wx = W_ihᵀ
            var wh = LmWeights<T>.Transpose(tensors[$"rnn.weight_hh_l{l}"].Cast<T>());   // Wh = W_hhᵀ
            var bih = tensors[$"rnn.bias_ih_l{l}"].Cast<T>();
            var bhh = tensors[$"rnn.bias_hh_l{l}"].Cast<T>();
            var b = bih.Clone();
            Tensor<T>? bhn = null;
            if (c.Cell == "gru")
            {
                // B = b_ih + [b_hh_r, b_hh_z, 0]; BhN = b_hh_n (it sits inside r ⊙ (h·Wh_n + b_hh_n))
                var bs = b.Span; var hs = bhh.Span;
                for (int i = 0; i < 2 * H; i++) bs[i] += hs[i];
                bhn = Tensor<T>.FromArray(hs.Slice(2 * H, H), H);
            }
            else
            {
                // B = b_ih + b_hh (both are added to the same pre-activation)
                var bs = b.Span; var hs = bhh.Span;
                for (int i = 0; i < bs.Length; i++) bs[i] += hs[i];
            }
            layers.Add(new RecurrentWeights<T>(wx, wh, b, bhn));
        }
        return new LmWeights<T>(c, emb, layers, decW, tensors["decoder.bias"].Cast<T>()).Validate();
    }

    /// <summary>
    /// Infers the configuration from a state_dict alone (when no sidecar is given): V and E from
    /// <c>encoder.weight</c>, L from the highest <c>rnn.weight_ih_l{k}</c>, H from <c>rnn.weight_hh_l0</c>, the
    /// cell from kH/H (4 → lstm, 3 → gru, 1 → rnn_tanh; a ReLU RNN cannot be told apart and needs the sidecar);
    /// tied when <c>decoder.weight</c> is absent. Throws <see cref="InteropFormatException"/> when it cannot.
    /// </summary>
    public static LmConfig InferConfig(IReadOnlyDictionary<string, Tensor<float>> tensors)
    {
        if (!tensors.TryGetValue("encoder.weight", out var enc) || enc.Rank != 2)
            throw new InteropFormatException("weights: cannot infer the model without a 2-D encoder.weight (pass the config sidecar).");
        if (!tensors.TryGetValue("rnn.weight_hh_l0", out var whh) || whh.Rank != 2 || whh.Dim(1) == 0)
            throw new InteropFormatException("weights: cannot infer the model without a 2-D rnn.weight_hh_l0 (pass the config sidecar).");
        int H = whh.Dim(1);
        if (whh.Dim(0) % H != 0)
            throw new InteropFormatException($"weights: rnn.weight_hh_l0 has shape {whh.ShapeString}; rows must be 1, 3 or 4 times the columns.");
        string cell = (whh.Dim(0) / H) switch
        {
            1 => "rnn_tanh",
            3 => "gru",
            4 => "lstm",
            var k => throw new InteropFormatException($"weights: rnn.weight_hh_l0 has shape {whh.ShapeString}: {k}·H rows matches no cell (1 RNN, 3 GRU, 4 LSTM)."),
        };
        int layers = 0;
        while (tensors.ContainsKey($"rnn.weight_ih_l{layers}")) layers++;
        if (layers == 0) throw new InteropFormatException("weights: no rnn.weight_ih_l0.");
        return new LmConfig(cell, enc.Dim(0), enc.Dim(1), H, layers, !tensors.ContainsKey("decoder.weight")).Validate();
    }

    private static string Describe(LmConfig c) =>
        $"{c.Layers}-layer {c.Cell} model (V={c.VocabSize}, E={c.EmbedSize}, H={c.HiddenSize}{(c.Tied ? ", tied" : "")})";
}
