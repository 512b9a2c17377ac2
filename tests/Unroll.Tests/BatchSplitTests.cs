using System.Numerics;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// The recurrence split into batch parts (<see cref="TimeRecurrentBase{T}.BatchParts"/>, each part on its own core)
/// must give exactly the same numbers as one part: every row's arithmetic is the same, only who computes it differs.
/// </summary>
public class BatchSplitTests
{
    public static TheoryData<CellType, int, int, int, int, int> Cases()
    {
        var d = new TheoryData<CellType, int, int, int, int, int>();
        foreach (var cell in new[] { CellType.Rnn, CellType.RnnRelu, CellType.Lstm, CellType.Gru })
        {
            d.Add(cell, 7, 5, 3, 5, 3);     // odd sizes, uneven parts (2, 2, 3 rows)
            d.Add(cell, 20, 4, 8, 33, 2);   // the LM batch, H not a multiple of the SIMD width
            d.Add(cell, 2, 3, 1, 1, 5);     // more parts than rows, H = 1
        }
        return d;
    }

    [Theory, MemberData(nameof(Cases))]
    public void Float_split_equals_one_part_bit_for_bit(CellType cell, int n, int t, int d, int h, int parts) =>
        Compare<float>(cell, n, t, d, h, parts);

    [Theory, MemberData(nameof(Cases))]
    public void Double_split_equals_one_part_bit_for_bit(CellType cell, int n, int t, int d, int h, int parts) =>
        Compare<double>(cell, n, t, d, h, parts);

    [Fact]
    public void Automatic_split_keeps_a_large_W_h_in_one_part_and_small_batches_whole()
    {
        var big = (TimeRecurrentBase<float>)RecurrentLayers.Create<float>(CellType.Lstm, 4, 650, new Rng(1));  // W_h 6.8 MB
        Assert.Equal(1, big.AutoBatchParts(64));
        var small = (TimeRecurrentBase<float>)RecurrentLayers.Create<float>(CellType.Lstm, 4, 128, new Rng(1)); // 256 KiB
        Assert.Equal(1, small.AutoBatchParts(TimeRecurrentBase<float>.MinRowsPerPart * 2 - 1));
        // (with N ≥ 2·MinRowsPerPart it is min(Gemm.Threads, N / MinRowsPerPart) — not asserted: other tests set Gemm.Threads)
    }

    [Fact]
    public void Negative_batch_parts_is_rejected()
    {
        var layer = (TimeRecurrentBase<float>)RecurrentLayers.Create<float>(CellType.Lstm, 2, 3, new Rng(1));
        var e = Assert.Throws<ArgumentException>(() => layer.BatchParts = -1);
        Assert.Contains("BatchParts", e.Message);
    }

    private static void Compare<T>(CellType cell, int n, int t, int d, int h, int parts) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var one = Make<T>(cell, d, h, 1);
        var split = Make<T>(cell, d, h, parts);
        var rng = new Rng(7);
        var xs = Random<T>(rng, n, t, d);
        var h0 = Random<T>(rng, n, h);
        var c0 = Random<T>(rng, n, h);
        var dhs = Random<T>(rng, n, t, h);
        // Two calls: the second starts from a carried state, so the parts read non-zero h0/c0 rows at their offsets.
        for (int call = 0; call < 2; call++)
        {
            foreach (var layer in new[] { one, split })
            {
                if (call == 0) layer.SetState(h0, cell == CellType.Lstm ? c0 : null);
                foreach (var p in layer.Parameters) p.Grad.Clear();
                layer.Forward(xs);
            }
            Same("hs", one.Hs, split.Hs, call);
            var dxA = one.Backward(dhs); var dxB = split.Backward(dhs);
            Same("dxs", dxA, dxB, call);
            Same("StepGradH", one.StepGradH, split.StepGradH, call);
            Same("StepGradA", one.StepGradA, split.StepGradA, call);
            Same("DH0", one.DH0!, split.DH0!, call);
            if (cell == CellType.Lstm) Same("DC0", one.DC0!, split.DC0!, call);
            var pa = one.Parameters.ToArray(); var pb = split.Parameters.ToArray();
            for (int i = 0; i < pa.Length; i++) Same("grad " + pa[i].Name, pa[i].Grad, pb[i].Grad, call);
        }
    }

    internal static TimeRecurrentBase<T> Make<T>(CellType cell, int d, int h, int parts) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Rng(3);
        var layer = (TimeRecurrentBase<T>)RecurrentLayers.Create<T>(cell, d, h, rng, stateful: true);
        foreach (var p in layer.Parameters)
            if (p.Value.Rank == 1) { var s = p.Value.Span; for (int i = 0; i < s.Length; i++) s[i] = T.CreateTruncating(rng.NextGaussian() * 0.5); }
        layer.BatchParts = parts;
        return layer;
    }

    internal static Tensor<T> Random<T>(Rng rng, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = new Tensor<T>(shape);
        var s = x.Span;
        for (int i = 0; i < s.Length; i++) s[i] = T.CreateTruncating(rng.NextGaussian());
        return x;
    }

    internal static void Same<T>(string what, Tensor<T> a, Tensor<T> b, int call) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(a.ShapeString, b.ShapeString);
        var x = a.Span; var y = b.Span;
        double max = 0; int at = -1;
        for (int i = 0; i < x.Length; i++)
        {
            double diff = Math.Abs(double.CreateTruncating(x[i]) - double.CreateTruncating(y[i]));
            if (diff > max || double.IsNaN(diff)) { max = diff; at = i; }
        }
        Assert.True(at < 0, $"call {call}: {what} differs between 1 part and the split batch: max |diff| {max:G3} at flat index {at}");
    }
}
