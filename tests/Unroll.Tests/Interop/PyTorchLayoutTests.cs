using Unroll.IO;
using Unroll.Tensors;

namespace Unroll.Tests.Interop;

public class PyTorchLayoutTests
{
    [Theory]
    [InlineData("lstm", 2, false)]
    [InlineData("gru", 2, false)]
    [InlineData("rnn_tanh", 1, false)]
    [InlineData("rnn_relu", 2, false)]
    [InlineData("lstm", 2, true)]
    public void ExportThenImportGivesBackTheSameWeights(string cell, int layers, bool tied)
    {
        var w = OnnxExportTests.RoundToFloat(OnnxExportTests.RandomWeights(cell, layers, 21, tied));
        var sd = PyTorchLayout.Export(w);
        Assert.Equal(PyTorchLayout.Names(w.Config), sd.Keys);
        foreach (var (name, shape) in PyTorchLayout.Shapes(w.Config)) Assert.True(sd[name].HasShape(shape), name);
        var back = PyTorchLayout.Import<double>(w.Config, sd);
        AssertSame(w.Embedding, back.Embedding, "embedding");
        AssertSame(w.DecoderW, back.DecoderW, "decoder W");
        AssertSame(w.DecoderB, back.DecoderB, "decoder b");
        for (int l = 0; l < layers; l++)
        {
            AssertSame(w.Layers[l].Wx, back.Layers[l].Wx, $"Wx{l}");
            AssertSame(w.Layers[l].Wh, back.Layers[l].Wh, $"Wh{l}");
            AssertSame(w.Layers[l].B, back.Layers[l].B, $"B{l}");
            if (cell == "gru") AssertSame(w.Layers[l].BhN!, back.Layers[l].BhN!, $"BhN{l}");
            else Assert.Null(back.Layers[l].BhN);
        }
    }

    [Fact]
    public void ExportUsesPyTorchOrientationAndGruHiddenBias()
    {
        var w = OnnxExportTests.RandomWeights("gru", 1, 4);
        var sd = PyTorchLayout.Export(w);
        int H = 6;
        // weight_ih = Wxᵀ: element [row, col] = Wx[col, row]
        Assert.Equal((float)w.Layers[0].Wx[2, 7], sd["rnn.weight_ih_l0"][7, 2]);
        Assert.Equal((float)w.Layers[0].Wh[5, 13], sd["rnn.weight_hh_l0"][13, 5]);
        Assert.Equal((float)w.DecoderW[3, 9], sd["decoder.weight"][9, 3]);
        // b_hh = [0, 0, BhN]
        var bhh = sd["rnn.bias_hh_l0"].Span;
        for (int i = 0; i < 2 * H; i++) Assert.Equal(0f, bhh[i]);
        for (int i = 0; i < H; i++) Assert.Equal((float)w.Layers[0].BhN!.Span[i], bhh[2 * H + i]);
    }

    [Theory]
    [InlineData("lstm")]
    [InlineData("gru")]
    [InlineData("rnn_tanh")]
    public void ImportFoldsNonZeroHiddenBiasesIntoTheSameFunction(string cell)
    {
        // a state_dict with b_hh ≠ 0 everywhere (as PyTorch initialises it); the imported model must compute
        // what PyTorch computes: pre-activation + b_ih + b_hh, and for GRU b_hh_n inside r ⊙ (…).
        var cfg = new LmConfig(cell, 11, 5, 6, 1, false);
        var w = OnnxExportTests.RoundToFloat(LmWeights<double>.Random(cfg, new Rng(9)));
        var sd = PyTorchLayout.Export(w);
        var rng = new Rng(10);
        var extra = new float[sd["rnn.bias_hh_l0"].Length];
        for (int i = 0; i < extra.Length; i++) extra[i] = (float)(rng.NextDouble() - 0.5);
        int H = 6;
        // move `extra` from b_ih into b_hh for the gates where PyTorch adds both at the same place
        for (int i = 0; i < extra.Length; i++)
        {
            bool sameSpot = cell != "gru" || i < 2 * H;
            if (!sameSpot) continue;
            sd["rnn.bias_ih_l0"].Span[i] -= extra[i];
            sd["rnn.bias_hh_l0"].Span[i] += extra[i];
        }
        var back = PyTorchLayout.Import<double>(cfg, sd);
        var (a, ah, _) = ReferenceLm.Forward(w, OnnxExportTests.Ids);
        var (b, bh, _) = ReferenceLm.Forward(back, OnnxExportTests.Ids);
        double d = a.Zip(b, (x, y) => Math.Abs(x - y)).Concat(ah.Zip(bh, (x, y) => Math.Abs(x - y))).Max();
        Assert.True(d <= 1e-6, $"max diff {d:E2}");
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        var cfg = new LmConfig("lstm", 11, 5, 6, 2, false);
        var sd = PyTorchLayout.Export(LmWeights<float>.Random(cfg, new Rng(1)));
        sd.Remove("rnn.weight_hh_l1");
        var e = Assert.Throws<InteropFormatException>(() => PyTorchLayout.Import<float>(cfg, sd));
        Assert.Contains("missing tensor rnn.weight_hh_l1", e.Message);
    }

    [Fact]
    public void ExtraTensorIsNamed()
    {
        var cfg = new LmConfig("gru", 11, 5, 6, 1, false);
        var sd = PyTorchLayout.Export(LmWeights<float>.Random(cfg, new Rng(1)));
        sd["rnn.weight_ih_l1"] = new Tensor<float>(18, 6);
        var e = Assert.Throws<InteropFormatException>(() => PyTorchLayout.Import<float>(cfg, sd));
        Assert.Contains("unexpected tensor rnn.weight_ih_l1", e.Message);
    }

