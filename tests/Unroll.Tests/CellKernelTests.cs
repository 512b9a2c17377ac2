using System.Runtime.Intrinsics;
using Unroll.Checking;
using Unroll.Kernels;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// The fused per-row cell kernels (<see cref="LstmKernels"/>, <see cref="GruKernels"/>, <see cref="RnnKernels"/>)
/// against their reference twins: row sizes 0…70, 128 and 650 (every tail length of a 16-float vector), random and
/// saturated (|x| ≥ 20) inputs, tiny gradients that the flush must zero, NaN propagation; and whole float layers with
/// fused vs reference kernels. Forward tolerances are relative to the magnitude of each output's terms (the fused σ
/// and tanh differ from TensorPrimitives' by a few ulp); backward kernels have no transcendental functions and must
/// agree exactly.
/// </summary>
public class CellKernelTests
{
    public static IEnumerable<object[]> Sizes()
    {
        for (int h = 0; h <= 70; h++) yield return [h];
        yield return [128];
        yield return [650];
    }

    private const float Flush = 1.0842022e-19f;          // Subnormals.SafeProductThreshold<float>()
    private const double Rel = 2e-6;                       // ≈ 16 ulp: sum of both kernels' σ/tanh errors, with margin
    // The reference kernels' TensorPrimitives.Tanh (System.Numerics.Tensors 10.0.12, float) is accurate only in absolute
    // terms: max |error| 1.47e-7 over [−100, 100] (at x = −4.51), tanh(−0) = 5.96e-8, tanh(1e-10) = −5.96e-8 — so every
    // value computed through a reference tanh gets this absolute allowance (the fused TanhF is ≤ 1.21 ulp relative).
    private const double TanhAbs = 2e-7;

