using Unroll.Cli;
using Unroll.IO;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Tests.Interop;

/// <summary>The model bridge and <c>unroll export</c> / <c>unroll import</c> end to end.</summary>
public class InteropCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "unroll-interop-" + Guid.NewGuid().ToString("N"));

    public InteropCliTests() => Directory.CreateDirectory(_dir);
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static readonly int[] Ids = [3, 0, 10, 7, 7, 1, 1, 4, 9, 2, 5, 0];   // (2, 6)

    private static ILanguageModel<float> Model(string model, string cell, int layers, bool tie)
    {
        var m = LanguageModels.Create<float>(new LanguageModelConfig
        {
            Model = model, Cell = cell, Vocab = 11, Embed = tie ? 6 : 5, Hidden = 6, Layers = layers, Tie = tie, Dropout = model == "rnnlm" ? 0 : 0.3,
        }, new Rng(42));
        // the textbook init leaves biases 0 and the embedding tiny: randomise everything so the mapping is exercised
        var rng = new Rng(43);
        foreach (var p in m.Parameters) for (int i = 0; i < p.Value.Length; i++) p.Value.Span[i] = (float)(rng.NextDouble() - 0.5);
        m.Training = false;
        return m;
    }

    private static float[] Logits(ILanguageModel<float> m)
    {
        m.Training = false;
        m.ResetState();
        return m.Logits(Ids, 2, 6).ToArray();
    }

    private static ExportVocab Vocab() => new("word", Enumerable.Range(0, 11).Select(i => $"w{i}").ToArray());

    public static TheoryData<string, string, int, bool> Models() => new()
    {
        { "rnnlm", "lstm", 1, false }, { "rnnlm", "gru", 1, false }, { "rnnlm", "rnn-relu", 1, false },
        { "better-rnnlm", "gru", 2, false }, { "better-rnnlm", "lstm", 2, true }, { "better-rnnlm", "rnn", 3, false },
    };

    [Theory, MemberData(nameof(Models))]
    public void BridgeMatchesTheModelsForward(string model, string cell, int layers, bool tie)
    {
        var m = Model(model, cell, layers, tie);
        var w = LmModelBridge.FromModel(m);
        var net = new LmNetwork<float>(w);
        var a = Logits(m);
        var b = net.Forward(Ids, 2, 6).ToArray();
        Assert.Equal(a, b);                                    // same layers, same numbers: bit-identical
        var back = LmModelBridge.ToModel(w);
        Assert.Equal(model, back.Config.Model);
        Assert.Equal(tie, back.Config.Tie);
        Assert.Equal(a, Logits(back));
    }

    [Theory, MemberData(nameof(Models))]
    public void ExportThenImportThroughTheCliKeepsTheLogits(string model, string cell, int layers, bool tie)
    {
        var m = Model(model, cell, layers, tie);
        var ck = Path.Combine(_dir, "checkpoint.safetensors");
        LmCheckpoints.Save(ck, m, Vocab());

        var (code, o, e) = Run("export", "--checkpoint", ck, "--format", "safetensors", "--layout", "pytorch", "--out", Path.Combine(_dir, "pt"));
        Assert.True(code == 0, e);
        Assert.Contains("exported", o);
        foreach (var f in new[] { "model.safetensors", "config.json", "vocab.json" }) Assert.True(File.Exists(Path.Combine(_dir, "pt", f)), f);

        (code, o, e) = Run("import", "--from", Path.Combine(_dir, "pt", "model.safetensors"), "--out", Path.Combine(_dir, "back"));
        Assert.True(code == 0, e);
        var (back, meta) = LmCheckpoints.Load(Path.Combine(_dir, "back", "checkpoint.safetensors"));
        Assert.Equal(Vocab().Tokens, meta.Vocab);
        Assert.Equal(Logits(m), Logits(back));

        (code, _, e) = Run("export", "--checkpoint", ck, "--format", "onnx", "--out", Path.Combine(_dir, "onnx"));
        Assert.True(code == 0, e);
        var ids = new long[2, 6];
        for (int i = 0; i < 12; i++) ids[i / 6, i % 6] = Ids[i];
        var (ol, _, _) = OnnxRunner.Run(File.ReadAllBytes(Path.Combine(_dir, "onnx", "model.onnx")), ids, layers, 6);
        var ul = Logits(m);
        double d = 0;
        for (int i = 0; i < ul.Length; i++) d = Math.Max(d, Math.Abs(ul[i] - ol[i]));
        Assert.True(d <= 1e-5, $"ONNX Runtime vs the checkpoint's model: {d:E2}");
    }

    [Fact]
    public void ImportOfPyTorchFixtureWithoutSidecarOrVocabUsesPlaceholders()
    {
        var src = Path.Combine(_dir, "lm.safetensors");
        File.Copy(Path.Combine(PyTorchFixtureTests.Dir, "torch_gru_l2.safetensors"), src);
        var (code, o, e) = Run("import", "--from", src, "--out", Path.Combine(_dir, "imp"), "--json");
        Assert.True(code == 0, e);
        Assert.Contains("\"config_inferred\":true", o);
        Assert.Contains("no vocabulary given", e);
        var (m, meta) = LmCheckpoints.Load(Path.Combine(_dir, "imp", "checkpoint.safetensors"));
        Assert.Equal("<10>", meta.Vocab[10]);
        Assert.Equal("gru", m.Config.Cell);
        Assert.Equal(2, m.Config.Layers);
    }

    [Fact]
    public void ImportErrorsAreOneLineAndWriteNothing()
    {
        var src = Path.Combine(PyTorchFixtureTests.Dir, "torch_lstm_l2.safetensors");
        var cfg = Path.Combine(_dir, "gru.json");
        File.WriteAllText(cfg, new LmConfig("gru", 11, 5, 6, 2, false).ToJson());
        var outDir = Path.Combine(_dir, "x");
        var (code, _, e) = Run("import", "--from", src, "--config", cfg, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("has shape (24), expected (18)", e);
        Assert.Single(e.Trim().Split('\n'));
        Assert.False(Directory.Exists(outDir));

        (code, _, e) = Run("import", "--from", Path.Combine(_dir, "nope.safetensors"), "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("not found", e);

        var bad = Path.Combine(_dir, "bad.safetensors");
        File.WriteAllBytes(bad, [1, 2, 3]);
        (code, _, e) = Run("import", "--from", bad, "--out", outDir);
        Assert.Equal(2, code);
        Assert.False(Directory.Exists(outDir));

        var vocab = Path.Combine(_dir, "v.json");
        File.WriteAllText(vocab, "[\"a\", \"b\"]");
        (code, _, e) = Run("import", "--from", src, "--vocab", vocab, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("has 2 tokens but the weights have vocab_size 11", e);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void ExportRejectsBadFlagsAndBadCheckpoints()
    {
        var ck = Path.Combine(_dir, "checkpoint.safetensors");
        LmCheckpoints.Save(ck, Model("rnnlm", "lstm", 1, false), Vocab());
        var outDir = Path.Combine(_dir, "o");
        var (code, _, e) = Run("export", "--checkpoint", ck, "--format", "tflite", "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("--format must be safetensors or onnx", e);
        (code, _, e) = Run("export", "--checkpoint", ck, "--layout", "keras", "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("--layout must be pytorch", e);
        // a PyTorch-layout safetensors file is not a checkpoint
        (code, _, e) = Run("export", "--checkpoint", Path.Combine(PyTorchFixtureTests.Dir, "torch_lstm_l1.safetensors"), "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("not an Unroll checkpoint", e);
        Assert.False(Directory.Exists(outDir));
    }
}
