using Unroll.Optim;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Tests;

/// <summary>
/// The blocked, parallel passes over the parameters (zero-grad, global norm, clip scale, optimizer update) against
/// their serial references, and the split-independence that makes them deterministic. Parts are also run by hand in
/// shuffled orders, so the partition logic is tested whether or not the worker pool is free during the test.
/// </summary>
public class ParameterSweepTests
{
    // sizes chosen to cut blocks (B = 32768) inside parameters, to have parameters inside one block, size 1 and odd sizes
    private static readonly int[] Sizes = [1, 40_000, 3, 70_001, 32_768, 17, 100_003];

    private static List<Parameter<T>> Params<T>(ulong seed, int[] sizes, double gradScale = 1.0, bool tie = false)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new Rng(seed);
        var ps = new List<Parameter<T>>();
        for (int k = 0; k < sizes.Length; k++)
        {
            var p = new Parameter<T>($"p{k}", new Tensor<T>(sizes[k]));
            for (int i = 0; i < sizes[k]; i++)
            {
                p.Value.Span[i] = T.CreateTruncating(rng.NextGaussian());
                // mixed magnitudes, and a few saturated (|g| ≥ 20) entries
                double g = rng.NextGaussian() * (i % 7 == 0 ? 1e-4 : 1.0) * gradScale;
                if (i % 1001 == 5) g = 25 * Math.Sign(g + 0.5);
                p.Grad.Span[i] = T.CreateTruncating(g);
            }
            ps.Add(p);
        }
        if (tie) ps.Insert(3, ps[1]);                                  // p1 listed twice (tied): must count/update once
        return ps;
    }

    private static List<Parameter<T>> Clone<T>(List<Parameter<T>> ps) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var map = new Dictionary<Parameter<T>, Parameter<T>>(ReferenceEqualityComparer.Instance);
        var list = new List<Parameter<T>>();
        foreach (var p in ps)
        {
            if (!map.TryGetValue(p, out var q))
            {
                q = new Parameter<T>(p.Name, p.Value.Clone());
                p.Grad.Span.CopyTo(q.Grad.Span);
                map[p] = q;
            }
            list.Add(q);
        }
        return list;
    }

    private static void AssertSameBits<T>(List<Parameter<T>> a, List<Parameter<T>> b, string what) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        for (int k = 0; k < a.Count; k++)
        {
            Assert.True(a[k].Value.Span.SequenceEqual(b[k].Value.Span), $"{what}: value of {a[k].Name} differs");
            Assert.True(a[k].Grad.Span.SequenceEqual(b[k].Grad.Span), $"{what}: gradient of {a[k].Name} differs");
        }
    }

    private static int[] Shuffled(int parts, Rng rng)
    {
        var order = Enumerable.Range(0, parts).ToArray();
        for (int i = parts - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (order[i], order[j]) = (order[j], order[i]); }
        return order;
    }

    // ---- the squared-sum kernel ----

    public static TheoryData<int> SpanSizes => [0, 1, 7, 8, 15, 16, 17, 31, 33, 64, 1000, 100_003];

    [Theory]
    [MemberData(nameof(SpanSizes))]
    public void SquaredSumMatchesReference(int n)
    {
        // Not bit for bit: the SIMD kernel adds in another order (lanes, then lanes together) than the left-to-right
        // reference — double: agreement to double rounding (n·2⁻⁵³ relative); float: runs of 4 squares per lane are
        // summed in float first (≤ 4 float roundings, 2.4e-7 relative per run, in a sum of positive terms).
        var rng = new Rng((ulong)n + 1);
        var f = new float[n]; var d = new double[n];
        for (int i = 0; i < n; i++) { d[i] = rng.NextGaussian() * (i % 5 == 0 ? 30 : 1); f[i] = (float)d[i]; }
        double fr = ParameterSweep.SquaredSumReference<float>(f), ff = ParameterSweep.SquaredSum<float>(f);
        double dr = ParameterSweep.SquaredSumReference<double>(d), df = ParameterSweep.SquaredSum<double>(d);
        Assert.True(Math.Abs(ff - fr) <= 3e-7 * fr, $"float n={n}: {ff:R} vs reference {fr:R}");
        Assert.True(Math.Abs(df - dr) <= 1e-13 * Math.Max(1, n) * dr, $"double n={n}: {df:R} vs reference {dr:R}");
        if (n == 0) { Assert.Equal(0.0, ff); Assert.Equal(0.0, df); }
    }

    [Fact]
    public void SquaredSumOfFloatsDoesNotOverflowAndPropagatesNaNAndInfinity()
    {
        foreach (int n in new[] { 37, 1037 })                                  // short (widened) and long (float runs, then redone widened)
        {
            var f = new float[n]; f.AsSpan().Fill(1e30f);                      // each square overflows float, not double
            f[n / 2] = 3f;
            double s = ParameterSweep.SquaredSum<float>(f);
            Assert.True(double.IsFinite(s) && Math.Abs(s / ((n - 1) * 1e60) - 1) < 1e-6, $"n={n}: {s:R}");
            f[20] = float.NaN;
            Assert.True(double.IsNaN(ParameterSweep.SquaredSum<float>(f)));
            f[20] = float.NegativeInfinity;
            Assert.Equal(double.PositiveInfinity, ParameterSweep.SquaredSum<float>(f));
            f[20] = 1; f[n - 1] = float.NaN;                                    // in the scalar tail
            Assert.True(double.IsNaN(ParameterSweep.SquaredSum<float>(f)));
            f.AsSpan().Fill(2f); f[n - 2] = float.PositiveInfinity;
            Assert.Equal(double.PositiveInfinity, ParameterSweep.SquaredSum<float>(f));
        }
    }

    // ---- the global norm ----

    [Fact]
    public void GlobalNormMatchesReferenceAndIsTheSameForEverySplit()
    {
        var ps = Params<float>(3, Sizes, tie: true);
        double norm = GradClip.GlobalNorm(ps), reference = GradClip.GlobalNormReference(ps);
        Assert.True(Math.Abs(norm - reference) <= 3e-7 * reference, $"{norm:R} vs reference {reference:R}");     // float runs: see SquaredSumMatchesReference
        // the tied parameter counts once
        var distinct = ps.Distinct(ReferenceEqualityComparer.Instance).Cast<Parameter<float>>().ToList();
        Assert.Equal(norm, GradClip.GlobalNorm(distinct));

        var work = SweepWork<float>.Rent();
        var rng = new Rng(4);
        work.Prepare(ps, SweepOp.SumOfSquares, 0f, null);
        int blocks = work.Blocks;
        Assert.Equal((ParameterSweep.DistinctLength(ps) + ParameterSweep.BlockElements - 1) / ParameterSweep.BlockElements, blocks);
        foreach (int parts in new[] { 1, 2, 3, 7, blocks })
        {
            work.Prepare(ps, SweepOp.SumOfSquares, 0f, null);
            foreach (int part in Shuffled(parts, rng)) work.RunPart(part, parts);
            Assert.Equal(norm, Math.Sqrt(work.Finish()));                   // bit for bit
        }
    }

    [Fact]
    public void GlobalNormOfFloatGradientsIsCloseToTheFloat64Sum()
    {
        // mixed 1 and 1e-4-sized entries over 1.2 M elements: runs of float squares summed in double stay within
        // 1e-7 of the element-by-element double sum (a float accumulator over the whole vector would not)
        var ps = Params<float>(5, [1_200_001]);
        double exact = GradClip.GlobalNormReference(ps), got = GradClip.GlobalNorm(ps);
        Assert.True(Math.Abs(got - exact) <= 1e-7 * exact, $"{got:R} vs {exact:R}");
    }

    // ---- zero and scale ----

    [Fact]
    public void ZeroAndScaleCoverEveryElementOnceForEverySplit()
    {
        var rng = new Rng(6);
        foreach (int parts in new[] { 1, 2, 5, 13 })
        {
            var ps = Params<float>(7, Sizes, tie: true);
            var expected = Clone(ps);
            foreach (var p in expected.Distinct(ReferenceEqualityComparer.Instance).Cast<Parameter<float>>())
                TP.Multiply<float>(p.Grad.Span, 0.37f, p.Grad.Span);
            var work = SweepWork<float>.Rent();
            work.Prepare(ps, SweepOp.Scale, 0.37f, null);
            foreach (int part in Shuffled(parts, rng)) work.RunPart(part, parts);
            AssertSameBits(expected, ps, $"scale in {parts} parts (tied parameter scaled once)");

            work.Prepare(ps, SweepOp.Zero, 0f, null);
            foreach (int part in Shuffled(parts, rng)) work.RunPart(part, parts);
            Assert.All(ps, p => Assert.True(p.Grad.Span.IndexOfAnyExcept(0f) < 0, $"{p.Name} not zeroed"));
        }
    }

    [Fact]
    public void ModuleZeroGradClearsALargeModel()
    {
        var m = LanguageModelsForTests.Large();
        Assert.True(ParameterSweep.DistinctLength(m.DistinctParameters()) >= ParameterSweep.ParallelMinElements);
        foreach (var p in m.Parameters) p.Grad.Fill(1.5f);
        m.ZeroGrad();
        Assert.All(m.Parameters, p => Assert.True(p.Grad.Span.IndexOfAnyExcept(0f) < 0, $"{p.Name} not zeroed"));
    }

    // ---- the optimizer update with the clip scale folded in ----

    public static TheoryData<string, double> Kinds => new()
    {
        { "sgd", 20 }, { "momentum", 0.05 }, { "adagrad", 0.3 }, { "rmsprop", 0.01 }, { "adam", 0.002 },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void StepWithScaleIsBitIdenticalToScaleThenSerialStep(string kind, double lr)
    {
        // Every update rule is elementwise (TensorPrimitives ops, no fused multiply-add), so the blocked/parallel
        // pass and the whole-parameter serial reference compute each element by the same operations: same bits.
        var ps = Params<float>(11, Sizes, tie: true);
        var reference = Clone(ps);
        var fast = Optimizers.Create<float>(kind, lr);
        var slow = Optimizers.Create<float>(kind, lr);
        var rng = new Rng(12);
        for (int step = 0; step < 4; step++)
        {
            double scale = step == 2 ? 1.0 : 0.25 / (3 + step);            // step 2: no clipping (gradients untouched)
            fast.Step(ps, scale);
            slow.StepReference(reference, scale);
            AssertSameBits(reference, ps, $"{kind} step {step}");
            // new gradients for the next step, the same in both
            foreach (var p in ps.Distinct(ReferenceEqualityComparer.Instance).Cast<Parameter<float>>())
                for (int i = 0; i < p.Grad.Length; i += 3) p.Grad.Span[i] = (float)rng.NextGaussian();
            for (int k = 0; k < ps.Count; k++) ps[k].Grad.Span.CopyTo(reference[k].Grad.Span);
        }
        Assert.Equal(slow.Steps, fast.Steps);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void StepPartsInAnyOrderGiveTheSameBits(string kind, double lr)
    {
        var rng = new Rng(13);
        foreach (int parts in new[] { 2, 3, 9 })
        {
            var ps = Params<float>(14, Sizes, tie: true);
            var reference = Clone(ps);
            var fast = Optimizers.Create<float>(kind, lr);
            var slow = Optimizers.Create<float>(kind, lr);
            for (int step = 0; step < 2; step++)
            {
                fast.BeginStep(ps, 0.3);
                var work = SweepWork<float>.Rent();
                work.Prepare(ps, SweepOp.ScaleAndUpdate, 0.3f, fast);
                foreach (int part in Shuffled(parts, rng)) work.RunPart(part, parts);
                slow.StepReference(reference, 0.3);
                AssertSameBits(reference, ps, $"{kind} in {parts} parts, step {step}");
            }
        }
    }

    [Fact]
    public void TrainerUpdateEqualsClipGlobalNormThenStep()
    {
        // what Trainer.DoStep does now (norm, then Step with the clip coefficient) vs what it did (ClipGlobalNorm, Step)
        var a = Params<float>(15, Sizes, gradScale: 3);
        var b = Clone(a);
        var optA = new Sgd<float>(20); var optB = new Sgd<float>(20);
        double normA = GradClip.ClipGlobalNorm(a, 0.25);
        optA.Step(a);
        double normB = GradClip.GlobalNorm(b);
        optB.Step(b, GradClip.ClipCoefficient(normB, 0.25));
        Assert.Equal(normA, normB);
        Assert.True(normA > 0.25);
        AssertSameBits(a, b, "clip inside the update");
    }

    [Fact]
    public void ClipCoefficientIsOneUnlessClipping()
    {
        Assert.Equal(1.0, GradClip.ClipCoefficient(0.2, 0.25));
        Assert.Equal(1.0, GradClip.ClipCoefficient(0.25, 0.25));
        Assert.Equal(1.0, GradClip.ClipCoefficient(5, 0));                  // disabled
        Assert.Equal(1.0, GradClip.ClipCoefficient(double.NaN, 0.25));
        Assert.Equal(1.0, GradClip.ClipCoefficient(double.PositiveInfinity, 0.25));
        Assert.Equal(0.25 / (5 + 1e-6), GradClip.ClipCoefficient(5, 0.25));
    }

    [Fact]
    public void StepRejectsNonFiniteScale()
    {
        var ps = Params<float>(16, [5]);
        var before = ps[0].Value.ToArray();
        var opt = new Adam<float>(0.1);
        Assert.Throws<ArgumentException>(() => opt.Step(ps, double.NaN));
        Assert.Throws<ArgumentException>(() => ((IOptimizer<float>)new Plain()).Step(ps, double.PositiveInfinity));
        Assert.Equal(before, ps[0].Value.ToArray());
        Assert.Equal(0, opt.Steps);
    }

    /// <summary>An optimizer that only implements the one-argument Step (the interface's default does the scaling).</summary>
    private sealed class Plain : IOptimizer<float>
    {
        public double LearningRate { get; set; } = 0.5;
        public void Step(IReadOnlyList<Parameter<float>> ps) { foreach (var p in ps) TP.MultiplyAdd<float>(p.Grad.Span, -0.5f, p.Value.Span, p.Value.Span); }
    }

    [Fact]
    public void InterfaceDefaultStepScalesThenSteps()
    {
        var a = Params<float>(17, [9, 40_000]);
        ((IOptimizer<float>)new Plain()).Step(a, 0.125);
        // g scaled by 0.125 in place, then w ← w − 0.5·g
        var c = Params<float>(17, [9, 40_000]);
        for (int k = 0; k < c.Count; k++)
        {
            var g = c[k].Grad.ToArray().Select(v => v * 0.125f).ToArray();
            Assert.Equal(g, a[k].Grad.ToArray());
            var w = c[k].Value.ToArray();
            for (int i = 0; i < w.Length; i++) w[i] = g[i] * -0.5f + w[i];
            Assert.Equal(w, a[k].Value.ToArray());
        }
    }

    // ---- no managed allocation on the parallel path ----

    [Fact]
    public void ParallelPassesAllocateNothing()
    {
        var ps = Params<float>(18, [700_000, 5, 400_001]);                // above ParallelMinElements: the pool is used when free
        Assert.True(ParameterSweep.DistinctLength(ps) >= ParameterSweep.ParallelMinElements);
        var adam = new Adam<float>(1e-3);
        void Once()
        {
            ParameterSweep.Zero(ps);
            ps[0].Grad.Span[7] = 3f;
            double n = GradClip.GlobalNorm(ps);
            adam.Step(ps, GradClip.ClipCoefficient(n, 0.25));
            GradClip.ClipGlobalNorm(ps, 1e-3);
        }
        // One-time costs of the shared pool land on whichever thread meets them first (starting a worker, the wait
        // event's lazily created lock on its first blocking wait): incur them here, not in the measured updates.
        for (int i = 0; i < 3; i++) Unroll.Kernels.GemmWorkers.Shared.TryRun(new SlowSecondPart(), 2, 1);
        for (int i = 0; i < 4; i++) Once();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 6; i++) Once();
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(bytes == 0, $"{bytes} bytes allocated over 6 updates");
    }
}

/// <summary>Two parts, the second slow, so the caller usually has to block until a worker finishes it.</summary>
internal sealed class SlowSecondPart : Unroll.Kernels.IPartitionedWork
{
    public void RunPart(int part, int parts) { if (part == 1) Thread.Sleep(20); }
}

internal static class LanguageModelsForTests
{
    /// <summary>A tied 2-layer LSTM LM above the parallel threshold (≈ 1.2 M parameters).</summary>
    public static Unroll.Models.ILanguageModel<float> Large() => Unroll.Models.LanguageModels.Create<float>(
        new Unroll.Models.LanguageModelConfig { Model = "better-rnnlm", Cell = "lstm", Vocab = 5000, Embed = 160, Hidden = 160, Layers = 2, Dropout = 0.5, Tie = true },
        new Rng(19));
}
