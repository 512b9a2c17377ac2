using Unroll.Init;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Tests;

public class InitializerTests
{
    /// <summary>max |(AᵀA or AAᵀ) − gain²·I| — whichever Gram matrix is k×k with k = min(rows, cols).</summary>
    private static double OrthogonalityError<T>(Tensor<T> w, double gain) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int rows = w.Dim(0), cols = w.Dim(1);
        bool tall = rows >= cols;
        int k = Math.Min(rows, cols), m = Math.Max(rows, cols);
        double err = 0;
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
            {
                double s = 0;
                for (int i = 0; i < m; i++)
                    s += double.CreateChecked(tall ? w[i, a] : w[a, i]) * double.CreateChecked(tall ? w[i, b] : w[b, i]);
                err = Math.Max(err, Math.Abs(s - (a == b ? gain * gain : 0)));
            }
        return err;
    }

    [Theory]
    [InlineData(6, 6)]
    [InlineData(8, 3)]
    [InlineData(3, 8)]
    [InlineData(1, 1)]
    [InlineData(65, 65)]
    public void OrthogonalIsOrthogonal(int rows, int cols)
    {
        var w = new Tensor<double>(rows, cols);
        Initializers.Orthogonal(w, new Rng(7));
        Assert.True(OrthogonalityError(w, 1.0) < 1e-12, $"double {rows}×{cols}: {OrthogonalityError(w, 1.0)}");
        var wf = new Tensor<float>(rows, cols);
        Initializers.Orthogonal(wf, new Rng(7), gain: 0.5);
        Assert.True(OrthogonalityError(wf, 0.5) < 1e-6, $"float {rows}×{cols}: {OrthogonalityError(wf, 0.5)}");
    }

    [Fact]
    public void OrthogonalIsSignCorrectedAndSeedDetermined()
    {
        // Sign correction makes Q Haar-distributed: over many draws the diagonal of a 2×2 Q is positive half the time.
        var rng = new Rng(3);
        int positive = 0, draws = 400;
        for (int i = 0; i < draws; i++)
        {
            var w = new Tensor<double>(2, 2);
            Initializers.Orthogonal(w, rng);
            if (w[0, 0] > 0) positive++;
        }
        Assert.InRange(positive, 160, 240);   // binomial(400, 0.5): ±4 std
        var a = new Tensor<double>(5, 4); var b = new Tensor<double>(5, 4); var c = new Tensor<double>(5, 4);
        Initializers.Orthogonal(a, new Rng(11)); Initializers.Orthogonal(b, new Rng(11)); Initializers.Orthogonal(c, new Rng(12));
        Assert.Equal(a.ToArray(), b.ToArray());
        Assert.NotEqual(a.ToArray(), c.ToArray());
    }

    private static (double mean, double std) Stats(Tensor<double> w)
    {
        var s = w.ToArray();
        double mean = s.Average();
        return (mean, Math.Sqrt(s.Select(v => (v - mean) * (v - mean)).Average()));
    }

    [Fact]
    public void XavierIsTextbookGaussianOverSqrtFanIn()
    {
        var w = new Tensor<double>(200, 300);                  // 60000 draws: std of the std estimate ≈ 0.3 %
        Initializers.Xavier(w, new Rng(1));
        var (mean, std) = Stats(w);
        Assert.InRange(mean, -0.002, 0.002);
        Assert.InRange(std / (1 / Math.Sqrt(200)), 0.985, 1.015);
    }

    [Fact]
    public void GlorotUniformAndGaussianScales()
    {
        var w = new Tensor<double>(100, 300);
        Initializers.GlorotUniform(w, new Rng(2));
        double a = Math.Sqrt(6.0 / 400);
        Assert.All(w.ToArray(), v => Assert.InRange(v, -a, a));
        Assert.InRange(Stats(w).std / (a / Math.Sqrt(3)), 0.98, 1.02);
        Initializers.Gaussian(w, new Rng(2), 0.5);
        Assert.InRange(Stats(w).std / 0.5, 0.98, 1.02);
    }

    [Fact]
    public void IdentityAndForgetBias()
    {
        var w = new Tensor<float>(3, 3);
        w.Fill(7f);
        Initializers.Identity(w, 0.9);
        Assert.Equal(new[] { 0.9f, 0, 0, 0, 0.9f, 0, 0, 0, 0.9f }, w.ToArray());
        Assert.Throws<ArgumentException>(() => Initializers.Identity(new Tensor<float>(2, 3)));

        var lstm = new TimeLSTM<float>(3, 2, new Rng(1), new RecurrentInit { ForgetBias = 1.0 });
        Assert.Equal(new[] { 0f, 0, 1, 1, 0, 0, 0, 0 }, lstm.B.Value.ToArray());
        Assert.Throws<ArgumentException>(() => new TimeGRU<float>(3, 2, new Rng(1), new RecurrentInit { ForgetBias = 1.0 }));
    }

    [Fact]
    public void LayerDefaultsAreTextbookXavierAndZeroBias()
    {
        var l = new TimeLSTM<double>(150, 100, new Rng(4));
        Assert.Equal([150, 400], l.Wx.Value.Shape.ToArray());
        Assert.Equal([100, 400], l.Wh.Value.Shape.ToArray());
        Assert.InRange(Stats(l.Wx.Value).std * Math.Sqrt(150), 0.98, 1.02);
        Assert.InRange(Stats(l.Wh.Value).std * Math.Sqrt(100), 0.98, 1.02);
        Assert.All(l.B.Value.ToArray(), v => Assert.Equal(0.0, v));
        Assert.Equal(["lstm.Wx", "lstm.Wh", "lstm.b"], l.Parameters.Select(p => p.Name).ToArray());
    }

    [Fact]
    public void GatedRecurrentInitIsPerGateBlock()
    {
        int h = 5;
        var lstm = new TimeLSTM<double>(3, h, new Rng(6), new RecurrentInit { Recurrent = WeightInit.Orthogonal });
        var gru = new TimeGRU<double>(3, h, new Rng(6), new RecurrentInit { Recurrent = WeightInit.Identity, RecurrentScale = 0.7 });
        for (int g = 0; g < 4; g++)
        {
            var block = new Tensor<double>(h, h);
            for (int i = 0; i < h; i++) lstm.Wh.Value.Row(i).Slice(g * h, h).CopyTo(block.Row(i));
            Assert.True(OrthogonalityError(block, 1.0) < 1e-12, $"LSTM Wh gate block {g}");
        }
        for (int g = 0; g < 3; g++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < h; j++) Assert.Equal(i == j ? 0.7 : 0.0, gru.Wh.Value[i, g * h + j]);
        var ex = Assert.Throws<ArgumentException>(() => new TimeRNN<double>(3, h, new Rng(1), init: new RecurrentInit { Input = WeightInit.Identity }));
        Assert.Contains("(3, 5)", ex.Message);
    }

    [Theory]
    [InlineData(CellType.Rnn)]
    [InlineData(CellType.RnnRelu)]
    [InlineData(CellType.Lstm)]
    [InlineData(CellType.Gru)]
    public void SameSeedSameLayer(CellType cell)
    {
        IRecurrentLayer<float> Make(ulong seed) => RecurrentLayers.Create<float>(cell, 4, 3, new Rng(seed),
            new RecurrentInit { Recurrent = WeightInit.Orthogonal });
        var a = Make(5); var b = Make(5); var c = Make(6);
        var pa = a.Parameters.ToList(); var pb = b.Parameters.ToList(); var pc = c.Parameters.ToList();
        for (int i = 0; i < pa.Count; i++) Assert.Equal(pa[i].Value.ToArray(), pb[i].Value.ToArray());
        Assert.NotEqual(pa[0].Value.ToArray(), pc[0].Value.ToArray());
        var x = new Tensor<float>(2, 3, 4);
        x.Fill(0.3f);
        Assert.Equal(a.Forward(x).ToArray(), b.Forward(x).ToArray());
    }
}
