using Unroll.Checking;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Tests;

public class LanguageModelTests
{
    public static TheoryData<string, string, int, double, bool> Configs => new()
    {
        { "rnnlm", "rnn", 1, 0.0, false },
        { "rnnlm", "rnn-relu", 1, 0.0, false },
        { "rnnlm", "lstm", 1, 0.0, false },
        { "rnnlm", "gru", 1, 0.0, false },
        { "better-rnnlm", "lstm", 2, 0.3, true },
        { "better-rnnlm", "gru", 2, 0.0, false },
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void WholeModelGradientMatchesCentralDifferences(string model, string cell, int layers, double dropout, bool tie)
    {
        var cfg = new LanguageModelConfig { Model = model, Cell = cell, Vocab = 7, Embed = 3, Hidden = 3, Layers = layers, Dropout = dropout, Tie = tie };
        var rng = new Rng(3);
        var m = LanguageModels.Create<double>(cfg, rng);
        // make embeddings and biases non-trivial so every path carries gradient
        foreach (var p in m.Parameters) for (int i = 0; i < p.Value.Length; i++) p.Value.Span[i] += 0.3 * rng.NextGaussian();
        int n = 2, t = 3;
        int[] xs = [0, 3, 6, 2, 2, 5], ts = [3, 6, 1, 2, 5, 0];
        var h0 = Enumerable.Range(0, layers).Select(_ => GradCheck.RandomTensor(rng, 0.5, n, cfg.Hidden)).ToArray();
        var rngState = m.Rng.GetState();
        void Start() { m.Rng.SetState(rngState); for (int k = 0; k < layers; k++) m.Recurrent[k].SetState(h0[k], cell == "lstm" ? h0[k] : null); }

        Start();
        m.ZeroGrad();
        m.Forward(xs, ts, n, t);
        m.Backward();
        foreach (var p in m.DistinctParameters())
        {
            var analytic = p.Grad.Clone();
            var r = GradCheck.Check(p.Name, () => { Start(); return m.Forward(xs, ts, n, t, withGrad: false); }, p.Value, analytic.Span, eps: 1e-4);   // loss ≈ 2: eps 1e-6 would leave ~2e-10 of rounding noise on gradients ~1e-5
            Assert.True(r.MaxRelError <= 1e-6, $"{model}/{cell}: {r}");
        }
    }

    [Fact]
    public void TieSharesTheEmbeddingAndNeedsEqualSizes()
    {
        var cfg = new LanguageModelConfig { Model = "better-rnnlm", Vocab = 10, Embed = 6, Hidden = 6, Layers = 2, Dropout = 0.5, Tie = true };
        var m = LanguageModels.Create<float>(cfg, new Rng(1));
        Assert.DoesNotContain(m.Parameters, p => p.Name == "out.W");
        Assert.Single(m.Parameters, p => p.Name == "embed.W");
        var ex = Assert.Throws<ArgumentException>(() => LanguageModels.Create<float>(cfg with { Embed = 5 }, new Rng(1)));
        Assert.Contains("--tie", ex.Message);
        Assert.Contains("embed 5, hidden 6", ex.Message);
        Assert.Throws<ArgumentException>(() => LanguageModels.Create<float>(cfg with { Layers = 1 }, new Rng(1)));
        Assert.Throws<ArgumentException>(() => LanguageModels.Create<float>(cfg with { Cell = "elman" }, new Rng(1)));
    }

    [Fact]
    public void SameSeedSameModelAndStateCarriesAcrossCalls()
    {
        var cfg = new LanguageModelConfig { Vocab = 9, Embed = 5, Hidden = 6, Cell = "gru" };
        var a = LanguageModels.Create<float>(cfg, new Rng(5));
        var b = LanguageModels.Create<float>(cfg, new Rng(5));
        Assert.Equal(a.Parameters.SelectMany(p => p.Value.ToArray()), b.Parameters.SelectMany(p => p.Value.ToArray()));
        int[] xs = [1, 2, 3, 4], ts = [2, 3, 4, 5];
        float l1 = a.Forward(xs, ts, 1, 4, false);
        float l2 = a.Forward(xs, ts, 1, 4, false);                  // carried state changes the second result
        Assert.NotEqual(l1, l2);
        a.ResetState();
        Assert.Equal(l1, a.Forward(xs, ts, 1, 4, false));
    }
}

public class GeneratorTests
{
    [Fact]
    public void TopOneIsArgmaxAndTemperatureSharpens()
    {
        var rng = new Rng(1);
        var probs = new double[4]; var order = new int[4];
        float[] logits = [0.1f, 2.0f, -1f, 1.9f];
        for (int i = 0; i < 20; i++) Assert.Equal(1, Unroll.Training.Generator.Pick<float>(logits, 1.0, 1, rng, probs, order));
        // top-2 never draws ids 0 or 2
        for (int i = 0; i < 200; i++) Assert.Contains(Unroll.Training.Generator.Pick<float>(logits, 1.0, 2, rng, probs, order), new[] { 1, 3 });
        // a tiny temperature is (almost surely) greedy; a large one visits every id
        Assert.All(Enumerable.Range(0, 50), _ => Assert.Equal(1, Unroll.Training.Generator.Pick<float>(logits, 1e-3, 0, rng, probs, order)));
        var seen = Enumerable.Range(0, 400).Select(_ => Unroll.Training.Generator.Pick<float>(logits, 100, 0, rng, probs, order)).ToHashSet();
        Assert.Equal(4, seen.Count);
    }

    [Fact]
    public void RejectsBadSettings()
    {
        var m = LanguageModels.Create<float>(new LanguageModelConfig { Vocab = 5, Embed = 3, Hidden = 3 }, new Rng(1));
        Assert.Throws<ArgumentException>(() => Unroll.Training.Generator.Sample(m, [1], 5, 0, 0, new Rng(1)));
        Assert.Throws<ArgumentException>(() => Unroll.Training.Generator.Sample(m, [1], 5, 1, -1, new Rng(1)));
        Assert.Throws<ArgumentException>(() => Unroll.Training.Generator.Sample(m, [], 5, 1, 0, new Rng(1)));
        var a = Unroll.Training.Generator.Sample(m, [1, 2], 30, 1, 0, new Rng(7));
        Assert.Equal(a, Unroll.Training.Generator.Sample(m, [1, 2], 30, 1, 0, new Rng(7)));
    }
}
