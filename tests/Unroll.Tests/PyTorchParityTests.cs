using Unroll.Layers;
using Unroll.Nodes;
using Unroll.Tensors;
using Xunit.Abstractions;

namespace Unroll.Tests;

/// <summary>
/// Parity with PyTorch (issue 2 §8): with PyTorch's weights and inputs, Unroll's outputs and every gradient equal
/// torch.nn.RNN/LSTM/GRU (and an Embedding → LSTM/GRU/RNN → Linear → CrossEntropyLoss stack) within 1e-5 relative
/// (to each tensor's max magnitude) in float32. Golden values: Fixtures/parity/*.json, written by
/// bench/reference/make_parity_fixtures.py (no Python needed here).
/// </summary>
/// <remarks>
/// Convention mapping (PyTorch → Unroll), no gate reordering (both use i,f,g,o and r,z,n):
/// Wx = weight_ihᵀ (D×kH), Wh = weight_hhᵀ (H×kH); LSTM/RNN: B = bias_ih + bias_hh;
/// GRU: B = bias_ih + [bias_hh_r, bias_hh_z, 0], BhN = bias_hh_n. Gradients map back the same way:
/// dWx = weight_ih.gradᵀ, dWh = weight_hh.gradᵀ, dB = bias_ih.grad (= bias_hh.grad for LSTM/RNN, and for the r,z
/// blocks of GRU), dBhN = bias_hh.grad[2H:].
/// </remarks>
public class PyTorchParityTests(ITestOutputHelper output)
{
    private const double Tol = 1e-5;

    private static IEnumerable<string> RecurrentNames() =>
        TorchFixture.Names("parity").Where(n => !n.StartsWith("lm_", StringComparison.Ordinal) && !n.StartsWith("tbptt_", StringComparison.Ordinal));

    private static IEnumerable<string> TbpttNames() =>
        TorchFixture.Names("parity").Where(n => n.StartsWith("tbptt_", StringComparison.Ordinal));

    /// <summary>Each truncated-BPTT fixture through a stateful layer and through a stateful stack.</summary>
    public static TheoryData<string, bool> TbpttCases()
    {
        var d = new TheoryData<string, bool>();
        foreach (var n in TbpttNames())
        {
            d.Add(n, false);
            d.Add(n, true);
        }
        return d;
    }

    /// <summary>
    /// Each recurrent fixture run three ways: the layers chained by hand; a <see cref="RecurrentStack{T}"/> over them;
    /// and a stack with dropout 0.5 in evaluation mode (Training = false: must be the identity, as PyTorch's eval).
    /// </summary>
    public static TheoryData<string, string> RecurrentCases()
    {
        var d = new TheoryData<string, string>();
        foreach (var n in RecurrentNames())
            foreach (var how in new[] { "layers", "stack", "stack-eval-dropout" })
                d.Add(n, how);
        return d;
    }

    /// <summary>Each language-model fixture × decoder layout (H×V, or PyTorch's V×H via transposeW) × loss path (Forward+Backward, or fused).</summary>
    public static TheoryData<string, bool, bool> LanguageModelCases()
    {
        var d = new TheoryData<string, bool, bool>();
        foreach (var n in LanguageModelNames())
            foreach (var pyTorchLayout in new[] { false, true })
                foreach (var fused in new[] { false, true })
                    d.Add(n, pyTorchLayout, fused);
        return d;
    }

    private static IEnumerable<string> LanguageModelNames() =>
        TorchFixture.Names("parity").Where(n => n.StartsWith("lm_", StringComparison.Ordinal));

    [Fact]
    public void TheRequiredCasesAreCovered()
    {
        var names = TorchFixture.Names("parity").ToHashSet();
        foreach (var n in new[] { "rnn_tanh", "rnn_relu", "lstm", "gru", "lstm_2layer", "lm_lstm", "tbptt_lstm" }) Assert.Contains(n, names);
        Assert.Equal(names.Count, RecurrentNames().Count() + TbpttNames().Count() + LanguageModelNames().Count());
    }

