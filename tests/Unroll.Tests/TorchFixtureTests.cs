namespace Unroll.Tests;

/// <summary>
/// Checks the committed PyTorch fixtures themselves (and the loader): complete, consistent shapes, and internally
/// consistent values, so a parity failure points at Unroll and not at a damaged fixture.
/// </summary>
public class TorchFixtureTests
{
    public static TheoryData<string> All() => new(TorchFixture.Names("parity"));
    /// <summary>The single-module cases (not the language models).</summary>
    public static TheoryData<string> Recurrent() => new(TorchFixture.Names("parity").Where(n => !n.StartsWith("lm_", StringComparison.Ordinal)));

    [Fact]
    public void ParityFixturesArePresent()
    {
        var names = TorchFixture.Names("parity").ToHashSet();
        foreach (var n in new[] { "rnn_tanh", "rnn_relu", "lstm", "gru", "lstm_2layer", "lm_lstm" })
            Assert.Contains(n, names);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void EveryParamAndFloatInputHasAGradientOfItsShape(string name)
    {
        var f = TorchFixture.Load("parity", name);
        Assert.Equal(name, f.Name);
        Assert.NotEmpty(f.Params);
        foreach (var (k, p) in f.Params)
        {
            Assert.True(f.Grads.TryGetValue(k, out var g), $"{name}: no gradient for param {k}");
            Assert.Equal(p.Shape, g!.Shape);
        }
        // chunked (truncated-BPTT) fixtures: the gradient goes to the state carried into the last chunk, not to h0/c0
        bool chunked = f.Config.TryGetProperty("chunks", out _);
        foreach (var k in new[] { "x", "h0", "c0" })
            if (f.Inputs.TryGetValue(k, out var t))
                Assert.Equal(t.Shape, f.Grads[chunked && k != "x" ? k[0] + "_carried" : k].Shape);
        foreach (var t in f.Params.Values.Concat(f.Outputs.Values).Concat(f.Grads.Values))
            Assert.All(t.Floats, v => Assert.True(float.IsFinite(v), $"{t.Name} has a non-finite value"));
    }

    [Theory]
    [MemberData(nameof(All))]
    public void RecordedLossMatchesRecordedOutputs(string name)
    {
        var f = TorchFixture.Load("parity", name);
        double loss;
        if (f.Inputs.ContainsKey("ids"))
        {
            // mean over N·T of −log softmax(logits)[target], in float64
            var logits = f.Outputs["logits"].Floats;
            var targets = f.Inputs["targets"].IntArray;
            int v = f.ConfigInt("vocab_size");
            Assert.Equal(targets.Length * v, logits.Length);
            loss = 0;
            for (int r = 0; r < targets.Length; r++)
            {
                double m = double.NegativeInfinity, s = 0;
                for (int j = 0; j < v; j++) m = Math.Max(m, logits[r * v + j]);
                for (int j = 0; j < v; j++) s += Math.Exp(logits[r * v + j] - m);
                loss += m + Math.Log(s) - logits[r * v + targets[r]];
            }
            loss /= targets.Length;
        }
        else
        {
            // sum(out ⊙ dout) + sum(hn[L−1] ⊙ dhn): the upstream gradient reaches only the top layer's final h
            var hn = f.Outputs["hn"].Floats;
            var dhn = f.Inputs["dhn"].Floats;
            loss = Dot(f.Outputs["out"].Floats, f.Inputs["dout"].Floats) + Dot(hn[^dhn.Length..], dhn);
        }
        double recorded = f.Outputs["loss"].Scalar;
        Assert.True(Math.Abs(loss - recorded) <= 1e-5 * Math.Max(1, Math.Abs(recorded)), $"{name}: loss {loss} recomputed, {recorded} recorded");
    }

    [Theory]
    [MemberData(nameof(Recurrent))]
    public void LastLayerFinalStateIsTheLastOutput(string name)
    {
        var f = TorchFixture.Load("parity", name);
        var outT = f.Outputs["out"];
        int n = f.ConfigInt("N"), t = f.ConfigInt("T"), h = f.ConfigInt("hidden_size"), l = f.ConfigInt("num_layers");
        Assert.Equal(new[] { n, t, h }, outT.Shape);
        Assert.Equal(new[] { l, n, h }, f.Outputs["hn"].Shape);
        var hn = f.Outputs["hn"].Floats;
        for (int b = 0; b < n; b++)
            for (int j = 0; j < h; j++)
                Assert.Equal(outT.Floats[(b * t + t - 1) * h + j], hn[((l - 1) * n + b) * h + j]);
    }

    /// <summary>
    /// LSTM/RNN add b_ih and b_hh into the same pre-activation, so their gradients are equal — the reason Unroll's
    /// single B maps to their sum and dB compares with either. GRU's b_hh_n is different (inside r ⊙ (·)).
    /// </summary>
    [Theory]
    [MemberData(nameof(All))]
    public void BiasGradientsCoincideExceptGruCandidate(string name)
    {
        var f = TorchFixture.Load("parity", name);
        string mode = f.ConfigString("mode")!;
        string prefix = f.Inputs.ContainsKey("ids") ? "rnn." : "";
        for (int k = 0; k < f.ConfigInt("num_layers"); k++)
        {
            var gi = f.Grads[$"{prefix}bias_ih_l{k}"].Floats;
            var gh = f.Grads[$"{prefix}bias_hh_l{k}"].Floats;
            int same = mode == "GRU" ? 2 * gi.Length / 3 : gi.Length;
            for (int j = 0; j < same; j++)
                Assert.True(Math.Abs(gi[j] - gh[j]) <= 1e-6 * Math.Max(1, Math.Abs(gi[j])), $"{name}: bias grads differ at {j}: {gi[j]} vs {gh[j]}");
        }
    }

    private static double Dot(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }
}
