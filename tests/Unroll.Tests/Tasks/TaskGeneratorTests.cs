using Unroll.Tasks;
using Unroll.Tensors;

namespace Unroll.Tests.Tasks;

public class TaskGeneratorTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(50)]
    [InlineData(101)]
    public void AddingHasShapesTwoMarkersInTheirHalvesAndTheRightTarget(int len)
    {
        var task = new AddingProblem(len);
        var b = task.Sample<double>(new Rng(3), 64);
        Assert.Equal([64, len, 2], b.Inputs.Shape.ToArray());
        Assert.Equal([64, 1], b.Targets!.Shape.ToArray());
        Assert.Null(b.Labels);
        int half = len / 2;
        for (int i = 0; i < 64; i++)
        {
            var first = new List<int>(); var second = new List<int>();
            for (int t = 0; t < len; t++)
            {
                double v = b.Inputs[i, t, 0], m = b.Inputs[i, t, 1];
                Assert.InRange(v, 0.0, 1.0 - 1e-300);
                Assert.True(m == 0 || m == 1, $"marker {m} at ({i},{t})");
                if (m == 1) (t < half ? first : second).Add(t);
            }
            Assert.Single(first);
            Assert.Single(second);
            Assert.Equal(b.Inputs[i, first[0], 0] + b.Inputs[i, second[0], 0], b.Targets[i, 0]);
        }
    }

    [Fact]
    public void AddingBaselineOfPredictingOneIsAboutOneSixth()
    {
        var b = new AddingProblem(20).Sample<double>(new Rng(11), 200_000);
        double mse = 0;
        foreach (var y in b.Targets!.Span) mse += (y - 1) * (y - 1);
        mse /= b.N;
        // Var(u1+u2) = 1/6; standard error of the estimate = sqrt(Var((y-1)²)/n) = sqrt((1/15 − 1/36)/n) ≈ 4.4e-4
        Assert.InRange(mse, 1.0 / 6 - 0.0022, 1.0 / 6 + 0.0022); // ±5 standard errors
        Assert.Equal(1.0 / 6.0, new AddingProblem(20).BaselineLoss, 12);
    }

    [Fact]
    public void AddingMarkerPositionsCoverBothHalvesUniformly()
    {
        const int len = 10;
        var b = new AddingProblem(len).Sample<float>(new Rng(5), 20_000);
        var counts = new int[len];
        for (int i = 0; i < b.N; i++)
            for (int t = 0; t < len; t++) if (b.Inputs[i, t, 1] == 1f) counts[t]++;
        // each of the 5 positions per half gets 1/5 of the markers: 4000 ± ~4σ (σ ≈ 57)
        foreach (var c in counts) Assert.InRange(c, 3750, 4250);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(100)]
    public void CopyHasTheLayoutOfArjovskyEtAl(int len)
    {
        var task = new CopyMemory(len);
        Assert.Equal(len + 20, task.Steps);
        Assert.Equal(len + 10, task.RecallFrom);
        var b = task.Sample<float>(new Rng(9), 16);
        Assert.Equal([16, len + 20, 10], b.Inputs.Shape.ToArray());
        Assert.Equal(16 * (len + 20), b.Labels!.Length);
        for (int i = 0; i < 16; i++)
        {
            var sym = new int[len + 20];
            for (int t = 0; t < len + 20; t++)
            {
                int hot = -1, ones = 0;
                for (int c = 0; c < 10; c++)
                {
                    float v = b.Inputs[i, t, c];
                    Assert.True(v == 0f || v == 1f);
                    if (v == 1f) { hot = c; ones++; }
                }
                Assert.Equal(1, ones);
                sym[t] = hot;
            }
            for (int t = 0; t < 10; t++) Assert.InRange(sym[t], 1, 8);
            for (int t = 10; t < len + 9; t++) Assert.Equal(0, sym[t]);          // T − 1 blanks
            Assert.Equal(9, sym[len + 9]);                                         // delimiter
            for (int t = len + 10; t < len + 20; t++) Assert.Equal(0, sym[t]);   // 10 blanks
            var labels = b.Labels.AsSpan(i * (len + 20), len + 20);
            for (int t = 0; t < len + 10; t++) Assert.Equal(0, labels[t]);       // T + 10 blank targets
            for (int k = 0; k < 10; k++) Assert.Equal(sym[k], labels[len + 10 + k]); // the symbols, in order
        }
    }

    [Theory]
    [InlineData(1, 10 * 2.0794415416798357 / 21)]
    [InlineData(100, 10 * 2.0794415416798357 / 120)]
    public void CopyMemorylessBaselineIsTenLn8OverTPlus20(int len, double expected)
    {
        var task = new CopyMemory(len);
        Assert.Equal(expected, task.BaselineLoss, 12);
        // the memoryless strategy (blank with certainty, then uniform over 1..8) has exactly this mean CE on samples
        var b = task.Sample<float>(new Rng(2), 8);
        double ce = 0; int scored = 0;
        foreach (var y in b.Labels!) { scored++; if (y != 0) ce += Math.Log(8); }
        Assert.Equal(expected, ce / scored, 10);
    }

    [Fact]
    public void CopySymbolsAreBalancedOverOneToEight()
    {
        var b = new CopyMemory(3).Sample<float>(new Rng(4), 4000);
        var counts = new int[10];
        for (int i = 0; i < b.N; i++) for (int t = 0; t < 10; t++) for (int c = 0; c < 10; c++) if (b.Inputs[i, t, c] == 1f) counts[c]++;
        Assert.Equal(0, counts[0]); Assert.Equal(0, counts[9]);
        for (int c = 1; c <= 8; c++) Assert.InRange(counts[c], 5000 - 300, 5000 + 300); // 40000/8, σ ≈ 66
    }

    [Theory]
    [InlineData(10)]
    [InlineData(25)]
    [InlineData(99)]
    [InlineData(200)]
    public void TemporalOrderPlacesAOrBOnceInEachWindowAndLabelsTheOrder(int len)
    {
        var task = new TemporalOrder(len);
        int w = (int)(len * .1), s0 = (int)(len * .1), s1 = (int)(len * .5);
        var b = task.Sample<float>(new Rng(8), 200);
        Assert.Equal([200, len, 6], b.Inputs.Shape.ToArray());
        for (int i = 0; i < 200; i++)
        {
            var pos = new List<(int t, int s)>();
            for (int t = 0; t < len; t++)
            {
                int hot = -1, ones = 0;
                for (int c = 0; c < 6; c++) if (b.Inputs[i, t, c] == 1f) { hot = c; ones++; }
                Assert.Equal(1, ones);
                if (hot < 2) pos.Add((t, hot));
            }
            Assert.Equal(2, pos.Count);
            Assert.InRange(pos[0].t, s0, s0 + w - 1);
            Assert.InRange(pos[1].t, s1, s1 + w - 1);
            Assert.True(pos[0].t >= len / 10 && pos[0].t < len / 5 + 1);
            var labels = b.Labels.AsSpan(i * len, len);
            for (int t = 0; t < len - 1; t++) Assert.Equal(SequenceTask.IgnoreIndex, labels[t]);
            Assert.Equal(pos[0].s + 2 * pos[1].s, labels[len - 1]);
        }
    }

    [Fact]
    public void TemporalOrderClassesAndDistractorsAreBalanced()
    {
        var b = new TemporalOrder(20).Sample<float>(new Rng(6), 8000);
        var classes = new int[4];
        foreach (var y in b.LastStepLabels()) classes[y]++;
        foreach (var c in classes) Assert.InRange(c, 2000 - 200, 2000 + 200); // σ ≈ 39
        var sym = new int[6];
        for (int i = 0; i < b.N; i++) for (int t = 0; t < 20; t++) for (int c = 0; c < 6; c++) if (b.Inputs[i, t, c] == 1f) sym[c]++;
        for (int c = 2; c < 6; c++) Assert.InRange(sym[c], 36000 - 800, 36000 + 800); // 8000·18/4
        Assert.Equal(2 * 8000, sym[0] + sym[1]);
    }

    [Theory]
    [InlineData("adding", 30)]
    [InlineData("copy", 7)]
    [InlineData("temporal-order", 40)]
    public void SameSeedSameDataDifferentSeedDifferentData(string name, int len)
    {
        var task = SequenceTask.Create(name, len);
        var a = task.Sample<float>(new Rng(21), 10);
        var b = task.Sample<float>(new Rng(21), 10);
        var c = task.Sample<float>(new Rng(22), 10);
        Assert.Equal(a.Inputs.ToArray(), b.Inputs.ToArray());
        Assert.NotEqual(a.Inputs.ToArray(), c.Inputs.ToArray());
        if (a.Labels is not null) Assert.Equal(a.Labels, b.Labels);
        else Assert.Equal(a.Targets!.ToArray(), b.Targets!.ToArray());

        // the held-out set is fixed by its seed and independent of any training stream
        var h1 = task.HeldOut<float>(10, 21);
        var h2 = task.HeldOut<float>(10, 21);
        Assert.Equal(h1.Inputs.ToArray(), h2.Inputs.ToArray());
        Assert.NotEqual(a.Inputs.ToArray(), h1.Inputs.ToArray());

        // Fill reuses the batch and continues the stream
        var rng = new Rng(21);
        var reuse = task.Sample<float>(rng, 10);
        task.Fill(rng, reuse);
        var rng2 = new Rng(21);
        task.Sample<float>(rng2, 10);
        Assert.Equal(task.Sample<float>(rng2, 10).Inputs.ToArray(), reuse.Inputs.ToArray());
    }

    [Fact]
    public void FloatAndDoubleBatchesHoldTheSameSamples()
    {
        var f = new AddingProblem(12).Sample<float>(new Rng(1), 4);
        var d = new AddingProblem(12).Sample<double>(new Rng(1), 4);
        for (int k = 0; k < f.Inputs.Length; k++) Assert.Equal((float)d.Inputs.Span[k], f.Inputs.Span[k]);
    }

    [Theory]
    [InlineData("adding", 1, "at least 2")]
    [InlineData("adding", 0, "at least 2")]
    [InlineData("copy", 0, "at least 1")]
    [InlineData("copy", -3, "at least 1")]
    [InlineData("temporal-order", 9, "at least 10")]
    public void TooShortLengthsThrowAClearMessage(string name, int len, string expected)
    {
        var ex = Assert.Throws<ArgumentException>(() => SequenceTask.Create(name, len));
        Assert.Contains(expected, ex.Message);
        Assert.Contains($"T = {len}", ex.Message);
    }

    [Fact]
    public void UnknownTaskNameListsTheKnownOnes()
    {
        var ex = Assert.Throws<ArgumentException>(() => SequenceTask.Create("parity", 10));
        Assert.Contains("unknown task 'parity'", ex.Message);
        Assert.Contains("adding, copy, temporal-order", ex.Message);
    }

    [Fact]
    public void NonPositiveBatchSizeThrows()
        => Assert.Throws<ArgumentException>(() => new CopyMemory(3).Sample<float>(new Rng(1), 0));
}