    /// <summary>Outputs, final states and every gradient of a (stack of) recurrent layer(s).</summary>
    [Theory]
    [MemberData(nameof(RecurrentCases))]
    public void RecurrentLayerMatchesPyTorch(string name, string how)
    {
        var f = TorchFixture.Load("parity", name);
        var cell = CellOf(f);
        int n = f.ConfigInt("N"), t = f.ConfigInt("T"), h = f.ConfigInt("hidden_size"), L = f.ConfigInt("num_layers");
        var layers = Enumerable.Range(0, L).Select(k => BuildLayer(f, "", k, cell)).ToArray();
        RecurrentStack<float>? stack = how switch
        {
            "layers" => null,
            "stack" => new RecurrentStack<float>(layers),
            "stack-eval-dropout" => new RecurrentStack<float>(layers, dropout: 0.5, dropoutRng: new Rng(7)) { Training = false },
            _ => throw new ArgumentException(how),
        };
        var worst = new Worst();

        // Forward with PyTorch's initial states h0 (L,N,H) (and c0).
        var h0 = f.Inputs["h0"].Floats;
        float[]? c0 = cell == CellType.Lstm ? f.Inputs["c0"].Floats : null;
        var h0s = Enumerable.Range(0, L).Select(k => Layer(h0, k, n, h)).ToArray();
        var c0s = Enumerable.Range(0, L).Select(k => c0 is null ? null : Layer(c0, k, n, h)).ToArray();
        if (stack is not null) stack.SetState(h0s, c0s);
        else for (int k = 0; k < L; k++) layers[k].SetState(h0s[k], c0s[k]);
        var x = f.Inputs["x"].ToTensor<float>();
        var hs = x;
        if (stack is not null) hs = stack.Forward(x);
        else foreach (var layer in layers) hs = layer.Forward(hs);

        worst.Add(Parity.AssertClose(f.Outputs["out"], hs, Tol), "out");
        var hn = f.Outputs["hn"].Floats;
        for (int k = 0; k < L; k++)
        {
            worst.Add(Parity.AssertClose($"hn[{k}]", Layer(hn, k, n, h).Span, layers[k].State!.Span, Tol), "hn");
            if (cell == CellType.Lstm)
                worst.Add(Parity.AssertClose($"cn[{k}]", Layer(f.Outputs["cn"].Floats, k, n, h).Span, layers[k].CellState!.Span, Tol), "cn");
        }

        // Backward of L = sum(out ⊙ dout) + sum(hn[L−1] ⊙ dhn): hn[L−1] = out[:, T−1], so dhn adds into dhs[:, T−1].
        var dhs = f.Inputs["dout"].ToTensor<float>();
        var dhn = f.Inputs["dhn"].Floats;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < h; j++)
                dhs[i, t - 1, j] += dhn[i * h + j];
        foreach (var layer in layers) layer.ZeroGrad();
        var dx = dhs;
        if (stack is not null) dx = stack.Backward(dhs);
        else for (int k = L - 1; k >= 0; k--) dx = layers[k].Backward(dx);

