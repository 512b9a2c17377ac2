using System.Text.Json;
using Unroll.IO;
using Unroll.Tensors;
using Xunit.Abstractions;

namespace Unroll.Tests.Interop;

/// <summary>
/// Golden fixtures from PyTorch (bench/reference/interop_fixtures.py, Debian python3-torch):
/// torch_* — weights PyTorch initialised, imported into Unroll; unroll_* — weights Unroll exported (bytes checked
/// against the committed file), loaded in PyTorch by the docs/interop.md snippet. Both compare logits and final
/// states (PyTorch computed in float64) with Unroll's float32 forward.
/// </summary>
public class PyTorchFixtureTests(ITestOutputHelper output)
{
    internal static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "interop");

    /// <summary>Same list as CASES in interop_fixtures.py: name, cell, V, E, H, L, tied.</summary>
    internal static readonly string[] CaseNames =
        ["lstm_l1", "lstm_l2", "gru_l1", "gru_l2", "rnn_tanh_l1", "rnn_tanh_l2", "rnn_relu_l1", "lstm_l2_tied"];

    public static TheoryData<string> Names() => new(CaseNames);

    internal sealed record Expected(long[,] Ids, float[] H0, float[]? C0, int[] LogitsShape, double[] Logits, double[] Hn, double[]? Cn);

    internal static Expected ReadExpected(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var r = doc.RootElement;
        var rows = r.GetProperty("ids").EnumerateArray().Select(a => a.EnumerateArray().Select(x => x.GetInt64()).ToArray()).ToArray();
        var ids = new long[rows.Length, rows[0].Length];
        for (int i = 0; i < rows.Length; i++) for (int j = 0; j < rows[i].Length; j++) ids[i, j] = rows[i][j];
        static double[]? D(JsonElement e) => e.ValueKind == JsonValueKind.Null ? null : e.EnumerateArray().Select(x => x.GetDouble()).ToArray();
        return new Expected(ids,
            D(r.GetProperty("h0"))!.Select(x => (float)x).ToArray(),
            D(r.GetProperty("c0"))?.Select(x => (float)x).ToArray(),
            r.GetProperty("logits_shape").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            D(r.GetProperty("logits"))!, D(r.GetProperty("h_n"))!, D(r.GetProperty("c_n")));
    }

    internal static double MaxDiff(ReadOnlySpan<float> a, double[] b)
    {
        Assert.Equal(b.Length, a.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    /// <summary>Unroll's float32 forward (its own layers) on <paramref name="w"/>; the max |diff| to PyTorch's float64 results.</summary>
    internal static (double Logits, double States) CompareUnroll(LmWeights<float> w, Expected e)
    {
        int N = e.Ids.GetLength(0), T = e.Ids.GetLength(1), L = w.Config.Layers, H = w.Config.HiddenSize;
        var ids = new int[N * T];
        for (int n = 0; n < N; n++) for (int t = 0; t < T; t++) ids[n * T + t] = (int)e.Ids[n, t];
        var net = new LmNetwork<float>(w);
        var logits = net.Forward(ids, N, T, Tensor<float>.FromArray(e.H0, L, N, H), e.C0 is null ? null : Tensor<float>.FromArray(e.C0, L, N, H));
        Assert.True(logits.HasShape(e.LogitsShape), $"logits {logits.ShapeString}");
        double dl = MaxDiff(logits.Span, e.Logits);
        double ds = MaxDiff(net.FinalH!.Span, e.Hn);
        if (e.Cn is not null) ds = Math.Max(ds, MaxDiff(net.FinalC!.Span, e.Cn));
        return (dl, ds);
    }

    /// <summary>ONNX Runtime on the ONNX export of <paramref name="w"/>; the max |diff| to PyTorch's results.</summary>
    internal static double CompareOnnx(LmWeights<float> w, Expected e)
    {
        var (logits, hn, cn) = OnnxRunner.Run(OnnxExport.ToBytes(w), e.Ids, w.Config.Layers, w.Config.HiddenSize, e.H0, e.C0);
        double d = Math.Max(MaxDiff(logits, e.Logits), MaxDiff(hn, e.Hn));
        if (e.Cn is not null) d = Math.Max(d, MaxDiff(cn!, e.Cn));
        return d;
    }

    [Theory, MemberData(nameof(Names))]
    public void PyTorchWeightsImportedIntoUnrollGiveTheSameLogits(string name)
    {
        var config = PyTorchLayout.ReadConfig(Path.Combine(Dir, $"torch_{name}.config.json"));
        var file = Path.Combine(Dir, $"torch_{name}.safetensors");
        var w = PyTorchLayout.ReadSafeTensors<float>(file, config);
        if (config.Cell != "rnn_relu")
        {
            // without the sidecar the configuration is inferred (tying: PyTorch's state_dict keeps both names,
            // so the inferred model is the untied one computing the same function)
            var inferred = PyTorchLayout.ReadSafeTensors<float>(file).Config;
            Assert.Equal(config with { Tied = false }, inferred);
        }
        var e = ReadExpected(Path.Combine(Dir, $"torch_{name}.expected.json"));
        var (dl, ds) = CompareUnroll(w, e);
        double dOnnx = CompareOnnx(w, e);
        output.WriteLine($"torch→unroll {name}: max|Δlogits| {dl:E2}, max|Δstate| {ds:E2}; ONNX Runtime on Unroll's ONNX export: {dOnnx:E2}");
        Assert.True(dl <= 1e-5 && ds <= 1e-5, $"{name}: Unroll vs PyTorch logits {dl:E2}, states {ds:E2}");
        Assert.True(dOnnx <= 1e-5, $"{name}: ONNX Runtime vs PyTorch {dOnnx:E2}");
    }

    /// <summary>The Unroll → PyTorch fixture cases: (name, config, seed) — regenerated by <see cref="UnrollExportsAreDeterministicAndPyTorchAgrees"/>
    /// when UNROLL_WRITE_INTEROP_FIXTURES names the source fixture directory.</summary>
    internal static LmWeights<float> UnrollCase(string name)
    {
        var c = name switch
        {
            "lstm_l1" => new LmConfig("lstm", 11, 5, 6, 1, false),
            "lstm_l2" => new LmConfig("lstm", 11, 5, 6, 2, false),
            "gru_l1" => new LmConfig("gru", 11, 5, 6, 1, false),
            "gru_l2" => new LmConfig("gru", 11, 5, 6, 2, false),
            "rnn_tanh_l1" => new LmConfig("rnn_tanh", 11, 5, 6, 1, false),
            "rnn_tanh_l2" => new LmConfig("rnn_tanh", 11, 5, 6, 2, false),
            "rnn_relu_l1" => new LmConfig("rnn_relu", 11, 5, 6, 1, false),
            "lstm_l2_tied" => new LmConfig("lstm", 11, 6, 6, 2, true),
            _ => throw new ArgumentException(name),
        };
        ulong seed = 500 + (ulong)Array.IndexOf(CaseNames, name);
        return LmWeights<float>.Random(c, new Rng(seed), scale: 0.6);
    }

    [Theory, MemberData(nameof(Names))]
    public void UnrollExportsAreDeterministicAndPyTorchAgrees(string name)
    {
        var w = UnrollCase(name);
        var bytes = PyTorchLayout.ToSafeTensors(w);
        var regen = Environment.GetEnvironmentVariable("UNROLL_WRITE_INTEROP_FIXTURES");
        if (!string.IsNullOrEmpty(regen))
        {
            File.WriteAllBytes(Path.Combine(regen, $"unroll_{name}.safetensors"), bytes);
            File.WriteAllText(Path.Combine(regen, $"unroll_{name}.config.json"), w.Config.ToJson());
            return;
        }
        var committed = File.ReadAllBytes(Path.Combine(Dir, $"unroll_{name}.safetensors"));
        Assert.True(committed.AsSpan().SequenceEqual(bytes), $"unroll_{name}.safetensors: the export is not byte-identical to the committed fixture ({bytes.Length} vs {committed.Length} bytes)");
        Assert.Equal(w.Config, PyTorchLayout.ReadConfig(Path.Combine(Dir, $"unroll_{name}.config.json")));
        var e = ReadExpected(Path.Combine(Dir, $"unroll_{name}.expected.json"));
        var (dl, ds) = CompareUnroll(w, e);
        double dOnnx = CompareOnnx(w, e);
        output.WriteLine($"unroll→torch {name}: max|Δlogits| {dl:E2}, max|Δstate| {ds:E2}; ONNX Runtime: {dOnnx:E2}");
        Assert.True(dl <= 1e-5 && ds <= 1e-5, $"{name}: Unroll vs PyTorch logits {dl:E2}, states {ds:E2}");
        Assert.True(dOnnx <= 1e-5, $"{name}: ONNX Runtime vs PyTorch {dOnnx:E2}");
    }
}
