using Unroll.Checking;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>The float32 path (same code, T = float) and the zero-allocation steady state.</summary>
public class RecurrentFloatTests
{
    private static Tensor<float> ToFloat(Tensor<double> t) => t.Cast<float>();

    [Theory]
    [InlineData(CellType.Rnn)]
    [InlineData(CellType.RnnRelu)]
    [InlineData(CellType.Lstm)]
    [InlineData(CellType.Gru)]
    public void FloatMatchesDouble(CellType cell)
    {
        var rng = new Rng(13);
        var ld = RecurrentLayers.Create<double>(cell, 6, 5, rng);
        foreach (var p in ld.Parameters) if (p.Value.Rank == 1) { var s = p.Value.Span; for (int i = 0; i < s.Length; i++) s[i] = rng.NextGaussian() * 0.3; }
        var pd = ld.Parameters.ToList();
        IRecurrentLayer<float> lf = cell switch
        {
            CellType.Lstm => new TimeLSTM<float>(F(pd[0]), F(pd[1]), F(pd[2])),
            CellType.Gru => new TimeGRU<float>(F(pd[0]), F(pd[1]), F(pd[2]), F(pd[3])),
            _ => new TimeRNN<float>(F(pd[0]), F(pd[1]), F(pd[2]), cell),
        };
        var xs = GradCheck.RandomTensor(rng, 1.0, 3, 9, 6);
        var dhs = GradCheck.RandomTensor(rng, 1.0, 3, 9, 5);
        var hd = ld.Forward(xs); var dxd = ld.Backward(dhs);
        var hf = lf.Forward(ToFloat(xs)); var dxf = lf.Backward(ToFloat(dhs));
        AssertClose("hs", hd, hf);
        AssertClose("dxs", dxd, dxf);
        AssertClose("dh0", ld.DH0!, lf.DH0!);
        var pf = lf.Parameters.ToList();
        for (int i = 0; i < pd.Count; i++) AssertClose(pd[i].Name, pd[i].Grad, pf[i].Grad);

        static Parameter<float> F(Parameter<double> p) => new(p.Name, p.Value.Cast<float>());
    }

    private static void AssertClose(string name, Tensor<double> d, Tensor<float> f)
    {
        double scale = d.ToArray().Max(Math.Abs);
        var a = d.Span; var b = f.Span;
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5 * Math.Max(scale, 1e-3), $"{name}[{i}]: double {a[i]} vs float {b[i]}");
    }

    [Theory]
    [InlineData(CellType.Rnn)]
    [InlineData(CellType.Lstm)]
    [InlineData(CellType.Gru)]
    public void SteadyStateAllocatesNothing(CellType cell)
    {
        var rng = new Rng(17);
        var stack = new RecurrentStack<float>(cell, 8, 12, 2, rng, dropout: 0.5, stateful: true);
        var xs = new Tensor<float>(4, 10, 8);
        var dhs = new Tensor<float>(4, 10, 12);
        xs.Fill(0.1f); dhs.Fill(0.01f);
        for (int i = 0; i < 3; i++) { stack.Forward(xs); stack.Backward(dhs); }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++) { stack.Forward(xs); stack.Backward(dhs); }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"{cell}: {allocated} bytes allocated in 5 steady-state Forward+Backward");
    }
}

public class RecurrentExtremeInputTests
{
    [Theory]
    [InlineData(CellType.Rnn)]
    [InlineData(CellType.Lstm)]
    [InlineData(CellType.Gru)]
    public void HugeFiniteInputsGiveFiniteOutputsAndGradients(CellType cell)
    {
        var rng = new Rng(23);
        var layer = RecurrentLayers.Create<float>(cell, 4, 6, rng);
        var xs = new Tensor<float>(3, 9, 4);
        var s = xs.Span;
        for (int i = 0; i < s.Length; i++) s[i] = (i % 2 == 0 ? 1 : -1) * (float)Math.Pow(10, 1 + i % 5);   // ±10 … ±1e5
        var dhs = GradCheck.RandomTensor(rng, 1.0, 3, 9, 6).Cast<float>();
        var hs = layer.Forward(xs);
        Assert.All(hs.ToArray(), v => Assert.True(float.IsFinite(v) && Math.Abs(v) <= 1f, $"h = {v}"));
        var dxs = layer.Backward(dhs);
        Assert.All(dxs.ToArray(), v => Assert.True(float.IsFinite(v)));
        foreach (var p in layer.Parameters) Assert.All(p.Grad.ToArray(), v => Assert.True(float.IsFinite(v), $"{p.Name}: {v}"));
        Assert.All(layer.StepGradH.ToArray(), v => Assert.True(float.IsFinite(v)));
    }
}
