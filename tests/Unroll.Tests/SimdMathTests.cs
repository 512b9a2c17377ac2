using System.Runtime.Intrinsics;
using Unroll.Kernels;

namespace Unroll.Tests;

/// <summary>
/// <see cref="SimdMath"/>'s exp, σ and tanh against the double-precision functions: a dense sweep of [−100, 100], tiny
/// magnitudes down to the smallest subnormal, ±0, ±∞ and NaN. Errors in ulps of the float nearest to the exact value.
/// </summary>
public class SimdMathTests
{
    /// <summary>|y − exact| in units of the last place of float at the exact value (the float spacing at |exact|).</summary>
    private static double Ulps(float y, double exact)
    {
        float r = (float)Math.Abs(exact);
        double ulp = Math.Max(MathF.BitIncrement(r) - r, float.Epsilon);
        return Math.Abs(y - exact) / ulp;
    }

    /// <summary>The sweep: [−100, 100] step 1/4096 (819 201 points), ±2^−149 … ±0.7 geometrically, ±(0.625 ± a few ulp).</summary>
    private static List<float> Sweep()
    {
        var xs = new List<float>();
        for (int k = -409600; k <= 409600; k++) xs.Add(k / 4096f);
        for (float v = float.Epsilon; v < 0.7f; v = Math.Max(v * 1.01f, MathF.BitIncrement(v))) { xs.Add(v); xs.Add(-v); }
        float b = 0.625f;
        for (int k = 0; k < 8; k++) { xs.Add(b); xs.Add(-b); b = MathF.BitDecrement(b); }
        b = 0.625f;
        for (int k = 0; k < 8; k++) { b = MathF.BitIncrement(b); xs.Add(b); xs.Add(-b); }
        return xs;
    }

    private static float[] Apply(Func<Vector512<float>, Vector512<float>> f, List<float> xs)
    {
        var y = new float[xs.Count];
        var buf = new float[16];
        for (int i = 0; i < xs.Count; i += 16)
        {
            int m = Math.Min(16, xs.Count - i);
            Array.Clear(buf);
            xs.CopyTo(i, buf, 0, m);
            var v = f(Vector512.Create(buf));
            for (int j = 0; j < m; j++) y[i + j] = v[j];
        }
        return y;
    }

    [Fact]
    public void TanhIsAccurateOverTheWholeRange()
    {
        if (!Vector512.IsHardwareAccelerated) return;      // AVX-512 only (elsewhere the layers use the reference kernels)
        var xs = Sweep();
        var ys = Apply(SimdMath.TanhF, xs);
        double worst = 0; float worstX = 0;
        for (int i = 0; i < xs.Count; i++)
        {
            double exact = Math.Tanh(xs[i]);
            double e = Ulps(ys[i], exact);
            if (e > worst) { worst = e; worstX = xs[i]; }
            if (Math.Abs(xs[i]) >= 20) Assert.True(ys[i] == Math.Sign(xs[i]), $"tanh({xs[i]}) = {ys[i]}, not exactly ±1");
            Assert.True(Math.Sign(ys[i]) == Math.Sign(xs[i]), $"tanh({xs[i]}) = {ys[i]} has the wrong sign");
        }
        Assert.True(worst <= 2, $"tanh: max error {worst:F2} ulp at x = {worstX:R}");
        var special = Apply(SimdMath.TanhF, [0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.MaxValue, -float.MaxValue]);
        Assert.Equal(0f, special[0]); Assert.False(float.IsNegative(special[0]));
        Assert.Equal(0f, special[1]); Assert.True(float.IsNegative(special[1]), "tanh(−0) must be −0");
        Assert.Equal(1f, special[2]); Assert.Equal(-1f, special[3]);
        Assert.True(float.IsNaN(special[4]), "tanh(NaN) must be NaN");
        Assert.Equal(1f, special[5]); Assert.Equal(-1f, special[6]);
    }