    /// <summary>n values: Gaussian·scale, or (saturated) ±(20 … 100), with every 7th value tiny (1e-25) when <paramref name="tiny"/>.</summary>
    private static float[] Draw(Rng rng, int n, float scale, bool saturated, bool tiny = false)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            x[i] = saturated ? (rng.NextDouble() < 0.5 ? -1 : 1) * (20f + 80f * rng.NextSingle()) : (float)(rng.NextGaussian() * scale);
            if (tiny && i % 7 == 3) x[i] = (float)(rng.NextGaussian() * 1e-25);
        }
        return x;
    }

    /// <summary>Asserts |fused − ref| ≤ tol[i] elementwise (NaN must match NaN); the message names the tensor and the max diff.</summary>
    private static void Close(string name, int h, ReadOnlySpan<float> reference, ReadOnlySpan<float> fused, Func<int, double> tol)
    {
        Assert.Equal(reference.Length, fused.Length);
        double worst = 0; int at = -1;
        for (int i = 0; i < reference.Length; i++)
        {
            if (float.IsNaN(reference[i]) || float.IsNaN(fused[i]))
            {
                Assert.True(float.IsNaN(reference[i]) && float.IsNaN(fused[i]), $"H={h} {name}[{i}]: reference {reference[i]}, fused {fused[i]}");
                continue;
            }
            double d = Math.Abs((double)reference[i] - fused[i]);
            if (d > tol(i) && (at < 0 || d - tol(i) > worst)) { worst = d - tol(i); at = i; }
        }
        Assert.True(at < 0, at < 0 ? "" : $"H={h} {name}[{at}]: reference {reference[at]:R}, fused {fused[at]:R}, diff {Math.Abs((double)reference[at] - fused[at]):G3} > tolerance {tol(at):G3}");
    }

    private static void Same(string name, int h, ReadOnlySpan<float> reference, ReadOnlySpan<float> fused) => Close(name, h, reference, fused, _ => 0);

    private static double Tol(double magnitude) => Rel * magnitude + 1e-37;

    [Theory]
    [MemberData(nameof(Sizes))]
    public void LstmFusedMatchesReference(int h)
    {
        foreach (bool sat in new[] { false, true })
        {
            var rng = new Rng((ulong)(1000 + h));
            var a = Draw(rng, 4 * h, 2f, sat);
            var cp = Draw(rng, h, 3f, false);
            // forward
            var gR = (float[])a.Clone(); var gF = (float[])a.Clone();
            float[] cR = new float[h], cF = new float[h], tR = new float[h], tF = new float[h], hR = new float[h], hF = new float[h];
            LstmKernels.ForwardRowReference<float>(gR, cp, cR, tR, hR);
            LstmKernels.ForwardRow<float>(gF, cp, cF, tF, hF);
            string tag = sat ? "saturated " : "";
            Close(tag + "gates", h, gR, gF, i => Tol(Math.Abs(gR[i])) + (i >= 2 * h && i < 3 * h ? TanhAbs : 0));
            // c = f ⊙ c_{t−1} + i ⊙ g: error bounded by the terms' magnitudes; tanh c and h inherit it
            double TolC(int j) => Tol(Math.Abs(gR[h + j] * cp[j]) + Math.Abs(gR[j] * gR[2 * h + j])) + Math.Abs(gR[j]) * TanhAbs;
            Close(tag + "c", h, cR, cF, TolC);
            Close(tag + "tanhC", h, tR, tF, j => Tol(Math.Abs(tR[j])) + TanhAbs + TolC(j));
            Close(tag + "h", h, hR, hF, j => Tol(Math.Abs(hR[j])) + Math.Abs(gR[3 * h + j]) * (Tol(Math.Abs(tR[j])) + TanhAbs + TolC(j)));

            // backward on the reference forward's caches (identical inputs for both kernels), with tiny values to flush
            var dh = Draw(rng, h, 1f, false, tiny: true);
            var dc = Draw(rng, h, 1f, false, tiny: true);
            foreach (float thr in new[] { Flush, 0f })
            {
                float[] dhR = (float[])dh.Clone(), dhF = (float[])dh.Clone(), dcR = (float[])dc.Clone(), dcF = (float[])dc.Clone();
                float[] daR = new float[4 * h], daF = new float[4 * h], dcpR = new float[h], dcpF = new float[h];
                LstmKernels.BackwardRowReference<float>(gR, tR, cp, dhR, dcR, daR, dcpR, thr, new float[h]);
                LstmKernels.BackwardRow<float>(gR, tR, cp, dhF, dcF, daF, dcpF, thr, new float[h]);
                string bt = $"{tag}backward (flush {thr}) ";
                Same(bt + "dh", h, dhR, dhF); Same(bt + "dc", h, dcR, dcF); Same(bt + "da", h, daR, daF); Same(bt + "dcPrev", h, dcpR, dcpF);
                if (thr > 0) Assert.All(daF, v => Assert.True(v == 0 || Math.Abs(v) >= thr, $"H={h}: da {v} not flushed"));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void GruFusedMatchesReference(int h)
    {
        foreach (bool sat in new[] { false, true })
        {
            var rng = new Rng((ulong)(2000 + h));
            var gx = Draw(rng, 3 * h, 1.5f, sat);
            var hp3 = Draw(rng, 3 * h, 1.5f, sat);
            var bhn = Draw(rng, h, 0.5f, false);
            var hPrev = Draw(rng, h, 0.7f, false);
            var gR = (float[])gx.Clone(); var gF = (float[])gx.Clone();
            float[] hnR = new float[h], hnF = new float[h], hR = new float[h], hF = new float[h];
            GruKernels.ForwardRowReference<float>(gR, hp3, bhn, hPrev, hnR, hR, new float[h]);
            GruKernels.ForwardRow<float>(gF, hp3, bhn, hPrev, hnF, hF, new float[h]);
            string tag = sat ? "saturated " : "";
            Same(tag + "hn", h, hnR, hnF);
            Close(tag + "gates", h, gR, gF, i => Tol(Math.Abs(gR[i])) + (i >= 2 * h ? Tol(Math.Abs(gR[i - 2 * h] * hnR[i - 2 * h])) + TanhAbs : 0));
            Close(tag + "h", h, hR, hF, j => Tol(Math.Abs(hR[j]) + Math.Abs(gR[2 * h + j]) + Math.Abs(gR[h + j] * hPrev[j]) + 2 * Math.Abs(gR[h + j] * gR[2 * h + j]))
                                              + Math.Abs(1 - gR[h + j]) * TanhAbs);

            var dh = Draw(rng, h, 1f, false, tiny: true);
            var dhp0 = Draw(rng, h, 1f, false);
            foreach (float thr in new[] { Flush, 0f })
            {
                float[] dhR = (float[])dh.Clone(), dhF = (float[])dh.Clone(), dhpR = (float[])dhp0.Clone(), dhpF = (float[])dhp0.Clone();
                float[] dxR = new float[3 * h], dxF = new float[3 * h], drR = new float[3 * h], drF = new float[3 * h];
                GruKernels.BackwardRowReference<float>(gR, hnR, hPrev, dhR, dxR, drR, dhpR, thr, new float[h], new float[h]);
                GruKernels.BackwardRow<float>(gR, hnR, hPrev, dhF, dxF, drF, dhpF, thr, new float[h], new float[h]);
                string bt = $"{tag}backward (flush {thr}) ";
                Same(bt + "dh", h, dhR, dhF); Same(bt + "dxa", h, dxR, dxF); Same(bt + "dha", h, drR, drF);
                Same(bt + "dhPrev", h, dhpR, dhpF);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void RnnFusedMatchesReference(int h)
    {
        foreach (bool relu in new[] { false, true })
            foreach (bool sat in new[] { false, true })
            {
                var rng = new Rng((ulong)(3000 + h));
                var a = Draw(rng, h, 2f, sat);
                if (h > 2) { a[1] = -0f; a[2] = 0f; }
                var yR = (float[])a.Clone(); var yF = (float[])a.Clone();
                RnnKernels.ForwardRowReference<float>(yR, relu);
                RnnKernels.ForwardRow<float>(yF, relu);
                string tag = (relu ? "relu " : "tanh ") + (sat ? "saturated " : "");
                Close(tag + "h", h, yR, yF, i => Tol(Math.Abs(yR[i])) + (relu ? 0 : TanhAbs));
                var dh = Draw(rng, h, 1f, false, tiny: true);
                foreach (float thr in new[] { Flush, 0f })
                {
                    float[] dhR = (float[])dh.Clone(), dhF = (float[])dh.Clone(), daR = new float[h], daF = new float[h];
                    RnnKernels.BackwardRowReference<float>(yR, dhR, daR, relu, thr);
                    RnnKernels.BackwardRow<float>(yR, dhF, daF, relu, thr);
                    Same($"{tag}backward (flush {thr}) dh", h, dhR, dhF);
                    Same($"{tag}backward (flush {thr}) da", h, daR, daF);
                }
            }
    }

    [Theory]
    [InlineData(5)]
    [InlineData(16)]
    [InlineData(37)]
    public void NaNInputsGiveNaNOutputsInBothKernels(int h)
    {
        foreach (bool fused in new[] { false, true })
        {
            var g = new float[4 * h]; var cp = new float[h];
            g[2 * h + h - 1] = float.NaN;                                        // a_g of the last unit (in the tail)
            float[] c = new float[h], tc = new float[h], hh = new float[h];
            if (fused) LstmKernels.ForwardRow<float>(g, cp, c, tc, hh); else LstmKernels.ForwardRowReference<float>(g, cp, c, tc, hh);
            Assert.True(float.IsNaN(g[2 * h + h - 1]) && float.IsNaN(c[h - 1]) && float.IsNaN(tc[h - 1]) && float.IsNaN(hh[h - 1]), $"LSTM fused={fused}");
            Assert.True(float.IsFinite(hh[0]), "NaN must not spread to other units");

            var gg = new float[3 * h]; var a = new float[3 * h]; a[h - 1] = float.NaN;  // r of the last unit
            float[] hn = new float[h], hout = new float[h];
            if (fused) GruKernels.ForwardRow<float>(gg, a, new float[h], new float[h], hn, hout, new float[h]);
            else GruKernels.ForwardRowReference<float>(gg, a, new float[h], new float[h], hn, hout, new float[h]);
            Assert.True(float.IsNaN(gg[h - 1]) && float.IsNaN(hout[h - 1]), $"GRU fused={fused}");

            foreach (bool relu in new[] { false, true })
            {
                var r = new float[h]; r[h - 1] = float.NaN;
                if (fused) RnnKernels.ForwardRow<float>(r, relu); else RnnKernels.ForwardRowReference<float>(r, relu);
                Assert.True(float.IsNaN(r[h - 1]), $"RNN relu={relu} fused={fused}");
            }
        }
    }

    [Fact]
    public void DoubleGoesThroughTheReferenceKernels()
    {
        var rng = new Rng(7);
        int h = 19;
        var a = Enumerable.Range(0, 4 * h).Select(_ => rng.NextGaussian()).ToArray();
        var cp = Enumerable.Range(0, h).Select(_ => rng.NextGaussian()).ToArray();
        var g1 = (double[])a.Clone(); var g2 = (double[])a.Clone();
        double[] c1 = new double[h], c2 = new double[h], t1 = new double[h], t2 = new double[h], h1 = new double[h], h2 = new double[h];
        LstmKernels.ForwardRow<double>(g1, cp, c1, t1, h1);
        LstmKernels.ForwardRowReference<double>(g2, cp, c2, t2, h2);
        Assert.Equal(g2, g1); Assert.Equal(c2, c1); Assert.Equal(t2, t1); Assert.Equal(h2, h1);
    }

    [Fact]
    public void WrongSpanLengthsThrow()
    {
        Assert.Throws<ArgumentException>(() => LstmKernels.ForwardRow<float>(new float[15], new float[4], new float[4], new float[4], new float[4]));
        Assert.Throws<ArgumentException>(() => LstmKernels.BackwardRow<float>(new float[16], new float[4], new float[4], new float[4], new float[4], new float[16], new float[4], 0f, new float[3]));
        Assert.Throws<ArgumentException>(() => GruKernels.ForwardRow<float>(new float[12], new float[12], new float[3], new float[4], new float[4], new float[4], new float[4]));
        Assert.Throws<ArgumentException>(() => GruKernels.BackwardRow<float>(new float[12], new float[4], new float[4], new float[4], new float[12], new float[11], new float[4], 0f, new float[4], new float[4]));
        Assert.Throws<ArgumentException>(() => RnnKernels.BackwardRow<float>(new float[4], new float[4], new float[5], false, 0f));
    }

    /// <summary>A whole float layer, fused vs reference kernels: outputs, every cache the flow instrument reads, gradients.</summary>
    [Theory]
    [InlineData(CellType.Rnn)]
    [InlineData(CellType.RnnRelu)]
    [InlineData(CellType.Lstm)]
    [InlineData(CellType.Gru)]
    public void LayerWithFusedKernelsMatchesReferenceKernels(CellType cell)
    {
        const int n = 3, t = 25, d = 7, hsz = 37;
        IRecurrentLayer<float> Make() => RecurrentLayers.Create<float>(cell, d, hsz, new Rng(41));
        var fused = Make(); var reference = Make();
        ((TimeRecurrentBase<float>)reference).UseReferenceKernels = true;
        var rng = new Rng(43);
        var xs = GradCheck.RandomTensor(rng, 1.5, n, t, d).Cast<float>();
        var dhs = GradCheck.RandomTensor(rng, 1.0, n, t, hsz).Cast<float>();
        var hsF = fused.Forward(xs); var dxF = fused.Backward(dhs);
        var hsR = reference.Forward(xs); var dxR = reference.Backward(dhs);
        Near("hs", hsR, hsF);
        Near("dxs", dxR, dxF);
        Near("StepGradH", reference.StepGradH, fused.StepGradH);
        Near("StepGradA", reference.StepGradA, fused.StepGradA);
        Near("DH0", reference.DH0!, fused.DH0!);
        var pr = reference.Parameters.ToList(); var pf = fused.Parameters.ToList();
        for (int i = 0; i < pr.Count; i++) Near(pr[i].Name + ".Grad", pr[i].Grad, pf[i].Grad);
        if (fused is TimeLSTM<float> lf && reference is TimeLSTM<float> lr)
        {
            Near("Gates", lr.Gates, lf.Gates); Near("Cs", lr.Cs, lf.Cs); Near("TanhC", lr.TanhC, lf.TanhC);
            Near("StepGradC", lr.StepGradC, lf.StepGradC); Near("DC0", lr.DC0!, lf.DC0!);
        }
        if (fused is TimeGRU<float> gf && reference is TimeGRU<float> gr)
        {
            Near("Gates", gr.Gates, gf.Gates); Near("HhN", gr.HhN, gf.HhN); Near("StepGradXa", gr.StepGradXa, gf.StepGradXa);
        }

        // relative to the tensor's largest magnitude: a few ulp per step, carried through 25 steps of the recurrence
        static void Near(string name, Tensor<float> r, Tensor<float> f)
        {
            var a = r.Span; var b = f.Span;
            double scale = 0, worst = 0; int at = 0;
            for (int i = 0; i < a.Length; i++) scale = Math.Max(scale, Math.Abs(a[i]));
            for (int i = 0; i < a.Length; i++) { double e = Math.Abs((double)a[i] - b[i]); if (e > worst) { worst = e; at = i; } }
            Assert.True(worst <= 1e-5 * Math.Max(scale, 1e-30), $"{name}: max diff {worst:G3} at [{at}] (reference {a[at]}, fused {b[at]}), scale {scale:G3}");
        }
    }

    [Fact]
    public void FusedKernelsAreUsedOnThisMachine()
    {
        // Documents the dispatch: on AVX-512 hardware the fused float kernels differ from TensorPrimitives in the last bits
        // somewhere in a large sweep; elsewhere ForwardRow is the reference kernel and equals it bit for bit.
        int h = 4096;
        var rng = new Rng(5);
        var a = Draw(rng, h, 3f, false);
        var yR = (float[])a.Clone(); var yF = (float[])a.Clone();
        RnnKernels.ForwardRowReference<float>(yR, false);
        RnnKernels.ForwardRow<float>(yF, false);
        Assert.Equal(Vector512.IsHardwareAccelerated, !yR.AsSpan().SequenceEqual(yF));
    }
}
