using Unroll.Checking;
using Unroll.Layers;
using Unroll.Tensors;
using static Unroll.Tests.RecurrentTestUtil;

namespace Unroll.Tests;

/// <summary>Stateful mode (truncated BPTT), SetState/ResetState, and the per-step gradients the recorder reads.</summary>
public class RecurrentStateTests
{
    public static TheoryData<CellType> AllCells() => new() { CellType.Rnn, CellType.RnnRelu, CellType.Lstm, CellType.Gru };

    [Theory]
    [MemberData(nameof(AllCells))]
    public void StatefulCarryEqualsOneLongSequence(CellType cell)
    {
        var rng = new Rng(11);
        var layer = MakeLayer(cell, 5, 4, rng);
        layer.Stateful = true;
        var x1 = GradCheck.RandomTensor(rng, 1.0, 3, 4, 5);
        var x2 = GradCheck.RandomTensor(rng, 1.0, 3, 3, 5);
        layer.Forward(x1);
        var hs2 = layer.Forward(x2).Clone();

        var whole = RecurrentLayers.Twin(layer, stateful: false);
        var hsAll = whole.Forward(Concat(x1, x2));
        Assert.True(MaxAbsDiff(hs2.Span, TimeSlice(hsAll, 4, 3).Span) < 1e-14);
        Assert.True(MaxAbsDiff(layer.State!.Span, whole.State!.Span) < 1e-14);

        // ResetState: the next call starts from zeros again.
        layer.ResetState();
        Assert.Null(layer.State);
        var fresh = layer.Forward(x1).Clone();
        Assert.True(MaxAbsDiff(fresh.Span, TimeSlice(hsAll, 0, 4).Span) < 1e-14);
    }

    [Theory]
    [MemberData(nameof(AllCells))]
    public void SecondStatefulCallGradientsTreatCarriedStateAsConstant(CellType cell)
    {
        var rng = new Rng(21);
        int n = 3, d = 5, h = 4;
        var layer = MakeLayer(cell, d, h, rng);
        layer.Stateful = true;
        var x1 = GradCheck.RandomTensor(rng, 1.0, n, 7, d);
        var x2 = GradCheck.RandomTensor(rng, 1.0, n, 7, d);
        var dhs2 = GradCheck.RandomTensor(rng, 1.0, n, 7, h);

        layer.Forward(x1);
        var h1 = layer.State!.Clone();
        var c1 = layer.CellState?.Clone();
        Assert.Equal(cell == CellType.Lstm, c1 is not null);
        layer.ZeroGrad();
        layer.Forward(x2);                                   // carries (h1, c1)
        Assert.True(MaxAbsDiff(layer.H0.Span, h1.Span) == 0);
        double mag = LossMagnitude(layer.Hs, dhs2);
        var dxs = layer.Backward(dhs2).Clone();
        var dh0 = layer.DH0!.Clone();
        var dc0 = layer.DC0?.Clone();
        var grads = layer.Parameters.Select(p => (p, g: p.Grad.Clone())).ToList();

        // Truncated BPTT: the second call's loss as a function of the parameters with (h1, c1) held constant.
        double Loss()
        {
            layer.SetState(h1, c1);
            return GradCheck.UpstreamLoss(layer.Forward(x2), dhs2);
        }
        foreach (var (p, g) in grads) AssertOk(Check(p.Name, Loss, p.Value, g.Span, mag), $"{cell} 2nd call");
        AssertOk(Check("xs", Loss, x2, dxs.Span, mag), $"{cell} 2nd call");
        AssertOk(Check("h0", Loss, h1, dh0.Span, mag), $"{cell} 2nd call");
        if (c1 is not null) AssertOk(Check("c0", Loss, c1, dc0!.Span, mag), $"{cell} 2nd call");
    }