    [Fact]
    public void WrongShapeNamesBothShapes()
    {
        var cfg = new LmConfig("lstm", 11, 5, 6, 1, false);
        var sd = PyTorchLayout.Export(LmWeights<float>.Random(cfg, new Rng(1)));
        sd["rnn.weight_ih_l0"] = new Tensor<float>(5, 24);   // Wx not transposed
        var e = Assert.Throws<InteropFormatException>(() => PyTorchLayout.Import<float>(cfg, sd));
        Assert.Contains("rnn.weight_ih_l0 has shape (5, 24), expected (24, 5)", e.Message);
    }

    [Fact]
    public void ALstmFileIsNotAGru()
    {
        var sd = PyTorchLayout.Export(LmWeights<float>.Random(new LmConfig("lstm", 11, 5, 6, 1, false), new Rng(1)));
        var e = Assert.Throws<InteropFormatException>(() => PyTorchLayout.Import<float>(new LmConfig("gru", 11, 5, 6, 1, false), sd));
        Assert.Contains("rnn.bias_hh_l0 has shape (24), expected (18)", e.Message);
    }

    [Fact]
    public void TiedDecoderMustEqualEncoder()
    {
        var cfg = new LmConfig("lstm", 11, 6, 6, 1, true);
        var sd = PyTorchLayout.Export(LmWeights<float>.Random(cfg, new Rng(1)));
        Assert.Equal(sd["encoder.weight"].ToArray(), sd["decoder.weight"].ToArray());
        sd["decoder.weight"].Span[3] += 1;
        var e = Assert.Throws<InteropFormatException>(() => PyTorchLayout.Import<float>(cfg, sd));
        Assert.Contains("tied", e.Message);
        sd.Remove("decoder.weight");                 // tied files may omit it
        var w = PyTorchLayout.Import<float>(cfg, sd);
        Assert.Equal(sd["encoder.weight"][2, 4], w.DecoderW[4, 2]);
        sd["decoder.weight"] = sd["encoder.weight"]; // … or keep only decoder.weight (safetensors' save_model may)
        sd.Remove("encoder.weight");
        var w2 = PyTorchLayout.Import<float>(cfg, sd);
        Assert.Equal(w.Embedding.ToArray(), w2.Embedding.ToArray());
        Assert.Equal(w.DecoderW.ToArray(), w2.DecoderW.ToArray());
    }

    [Theory]
    [InlineData("lstm", 2)]
    [InlineData("gru", 1)]
    [InlineData("rnn_tanh", 3)]
    public void InferConfigFromNamesAndShapes(string cell, int layers)
    {
        var cfg = new LmConfig(cell, 13, 5, 7, layers, false);
        var sd = PyTorchLayout.Export(LmWeights<float>.Random(cfg, new Rng(1)));
        Assert.Equal(cfg, PyTorchLayout.InferConfig(sd));
    }

    [Fact]
    public void InferConfigRejectsUnknownGateCount()
    {
        var sd = new Dictionary<string, Tensor<float>>
        {
            ["encoder.weight"] = new Tensor<float>(4, 3),
            ["rnn.weight_hh_l0"] = new Tensor<float>(10, 5),
            ["rnn.weight_ih_l0"] = new Tensor<float>(10, 3),
        };
        var e = Assert.Throws<InteropFormatException>(() => PyTorchLayout.InferConfig(sd));
        Assert.Contains("matches no cell", e.Message);
    }

    [Fact]
    public void ConfigJsonRoundTripsAndRejectsBadInput()
    {
        var cfg = new LmConfig("gru", 11, 5, 6, 2, false);
        Assert.Equal(cfg, LmConfig.FromJson(cfg.ToJson()));
        Assert.Contains("invalid JSON", Assert.Throws<InteropFormatException>(() => LmConfig.FromJson("{\"cell\": ")).Message);
        Assert.Contains("unknown cell 'lstmx'", Assert.Throws<InteropFormatException>(() => LmConfig.FromJson(cfg.ToJson().Replace("\"gru\"", "\"lstmx\""))).Message);
        Assert.Contains("missing key 'hidden_size'", Assert.Throws<InteropFormatException>(() => LmConfig.FromJson("{\"cell\":\"gru\",\"vocab_size\":3,\"embed_size\":2,\"num_layers\":1}")).Message);
        Assert.Contains("'vocab_size' must be an integer", Assert.Throws<InteropFormatException>(() => LmConfig.FromJson(cfg.ToJson().Replace("11", "\"11\""))).Message);
        Assert.Contains("must be positive", Assert.Throws<InteropFormatException>(() => LmConfig.FromJson(cfg.ToJson().Replace("\"num_layers\": 2", "\"num_layers\": 0"))).Message);
        Assert.Contains("tied weights need embed_size == hidden_size", Assert.Throws<InteropFormatException>(() => LmConfig.FromJson(cfg.ToJson().Replace("false", "true"))).Message);
        Assert.Contains("unknown key 'dropout'", Assert.Throws<InteropFormatException>(() => LmConfig.FromJson(cfg.ToJson().Replace("{", "{\"dropout\": 0.5,"))).Message);
        Assert.Contains("not an object", Assert.Throws<InteropFormatException>(() => LmConfig.FromJson("[1,2]")).Message);
    }

    private static void AssertSame(Tensor<double> a, Tensor<double> b, string name)
    {
        Assert.True(a.SameShape(b), $"{name}: {a.ShapeString} vs {b.ShapeString}");
        double d = 0;
        for (int i = 0; i < a.Length; i++) d = Math.Max(d, Math.Abs(a.Span[i] - b.Span[i]));
        Assert.True(d == 0, $"{name}: max diff {d:E2}");
    }
}
