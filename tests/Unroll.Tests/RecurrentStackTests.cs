using Unroll.Checking;
using Unroll.Layers;
using Unroll.Tensors;
using static Unroll.Tests.RecurrentTestUtil;

namespace Unroll.Tests;

public class RecurrentStackTests
{
    public static TheoryData<CellType, double> Cases() => new()
    {
        { CellType.Rnn, 0.0 }, { CellType.Rnn, 0.5 }, { CellType.RnnRelu, 0.3 },
        { CellType.Lstm, 0.0 }, { CellType.Lstm, 0.5 }, { CellType.Gru, 0.0 }, { CellType.Gru, 0.5 },
    };

    private static (RecurrentStack<double> stack, Rng dropRng) MakeStack(CellType cell, int d, int h, int layers, double p, Rng rng)
    {
        var ls = new List<IRecurrentLayer<double>>();
        for (int l = 0; l < layers; l++) ls.Add(MakeLayer(cell, l == 0 ? d : h, h, rng, $"L{l}"));
        var dropRng = new Rng(999);
        return (new RecurrentStack<double>(ls, p, dropRng), dropRng);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void StackGradientsMatchCentralDifferences(CellType cell, double p)
    {
        var rng = new Rng(3 + (ulong)cell);
        int n = 3, t = 7, d = 5, h = 4, L = 3;
        var (stack, dropRng) = MakeStack(cell, d, h, L, p, rng);
        var xs = GradCheck.RandomTensor(rng, 1.0, n, t, d);
        var dhs = GradCheck.RandomTensor(rng, 1.0, n, t, h);
        var h0s = Enumerable.Range(0, L).Select(_ => GradCheck.RandomTensor(rng, 0.5, n, h)).ToList();
        var c0s = Enumerable.Range(0, L).Select(_ => cell == CellType.Lstm ? GradCheck.RandomTensor(rng, 0.5, n, h) : null).ToList();
        var rngState = dropRng.GetState();

        double Loss()
        {
            dropRng.SetState(rngState);                    // the same dropout masks at every evaluation
            stack.SetState(h0s, c0s);
            return GradCheck.UpstreamLoss(stack.Forward(xs), dhs);
        }

        stack.ZeroGrad();
        Loss();
        double mag = LossMagnitude(stack.Layers[^1].Hs, dhs);
        if (p > 0)
        {
            var m = stack.DropoutMask(0)!.ToArray();
            Assert.Contains(0.0, m);
            Assert.Contains(1 / (1 - p), m);
        }
        var dxs = stack.Backward(dhs).Clone();
        var dh0 = stack.Layers.Select(l => l.DH0!.Clone()).ToList();
        var dc0 = stack.Layers.Select(l => l.DC0?.Clone()).ToList();
        var grads = stack.Parameters.Select(q => (q, g: q.Grad.Clone())).ToList();
        Assert.Equal(L * (cell == CellType.Gru ? 4 : 3), grads.Count);

        string ctx = $"{cell} stack L={L} p={p}";
        foreach (var (q, g) in grads) AssertOk(Check(q.Name, Loss, q.Value, g.Span, mag), ctx);
        AssertOk(Check("xs", Loss, xs, dxs.Span, mag), ctx);
        for (int l = 0; l < L; l++)
        {
            AssertOk(Check($"h0[{l}]", Loss, h0s[l], dh0[l].Span, mag), ctx);
            if (c0s[l] is not null) AssertOk(Check($"c0[{l}]", Loss, c0s[l]!, dc0[l]!.Span, mag), ctx);
        }
    }

    [Theory]
    [InlineData(CellType.Lstm)]
    [InlineData(CellType.Gru)]
    public void EvaluationModeIsTheDropoutFreeChain(CellType cell)
    {
        var rng = new Rng(8);
        var (stack, _) = MakeStack(cell, 3, 4, 2, 0.5, rng);
        var xs = GradCheck.RandomTensor(rng, 1.0, 2, 5, 3);
        var manual = stack.Layers[1].Forward(stack.Layers[0].Forward(xs).Clone()).Clone();
        stack.Training = false;
        var y = stack.Forward(xs);
        Assert.Equal(manual.ToArray(), y.ToArray());
        stack.Training = true;
        var yTrain = stack.Forward(xs);
        Assert.NotEqual(manual.ToArray(), yTrain.ToArray());
    }

    [Fact]
    public void DropoutKeepsAboutOneMinusP()
    {
        var stack = new RecurrentStack<float>(CellType.Lstm, 8, 16, 2, new Rng(5), dropout: 0.3);
        stack.Forward(new Tensor<float>(10, 20, 8));
        var m = stack.DropoutMask(0)!.ToArray();
        double kept = m.Count(v => v != 0) / (double)m.Length;       // 3200 draws: std ≈ 0.008
        Assert.InRange(kept, 0.67, 0.73);
        Assert.All(m, v => Assert.True(v == 0f || Math.Abs(v - 1 / 0.7f) < 1e-6f));
        Assert.Null(stack.DropoutMask(1));                          // no dropout after the last layer
    }

    [Theory]
    [InlineData(CellType.Rnn)]
    [InlineData(CellType.Lstm)]
    [InlineData(CellType.Gru)]
    public void StatefulStackCarriesEveryLayer(CellType cell)
    {
        var rng = new Rng(9);
        var stack = new RecurrentStack<double>(cell, 3, 4, 2, rng, stateful: true);
        var x1 = GradCheck.RandomTensor(rng, 1.0, 2, 4, 3);
        var x2 = GradCheck.RandomTensor(rng, 1.0, 2, 3, 3);
        stack.Forward(x1);
        var y2 = stack.Forward(x2).Clone();
        var whole = new RecurrentStack<double>(stack.Layers.Select(l => RecurrentLayers.Twin(l, stateful: false)).ToList());
        var all = whole.Forward(Concat(x1, x2));
        Assert.True(MaxAbsDiff(y2.Span, TimeSlice(all, 4, 3).Span) < 1e-14);
        stack.ResetState();
        Assert.All(stack.States, s => Assert.Null(s));
    }

    [Fact]
    public void SameSeedSameStack()
    {
        Tensor<float> Run(ulong seed)
        {
            var s = new RecurrentStack<float>(CellType.Gru, 3, 5, 2, new Rng(seed), dropout: 0.5);
            var x = new Tensor<float>(2, 4, 3);
            x.Fill(0.5f);
            return s.Forward(x).Clone();
        }
        Assert.Equal(Run(1).ToArray(), Run(1).ToArray());
        Assert.NotEqual(Run(1).ToArray(), Run(2).ToArray());
    }

    [Fact]
    public void BadStacksAreRejected()
    {
        var rng = new Rng(1);
        var a = RecurrentLayers.Create<double>(CellType.Lstm, 3, 4, rng, name: "a");
        var b = RecurrentLayers.Create<double>(CellType.Lstm, 5, 4, rng, name: "b");
        var ex = Assert.Throws<ArgumentException>(() => new RecurrentStack<double>([a, b]));
        Assert.Contains("'b'", ex.Message); Assert.Contains("5", ex.Message); Assert.Contains("4", ex.Message);
        var g = RecurrentLayers.Create<double>(CellType.Gru, 4, 4, rng, name: "g");
        Assert.Throws<ArgumentException>(() => new RecurrentStack<double>([a, g]));
        Assert.Throws<ArgumentException>(() => new RecurrentStack<double>(CellType.Rnn, 3, 4, 2, rng, dropout: 1.0));
        Assert.Throws<ArgumentException>(() => new RecurrentStack<double>(CellType.Rnn, 3, 4, 0, rng));
    }
}