    /// <summary>
    /// ExpF's former last step, kept as the oracle of the vscalefps form: e^r·2^n as e^r·2^(n/2)·2^(n − n/2) by
    /// integer exponent arithmetic (exact for normal results, n = −126…128), then the same range selects.
    /// </summary>
    private static Vector512<float> ExpTwoHalves(Vector512<float> x)
    {
        var n = Vector512.Round(x * Vector512.Create(1.44269504088896341f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.9875691500E-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.3981999507E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.3334519073E-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.1665795894E-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.6666665459E-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(5.0000001201E-1f));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        var ni = Vector512.ConvertToInt32Native(n);
        var n1 = Vector512.ShiftRightArithmetic(ni, 1);
        var s1 = Vector512.ShiftLeft(n1 + Vector512.Create(127), 23).AsSingle();
        var s2 = Vector512.ShiftLeft(ni - n1 + Vector512.Create(127), 23).AsSingle();
        var y = p * s1 * s2;
        y = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(-87.3365447f)), Vector512<float>.Zero, y);
        return Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512.Create(88.7228394f)), Vector512.Create(float.PositiveInfinity), y);
    }

    [Fact]
    public void ExpIsAccurateAndEqualsTheTwoHalvesScaling()
    {
        if (!Vector512.IsHardwareAccelerated) return;
        var xs = Sweep();
        for (float v = -88f; v <= 89f; v += 1f / 64) xs.Add(v);           // both ends of the range, densely
        foreach (float v in new[] { -87.3365447f, 88.7228394f }) { xs.Add(v); xs.Add(MathF.BitDecrement(v)); xs.Add(MathF.BitIncrement(v)); }
        var ys = Apply(SimdMath.ExpF, xs);
        var oracle = Apply(ExpTwoHalves, xs);
        double worst = 0; float worstX = 0;
        for (int i = 0; i < xs.Count; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(ys[i]) == BitConverter.SingleToInt32Bits(oracle[i]),
                        $"ExpF({xs[i]:R}) = {ys[i]:R}, the two-halves form gives {oracle[i]:R}");
            double exact = Math.Exp(xs[i]);
            if (exact < 1.1754943508222875e-38) { Assert.True(Math.Abs(ys[i] - exact) < 1.2e-38, $"e^{xs[i]} = {ys[i]}, exact {exact}"); continue; }   // documented: below MinNormal, 0 (no subnormals)
            if (exact > float.MaxValue) { Assert.Equal(float.PositiveInfinity, ys[i]); continue; }
            double e = Ulps(ys[i], exact);
            if (e > worst) { worst = e; worstX = xs[i]; }
        }
        Assert.True(worst <= 2, $"exp: max error {worst:F2} ulp at x = {worstX:R}");
        var special = Apply(SimdMath.ExpF, [0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, -100f, 100f, float.MaxValue, -float.MaxValue]);
        Assert.Equal(1f, special[0]); Assert.Equal(1f, special[1]);
        Assert.Equal(float.PositiveInfinity, special[2]); Assert.Equal(0f, special[3]);
        Assert.True(float.IsNaN(special[4]), "e^NaN must be NaN");
        Assert.Equal(0f, special[5]); Assert.Equal(float.PositiveInfinity, special[6]);
        Assert.Equal(float.PositiveInfinity, special[7]); Assert.Equal(0f, special[8]);
    }

    [Fact]
    public void SigmoidIsAccurateOverTheWholeRange()
    {
        if (!Vector512.IsHardwareAccelerated) return;
        var xs = Sweep();
        var ys = Apply(SimdMath.SigmoidF, xs);
        double worst = 0; float worstX = 0;
        for (int i = 0; i < xs.Count; i++)
        {
            double exact = 1 / (1 + Math.Exp(-(double)xs[i]));
            Assert.True(ys[i] >= 0 && ys[i] <= 1, $"σ({xs[i]}) = {ys[i]}");
            if (exact < 1.1754943508222875e-38)
            {
                // documented: results in float's subnormal range may be 0 (x ≤ −88.72) — absolute error below MinNormal
                Assert.True(Math.Abs(ys[i] - exact) < 1.2e-38, $"σ({xs[i]}) = {ys[i]}, exact {exact}");
                continue;
            }
            double e = Ulps(ys[i], exact);
            if (e > worst) { worst = e; worstX = xs[i]; }
        }
        Assert.True(worst <= 3, $"σ: max error {worst:F2} ulp at x = {worstX:R}");
        var special = Apply(SimdMath.SigmoidF, [0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 20f, -20f]);
        Assert.Equal(0.5f, special[0]); Assert.Equal(0.5f, special[1]);
        Assert.Equal(1f, special[2]); Assert.Equal(0f, special[3]);
        Assert.True(float.IsNaN(special[4]), "σ(NaN) must be NaN");
        Assert.Equal(1f, special[5]);
        Assert.True(Ulps(special[6], 1 / (1 + Math.Exp(20))) <= 4, $"σ(−20) = {special[6]}");
    }

    [Fact]
    public void TailAccessTouchesOnlyTheTail()
    {
        if (!Vector512.IsHardwareAccelerated) return;      // masked AVX-512 moves
        var src = Enumerable.Range(1, 21).Select(i => (float)i).ToArray();
        var v = SimdMath.TailVector.Load(src, 16);         // 5 elements left
        for (int j = 0; j < 16; j++) Assert.Equal(j < 5 ? 17f + j : 0f, v[j]);
        var dst = new float[21];
        SimdMath.TailVector.Store(Vector512.Create(9f), dst, 16);
        for (int j = 0; j < 21; j++) Assert.Equal(j >= 16 ? 9f : 0f, dst[j]);
        SimdMath.FullVector.Store(Vector512.Create(7f), dst, 0);
        for (int j = 0; j < 21; j++) Assert.Equal(j < 16 ? 7f : 9f, dst[j]);
        Assert.Equal(Vector512.Create(7f), SimdMath.FullVector.Load(dst, 0));
        // a tail at the very end of an array: the masked lanes past the end are neither read (no fault) nor written
        var last = new float[3] { 1, 2, 3 };
        Assert.Equal(3f, SimdMath.TailVector.Load(last, 2)[0]);
        SimdMath.TailVector.Store(Vector512.Create(5f), last.AsSpan(0, 2), 1);
        Assert.Equal(new float[] { 1, 5, 3 }, last);
    }

    [Fact]
    public void ReciprocalIsWithinAnUlp()
    {
        if (!Vector512.IsHardwareAccelerated) return;
        double worst = 0;
        for (float d = 1f; d < 1e30f; d *= 1.0001f)
        {
            float r = SimdMath.Reciprocal(Vector512.Create(d))[0];
            double exact = 1.0 / d;
            worst = Math.Max(worst, Math.Abs(r - exact) / (MathF.BitIncrement((float)exact) - (float)exact));
        }
        Assert.True(worst <= 1, $"reciprocal: max error {worst:F2} ulp");
        Assert.True(float.IsNaN(SimdMath.Reciprocal(Vector512.Create(float.NaN))[0]));
    }
}
