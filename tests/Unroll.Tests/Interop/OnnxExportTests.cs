using Onnx;
using Unroll.IO;
using Unroll.Tensors;

namespace Unroll.Tests.Interop;

public class OnnxExportTests
{
    internal static readonly long[,] Ids = { { 3, 0, 10, 7, 7, 1 }, { 1, 4, 9, 2, 5, 0 } };

    public static TheoryData<string, int> Cases() => new()
    {
        { "lstm", 1 }, { "lstm", 2 }, { "gru", 1 }, { "gru", 2 }, { "rnn_tanh", 1 }, { "rnn_tanh", 2 }, { "rnn_relu", 2 },
    };

    internal static LmWeights<double> RandomWeights(string cell, int layers, ulong seed, bool tied = false) =>
        LmWeights<double>.Random(new LmConfig(cell, 11, tied ? 6 : 5, 6, layers, tied), new Rng(seed), scale: 0.6);

    internal static double MaxDiff(ReadOnlySpan<float> a, ReadOnlySpan<double> b)
    {
        Assert.Equal(b.Length, a.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    internal static float[] RandomState(Rng rng, int n)
    {
        var s = new float[n];
        for (int i = 0; i < n; i++) s[i] = (float)(rng.NextGaussian() * 0.5);
        return s;
    }

    [Theory, MemberData(nameof(Cases))]
    public void OnnxRuntimeMatchesTheEquations(string cell, int layers)
    {
        // float32 weights so the double oracle and ONNX Runtime see exactly the same numbers
        var w = RandomWeights(cell, layers, 7).Validate();
        w = RoundToFloat(w);
        var bytes = OnnxExport.ToBytes(w);
        int L = layers, N = Ids.GetLength(0), H = w.Config.HiddenSize;

        // zero initial state (h0/c0 omitted → the optional inputs' defaults)
        var (logits, hn, cn) = OnnxRunner.Run(bytes, Ids, L, H);
        var (rl, rh, rc) = ReferenceLm.Forward(w, Ids);
        double d = Math.Max(MaxDiff(logits, rl), MaxDiff(hn, rh));
        if (cell == "lstm") d = Math.Max(d, MaxDiff(cn!, rc));
        Assert.True(d <= 1e-5, $"{cell} L={L} zero state: max |ORT − reference| = {d:E2}");

        // given initial state
        var rng = new Rng(11);
        var h0 = RandomState(rng, L * N * H);
        var c0 = cell == "lstm" ? RandomState(rng, L * N * H) : null;
        (logits, hn, cn) = OnnxRunner.Run(bytes, Ids, L, H, h0, c0);
        (rl, rh, rc) = ReferenceLm.Forward(w, Ids, h0.Select(x => (double)x).ToArray(), c0?.Select(x => (double)x).ToArray());
        d = Math.Max(MaxDiff(logits, rl), MaxDiff(hn, rh));
        if (cell == "lstm") d = Math.Max(d, MaxDiff(cn!, rc));
        Assert.True(d <= 1e-5, $"{cell} L={L} given state: max |ORT − reference| = {d:E2}");
    }

    [Theory, MemberData(nameof(Cases))]
    public void OnnxRuntimeMatchesUnrollForward(string cell, int layers)
    {
        // Unroll's float32 layers (TimeEmbedding → TimeLSTM/GRU/RNN × L → TimeAffine) vs ONNX Runtime on the export
        var w = RandomWeights(cell, layers, 13);
        var wf = new LmWeights<float>(w.Config, w.Embedding.Cast<float>(),
            w.Layers.Select(l => new RecurrentWeights<float>(l.Wx.Cast<float>(), l.Wh.Cast<float>(), l.B.Cast<float>(), l.BhN?.Cast<float>())).ToList(),
            w.DecoderW.Cast<float>(), w.DecoderB.Cast<float>());
        var bytes = OnnxExport.ToBytes(wf);
        int L = layers, N = Ids.GetLength(0), T = Ids.GetLength(1), H = w.Config.HiddenSize;
        var ids = new int[N * T];
        for (int n = 0; n < N; n++) for (int t = 0; t < T; t++) ids[n * T + t] = (int)Ids[n, t];
        var rng = new Rng(17);
        var h0 = RandomState(rng, L * N * H);
        var c0 = cell == "lstm" ? RandomState(rng, L * N * H) : null;
        foreach (bool givenState in new[] { false, true })
        {
            var net = new LmNetwork<float>(wf);
            var logits = net.Forward(ids, N, T, givenState ? Tensor<float>.FromArray(h0, L, N, H) : null,
                givenState && c0 is not null ? Tensor<float>.FromArray(c0, L, N, H) : null);
            var (ol, oh, oc) = givenState ? OnnxRunner.Run(bytes, Ids, L, H, h0, c0) : OnnxRunner.Run(bytes, Ids, L, H);
            double d = Math.Max(MaxAbs(logits.Span, ol), MaxAbs(net.FinalH!.Span, oh));
            if (cell == "lstm") d = Math.Max(d, MaxAbs(net.FinalC!.Span, oc!));
            Assert.True(d <= 1e-5, $"{cell} L={L} state={(givenState ? "given" : "zero")}: max |Unroll − ORT| = {d:E2}");
        }
    }

    private static double MaxAbs(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    [Theory]
    [InlineData("lstm")]
    [InlineData("gru")]
    public void StepByStepEqualsWholeSequence(string cell)
    {
        var w = RoundToFloat(RandomWeights(cell, 2, 5));
        var bytes = OnnxExport.ToBytes(w);
        int N = Ids.GetLength(0), T = Ids.GetLength(1), H = w.Config.HiddenSize, V = w.Config.VocabSize;
        var (whole, wh, wc) = OnnxRunner.Run(bytes, Ids, 2, H);
        float[]? h = null, c = null;
        double d = 0;
        for (int t = 0; t < T; t++)
        {
            var step = new long[N, 1];
            for (int n = 0; n < N; n++) step[n, 0] = Ids[n, t];
            var (lg, hn, cn) = OnnxRunner.Run(bytes, step, 2, H, h ?? new float[2 * N * H], cell == "lstm" ? c ?? new float[2 * N * H] : null);
            for (int n = 0; n < N; n++)
                for (int v = 0; v < V; v++) d = Math.Max(d, Math.Abs(lg[n * V + v] - whole[(n * T + t) * V + v]));
            h = hn; c = cn;
        }
        d = Math.Max(d, h!.Zip(wh, (a, b) => (double)Math.Abs(a - b)).Max());
        Assert.True(d <= 1e-6, $"step-by-step vs whole sequence: max diff {d:E2}");
    }

    [Fact]
    public void ModelDeclaresOpsetAndStandardOperatorsOnly()
    {
        var model = ModelProto.Parser.ParseFrom(OnnxExport.ToBytes(RandomWeights("gru", 2, 1)));
        Assert.True(model.OpsetImport.Single().Version >= 14);
        Assert.Equal("", model.OpsetImport.Single().Domain);
        var allowed = new HashSet<string> { "Gather", "Transpose", "Shape", "Slice", "Concat", "Expand", "GRU", "LSTM", "RNN", "Squeeze", "MatMul", "Add" };
        Assert.All(model.Graph.Node, n => Assert.Contains(n.OpType, allowed));
        Assert.Equal(["input_ids", "h0"], model.Graph.Input.Select(i => i.Name));
        Assert.Equal(["logits", "h_n"], model.Graph.Output.Select(i => i.Name));
        Assert.Contains(model.Graph.Initializer, t => t.Name == "h0");   // optional: has a default
        var gru = model.Graph.Node.Where(n => n.OpType == "GRU").ToList();
        Assert.Equal(2, gru.Count);
        Assert.All(gru, n => Assert.Equal(1, n.Attribute.Single(a => a.Name == "linear_before_reset").I));
    }

    [Fact]
    public void TiedModelExportsTheEmbeddingAsDecoder()
    {
        var w = RoundToFloat(RandomWeights("lstm", 2, 3, tied: true));
        var (logits, _, _) = OnnxRunner.Run(OnnxExport.ToBytes(w), Ids, 2, 6);
        var (rl, _, _) = ReferenceLm.Forward(w, Ids);
        Assert.True(MaxDiff(logits, rl) <= 1e-5);
    }

    /// <summary>Rounds every weight to float32 (the ONNX model stores float32).</summary>
    internal static LmWeights<double> RoundToFloat(LmWeights<double> w)
    {
        static Tensor<double> R(Tensor<double> t) => t.Cast<float>().Cast<double>();
        return new LmWeights<double>(w.Config, R(w.Embedding),
            w.Layers.Select(l => new RecurrentWeights<double>(R(l.Wx), R(l.Wh), R(l.B), l.BhN is null ? null : R(l.BhN))).ToList(),
            R(w.DecoderW), R(w.DecoderB));
    }
}