        worst.Add(Parity.AssertClose(f.Grads["x"], dx, Tol), "dx");
        for (int k = 0; k < L; k++)
        {
            worst.Add(Parity.AssertClose($"grads.h0[{k}]", Layer(f.Grads["h0"].Floats, k, n, h).Span, layers[k].DH0!.Span, Tol), "dh0");
            if (cell == CellType.Lstm)
                worst.Add(Parity.AssertClose($"grads.c0[{k}]", Layer(f.Grads["c0"].Floats, k, n, h).Span, layers[k].DC0!.Span, Tol), "dc0");
            CompareParamGrads(f, "", k, layers[k], worst);
        }
        output.WriteLine($"{name} ({how}): {worst}");
    }

    /// <summary>
    /// Truncated BPTT: chunk 0 from PyTorch's h0 (c0), chunk 1 from the state a stateful layer carries over (PyTorch:
    /// chunk 0's final state, detached); backward of chunk 1's loss only. Checks both chunks' outputs, the final
    /// state, dx of chunk 1, the gradient reaching the carried state (DH0/DC0) and every parameter gradient.
    /// </summary>
    [Theory]
    [MemberData(nameof(TbpttCases))]
    public void StatefulTruncatedBpttMatchesPyTorch(string name, bool viaStack)
    {
        var f = TorchFixture.Load("parity", name);
        var cell = CellOf(f);
        Assert.Equal(2, f.ConfigInt("chunks"));
        int n = f.ConfigInt("N"), t = f.ConfigInt("T"), h = f.ConfigInt("hidden_size");
        var layer = BuildLayer(f, "", 0, cell);
        layer.Stateful = true;
        var stack = viaStack ? new RecurrentStack<float>([layer]) { Stateful = true } : null;
        Func<Tensor<float>, Tensor<float>> forward = stack is null ? layer.Forward : stack.Forward;
        var worst = new Worst();

        var c0 = cell == CellType.Lstm ? f.Inputs["c0"].ToTensor<float>().Reshape(n, h) : null;
        layer.SetState(f.Inputs["h0"].ToTensor<float>().Reshape(n, h), c0);
        worst.Add(Parity.AssertClose(f.Outputs["out_prev"], forward(f.Inputs["x_prev"].ToTensor<float>()), Tol), "out");
        var x = f.Inputs["x"].ToTensor<float>();
        worst.Add(Parity.AssertClose(f.Outputs["out"], forward(x), Tol), "out");      // starts from the carried state
        worst.Add(Parity.AssertClose(f.Outputs["hn"], layer.State!, Tol), "hn");
        if (cell == CellType.Lstm) worst.Add(Parity.AssertClose(f.Outputs["cn"], layer.CellState!, Tol), "cn");

        var dhs = f.Inputs["dout"].ToTensor<float>();
        var dhn = f.Inputs["dhn"].Floats;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < h; j++)
                dhs[i, t - 1, j] += dhn[i * h + j];
        layer.ZeroGrad();
        var dx = stack is null ? layer.Backward(dhs) : stack.Backward(dhs);
        worst.Add(Parity.AssertClose(f.Grads["x"], dx, Tol), "dx");
        worst.Add(Parity.AssertClose(f.Grads["h_carried"], layer.DH0!, Tol), "dh_carried");
        if (cell == CellType.Lstm) worst.Add(Parity.AssertClose(f.Grads["c_carried"], layer.DC0!, Tol), "dc_carried");
        CompareParamGrads(f, "", 0, layer, worst);
        output.WriteLine($"{name} ({(viaStack ? "stack" : "layer")}): {worst}");
    }

    /// <summary>
    /// Embedding → recurrent layer → Linear → CrossEntropyLoss (mean over N·T): loss, logits and every parameter
    /// gradient. The decoder is used either transposed into Unroll's (H×V) layout or as PyTorch's (V×H) matrix
    /// through TimeAffine's transposeW option (the weight-tying layout).
    /// </summary>
    [Theory]
    [MemberData(nameof(LanguageModelCases))]
    public void LanguageModelStackMatchesPyTorch(string name, bool decoderInPyTorchLayout, bool fusedLoss)
    {
        var f = TorchFixture.Load("parity", name);
        var cell = CellOf(f);
        int n = f.ConfigInt("N"), t = f.ConfigInt("T"), L = f.ConfigInt("num_layers");
        var worst = new Worst();

        var embedding = new TimeEmbedding<float>(new Parameter<float>("encoder.weight", f.Params["encoder.weight"].ToTensor<float>()));
        var layers = Enumerable.Range(0, L).Select(k => BuildLayer(f, "rnn.", k, cell)).ToArray();
        var decW = decoderInPyTorchLayout ? f.Params["decoder.weight"].ToTensor<float>() : f.Params["decoder.weight"].Transposed<float>();
        var decoder = new TimeAffine<float>(new Parameter<float>("decoder.weight", decW),
                                            new Parameter<float>("decoder.bias", f.Params["decoder.bias"].ToTensor<float>()),
                                            transposeW: decoderInPyTorchLayout);
        var lossNode = new TimeSoftmaxWithLoss<float>();

        // forward (initial state zeros, as the fixture's config says)
        Assert.Equal("zeros", f.ConfigString("initial_state"));
        var ids = f.Inputs["ids"].IntArray;
        var targets = f.Inputs["targets"].IntArray;
        var hs = embedding.Forward(ids, n, t);
        foreach (var layer in layers) hs = layer.Forward(hs);
        var logits = decoder.Forward(hs);
        worst.Add(Parity.AssertClose(f.Outputs["logits"], logits, Tol), "logits");
        Tensor<float> dlogits;
        float loss;
        if (fusedLoss) loss = lossNode.ForwardBackward(logits, targets, 1f, out dlogits);
        else
        {
            loss = lossNode.Forward(logits, targets);
            dlogits = lossNode.Backward(1f);
        }
        worst.Add(Parity.AssertClose("loss", [f.Outputs["loss"].Scalar], [loss], Tol), "loss");

        // backward
        embedding.ZeroGrad(); decoder.ZeroGrad();
        foreach (var layer in layers) layer.ZeroGrad();
        var d = decoder.Backward(dlogits);
        for (int k = L - 1; k >= 0; k--) d = layers[k].Backward(d);
        embedding.Backward(d);

        worst.Add(Parity.AssertClose(f.Grads["encoder.weight"], embedding.W.Grad, Tol), "dEmbedding");
        for (int k = 0; k < L; k++) CompareParamGrads(f, "rnn.", k, layers[k], worst);
        var dDec = decoderInPyTorchLayout ? decoder.W.Grad : Transpose(decoder.W.Grad);
        worst.Add(Parity.AssertClose(f.Grads["decoder.weight"], dDec, Tol), "dDecoderW");
        worst.Add(Parity.AssertClose(f.Grads["decoder.bias"], decoder.B.Grad, Tol), "dDecoderB");
        output.WriteLine($"{name} (decoder {(decoderInPyTorchLayout ? "V×H transposeW" : "H×V")}, {(fusedLoss ? "fused" : "separate")} loss): {worst}");
    }

    // ---- mapping PyTorch ↔ Unroll ------------------------------------------------------------------------------

    private static CellType CellOf(TorchFixture f) => f.ConfigString("mode") switch
    {
        "RNN_TANH" => CellType.Rnn,
        "RNN_RELU" => CellType.RnnRelu,
        "LSTM" => CellType.Lstm,
        "GRU" => CellType.Gru,
        var m => throw new InvalidDataException($"{f.Name}: unknown mode {m}"),
    };

    /// <summary>Layer k from PyTorch's weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}.</summary>
    private static IRecurrentLayer<float> BuildLayer(TorchFixture f, string prefix, int k, CellType cell)
    {
        var wIh = f.Params[$"{prefix}weight_ih_l{k}"];
        var wHh = f.Params[$"{prefix}weight_hh_l{k}"];
        var bIh = f.Params[$"{prefix}bias_ih_l{k}"].Floats;
        var bHh = f.Params[$"{prefix}bias_hh_l{k}"].Floats;
        int h = wHh.Shape[1];
        var wx = new Parameter<float>($"l{k}.Wx", wIh.Transposed<float>());   // (D×kH) = weight_ihᵀ
        var wh = new Parameter<float>($"l{k}.Wh", wHh.Transposed<float>());   // (H×kH) = weight_hhᵀ
        var b = new Tensor<float>(bIh.Length);
        // LSTM/RNN: B = b_ih + b_hh; GRU: B = b_ih + [b_hh_r, b_hh_z, 0] (b_hh_n goes to BhN, inside r ⊙ (·))
        int folded = cell == CellType.Gru ? 2 * h : bIh.Length;
        for (int j = 0; j < bIh.Length; j++) b.Span[j] = j < folded ? bIh[j] + bHh[j] : bIh[j];
        var bp = new Parameter<float>($"l{k}.B", b);
        var name = $"l{k}";
        return cell switch
        {
            CellType.Lstm => new TimeLSTM<float>(wx, wh, bp, name: name),
            CellType.Gru => new TimeGRU<float>(wx, wh, bp,
                new Parameter<float>($"l{k}.BhN", Tensor<float>.FromArray(bHh.AsSpan(2 * h, h), h)), name: name),
            _ => new TimeRNN<float>(wx, wh, bp, cell, name: name),
        };
    }

    /// <summary>dWx, dWh, dB (and dBhN) of layer k against PyTorch's weight/bias gradients.</summary>
    private static void CompareParamGrads(TorchFixture f, string prefix, int k, IRecurrentLayer<float> layer, Worst worst)
    {
        worst.Add(Parity.AssertClose(f.Grads[$"{prefix}weight_ih_l{k}"], Transpose(layer.Wx.Grad), Tol), "dWx");
        worst.Add(Parity.AssertClose(f.Grads[$"{prefix}weight_hh_l{k}"], Transpose(layer.Wh.Grad), Tol), "dWh");
        var gIh = f.Grads[$"{prefix}bias_ih_l{k}"];
        var gHh = f.Grads[$"{prefix}bias_hh_l{k}"];
        // b_ih enters every gate exactly as B does, so dB = bias_ih.grad
        worst.Add(Parity.AssertClose(gIh, layer.B.Grad, Tol), "dB");
        if (layer is TimeGRU<float> gru)
        {
            int h = layer.HiddenSize;
            // b_hh_r, b_hh_z were folded into B[:2H]; b_hh_n is BhN
            worst.Add(Parity.AssertClose(gHh.Name + "[:2H]", gHh.Floats.AsSpan(0, 2 * h), layer.B.Grad.Span[..(2 * h)], Tol), "dB");
            worst.Add(Parity.AssertClose(gHh.Name + "[2H:]", gHh.Floats.AsSpan(2 * h, h), gru.BhN.Grad.Span, Tol), "dBhN");
        }
        else
        {
            // b_hh was folded into B entirely: dB = bias_hh.grad as well
            worst.Add(Parity.AssertClose(gHh, layer.B.Grad, Tol), "dB");
        }
    }

    /// <summary>Layer k's (N,H) slice of a PyTorch (L,N,H) state tensor, as a new tensor.</summary>
    private static Tensor<float> Layer(float[] lnh, int k, int n, int h) => Tensor<float>.FromArray(lnh.AsSpan(k * n * h, n * h), n, h);

    private static Tensor<float> Transpose(Tensor<float> m)
    {
        int r = m.Dim(0), c = m.Dim(1);
        var t = new Tensor<float>(c, r);
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++)
                t[j, i] = m[i, j];
        return t;
    }

    /// <summary>The largest relative error seen per kind of tensor (for the test log).</summary>
    private sealed class Worst
    {
        private readonly SortedDictionary<string, double> _max = new(StringComparer.Ordinal);
        public void Add(double rel, string kind) => _max[kind] = Math.Max(rel, _max.GetValueOrDefault(kind));
        public override string ToString() =>
            $"max rel err {_max.Values.Max():G3} (" + string.Join(", ", _max.Select(kv => $"{kv.Key} {kv.Value:G3}")) + ")";
    }
}