    /// <summary>
    /// StepGradH[:,t] is the total ∂L/∂h_t. Independent check: split the sequence after step t, run the tail from
    /// (h_t, c_t) with a tied twin layer, and differentiate the tail's loss numerically with respect to h_t:
    /// ∂L/∂h_t = dhs[:,t] + ∂L_tail/∂h_t. For LSTM likewise StepGradC[:,t] = ∂L_tail/∂c_t + StepGradH[:,t] ⊙ o_t ⊙ (1 − tanh²c_t).
    /// </summary>
    [Theory]
    [MemberData(nameof(AllCells))]
    public void StepGradHEqualsNumericalTotalGradientPerStep(CellType cell)
    {
        var rng = new Rng(31);
        int n = 3, t = 7, d = 5, h = 4;
        var layer = MakeLayer(cell, d, h, rng);
        var xs = GradCheck.RandomTensor(rng, 1.0, n, t, d);
        var dhs = GradCheck.RandomTensor(rng, 1.0, n, t, h);
        var h0 = GradCheck.RandomTensor(rng, 0.5, n, h);
        layer.SetState(h0);
        var hs = layer.Forward(xs).Clone();
        layer.Backward(dhs);
        var sg = layer.StepGradH.Clone();
        var lstm = layer as TimeLSTM<double>;
        var sgc = lstm?.StepGradC.Clone();
        var cs = lstm?.Cs.Clone();
        var gates = lstm?.Gates.Clone();

        // Last step: nothing comes from the future.
        Assert.Equal(StepOf(dhs, t - 1).ToArray(), StepOf(sg, t - 1).ToArray());

        var tail = RecurrentLayers.Twin(layer, stateful: false);
        for (int s = 0; s < t - 1; s++)
        {
            var ht = StepOf(hs, s);
            var ct = cs is null ? null : StepOf(cs, s);
            var xsTail = TimeSlice(xs, s + 1, t - s - 1);
            var dhsTail = TimeSlice(dhs, s + 1, t - s - 1);
            double Loss()
            {
                tail.SetState(ht, ct);
                return GradCheck.UpstreamLoss(tail.Forward(xsTail), dhsTail);
            }
            var numH = Numeric(Loss, ht);
            var dhsS = StepOf(dhs, s).Span;
            for (int i = 0; i < numH.Length; i++) numH[i] += dhsS[i];
            AssertOk(GradCheck.Compare($"StepGradH[:,{s}]", StepOf(sg, s).Span, numH), cell.ToString());

            if (ct is not null)
            {
                var numC = Numeric(Loss, ct);
                var sgS = StepOf(sg, s);
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < h; j++)
                    {
                        double o = gates![i, s, 3 * h + j], tc = Math.Tanh(ct[i, j]);
                        numC[i * h + j] += sgS[i, j] * o * (1 - tc * tc);
                    }
                AssertOk(GradCheck.Compare($"StepGradC[:,{s}]", StepOf(sgc!, s).Span, numC), cell.ToString());
            }
        }
    }

    /// <summary>The documented recorder contract: ∂L/∂h_{t−1} = dhs[:,t−1] + StepGradA[:,t]·Whᵀ (+ ∂L/∂h_t ⊙ z_t for GRU), DH0 at t = 0.</summary>
    [Theory]
    [MemberData(nameof(AllCells))]
    public void StepGradAReachesPreviousStepThroughWh(CellType cell)
    {
        var rng = new Rng(41);
        int n = 2, t = 5, d = 3, h = 4;
        var layer = MakeLayer(cell, d, h, rng);
        var xs = GradCheck.RandomTensor(rng, 1.0, n, t, d);
        var dhs = GradCheck.RandomTensor(rng, 1.0, n, t, h);
        layer.Forward(xs);
        layer.Backward(dhs);
        var sg = layer.StepGradH; var ga = layer.StepGradA; var wh = layer.Wh.Value;
        int k = wh.Dim(1);
        var gru = layer as TimeGRU<double>;
        for (int s = 0; s < t; s++)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < h; j++)
                {
                    double v = s > 0 ? dhs[i, s - 1, j] : 0;
                    for (int q = 0; q < k; q++) v += ga[i, s, q] * wh[j, q];
                    if (gru is not null) v += sg[i, s, j] * gru.Gates[i, s, h + j];
                    double actual = s > 0 ? sg[i, s - 1, j] : layer.DH0![i, j];
                    Assert.True(Math.Abs(v - actual) < 1e-12, $"{cell} step {s} [{i},{j}]: {v} vs {actual}");
                }
    }

    private static double[] Numeric(Func<double> loss, Tensor<double> x)
    {
        double hh = 1e-4;
        var d1 = GradCheck.Numeric(loss, x, hh);
        var d2 = GradCheck.Numeric(loss, x, 2 * hh);
        for (int i = 0; i < d1.Length; i++) d1[i] = (4 * d1[i] - d2[i]) / 3;
        return d1;
    }

    [Theory]
    [MemberData(nameof(AllCells))]
    public void ShapeMismatchesNameLayerAndShapes(CellType cell)
    {
        var layer = RecurrentLayers.Create<double>(cell, 5, 4, new Rng(1), name: "enc");
        var ex = Assert.Throws<ArgumentException>(() => layer.Forward(new Tensor<double>(2, 3, 6)));
        Assert.Contains("'enc'", ex.Message); Assert.Contains("(2, 3, 6)", ex.Message); Assert.Contains("(N, T, 5)", ex.Message);
        Assert.Contains(cell == CellType.Lstm ? "TimeLSTM" : cell == CellType.Gru ? "TimeGRU" : "TimeRNN", ex.Message);

        Assert.Throws<InvalidOperationException>(() => layer.Backward(new Tensor<double>(2, 3, 4)));
        layer.Forward(new Tensor<double>(2, 3, 5));
        ex = Assert.Throws<ArgumentException>(() => layer.Backward(new Tensor<double>(2, 4, 4)));
        Assert.Contains("(2, 4, 4)", ex.Message); Assert.Contains("(2, 3, 4)", ex.Message); Assert.Contains("'enc'", ex.Message);

        ex = Assert.Throws<ArgumentException>(() => layer.SetState(new Tensor<double>(2, 5)));
        Assert.Contains("(2, 5)", ex.Message); Assert.Contains("(N, 4)", ex.Message);

        // A carried state with another batch size is an error, not a silent reset.
        layer.Stateful = true;
        layer.SetState(new Tensor<double>(3, 4));
        ex = Assert.Throws<ArgumentException>(() => layer.Forward(new Tensor<double>(2, 3, 5)));
        Assert.Contains("(3, 4)", ex.Message); Assert.Contains("(2, 3, 5)", ex.Message);
        layer.ResetState();
        layer.Forward(new Tensor<double>(2, 3, 5));
    }

    [Fact]
    public void CellStateOnlyForLstm()
    {
        var rnn = RecurrentLayers.Create<double>(CellType.Rnn, 2, 3, new Rng(1), name: "r");
        var ex = Assert.Throws<ArgumentException>(() => rnn.SetState(new Tensor<double>(1, 3), new Tensor<double>(1, 3)));
        Assert.Contains("no cell state", ex.Message);
        var lstm = RecurrentLayers.Create<double>(CellType.Lstm, 2, 3, new Rng(1), name: "l");
        ex = Assert.Throws<ArgumentException>(() => lstm.SetState(new Tensor<double>(1, 3), new Tensor<double>(2, 3)));
        Assert.Contains("(2, 3)", ex.Message); Assert.Contains("(1, 3)", ex.Message);
        lstm.SetState(new Tensor<double>(1, 3));             // c defaults to zeros
        Assert.All(lstm.CellState!.ToArray(), v => Assert.Equal(0.0, v));
    }
}
