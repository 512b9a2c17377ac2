using Unroll.Kernels;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>Runs alone, not beside other test classes: its members set the global <see cref="Gemm.Threads"/>, need
/// the shared worker pool free, which a test in another class may hold (the pool then runs work on the caller alone),
/// or switch a process-wide setting that changes the bits of other tests' results (<see cref="GemmBiasTests"/>).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PoolAloneCollection { public const string Name = "worker pool, alone"; }

/// <summary>
/// Work split over the worker pool must give the same bits as one thread, and must really have been split: these
/// tests assert both, so they run in <see cref="PoolAloneCollection"/>.
/// </summary>
[Collection(PoolAloneCollection.Name)]
public class PoolSplitTests
{
    [Theory]
    [InlineData(CellType.Rnn)]
    [InlineData(CellType.Lstm)]
    [InlineData(CellType.Gru)]
    public void Cell_update_split_over_the_cores_equals_one_thread_bit_for_bit(CellType cell)
    {
        // One batch part (as for a large W_h): the step products use both cores and, with CellSplit, so does each
        // step's cell update (rows 0–9 and 10–19). Every row must come out exactly as when one thread does all rows.
        int n = 20, t = 4, d = 9, h = 513;
        Assert.True(n * h / TimeRecurrentBase<float>.CellSplitMinElements >= 2);
        var rng = new Rng(11);
        var xs = BatchSplitTests.Random<float>(rng, n, t, d);
        var dhs = BatchSplitTests.Random<float>(rng, n, t, h);
        int threads = Gemm.Threads;
        bool saved = TimeRecurrentBase<float>.CellSplit;
        try
        {
            Gemm.Threads = 2;
            var results = new List<(Tensor<float> hs, Tensor<float> dx, Tensor<float> dh0, float[][] grads)>();
            foreach (bool split in new[] { false, true })
            {
                TimeRecurrentBase<float>.CellSplit = split;
                var layer = BatchSplitTests.Make<float>(cell, d, h, 1);
                long before = TimeRecurrentBase<float>.CellSplitRuns;
                var hs = layer.Forward(xs).Clone();
                var dx = layer.Backward(dhs).Clone();
                long runs = TimeRecurrentBase<float>.CellSplitRuns - before;
                if (split) Assert.True(runs >= 2 * t, $"{cell}: the cell update ran split in only {runs} of {2 * t} steps");
                else Assert.Equal(0, runs);
                results.Add((hs, dx, layer.DH0!.Clone(), layer.Parameters.Select(p => p.Grad.Span.ToArray()).ToArray()));
            }
            var (a, b) = (results[0], results[1]);
            BatchSplitTests.Same("hs", a.hs, b.hs, 0);
            BatchSplitTests.Same("dxs", a.dx, b.dx, 0);
            BatchSplitTests.Same("DH0", a.dh0, b.dh0, 0);
            for (int i = 0; i < a.grads.Length; i++)
                Assert.True(a.grads[i].AsSpan().SequenceEqual(b.grads[i]), $"{cell}: parameter gradient {i} differs with the cell update split");
        }
        finally { Gemm.Threads = threads; TimeRecurrentBase<float>.CellSplit = saved; }
    }

    [Fact]
    public void ThreadCountDoesNotChangeTheBits()
    {
        // Every split over the pool sums each element of C in the same order as one thread: the depth blocking is
        // chosen on the whole product (GemmTuning.SingleBlockMaxK), not on a part — (150, 60, 700) splits into row
        // parts of < 100 rows, which on their own would not take one depth block. The last two are deep products,
        // computed as two depth halves (ManagedGemm.DepthSplit) whichever the thread count.
        var rng = new Rng(29);
        int threads = Gemm.Threads;
        Gemm.Threads = 2;
        try
        {
            foreach (var (m, n, k, ta, tb) in new[] { (150, 60, 700, false, false), (150, 60, 700, true, true), (700, 300, 650, false, true), (120, 2000, 900, true, false), (60, 80, 2100, false, true), (64, 128, 3000, true, false) })
            {
                int lda = ta ? m : k, ldb = tb ? k : n;
                var a = GemmCheck.Random<float>(rng, m * k);
                var b = GemmCheck.Random<float>(rng, k * n);
                var c0 = GemmCheck.Random<float>(rng, m * n);
                var serial = (float[])c0.Clone();
                var parallel = (float[])c0.Clone();
                using (Gemm.Serial()) ManagedGemm.Instance.Gemm(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, 0.5f, serial, n);
                ManagedGemm.Instance.Gemm(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, 0.5f, parallel, n);
                for (int i = 0; i < serial.Length; i++)
                    if (BitConverter.SingleToInt32Bits(serial[i]) != BitConverter.SingleToInt32Bits(parallel[i]))
                        Assert.Fail($"C[{i / n},{i % n}] of ({m},{n},{k}) ta={ta} tb={tb}: one thread {serial[i]:R}, two threads {parallel[i]:R}");
            }
        }
        finally { Gemm.Threads = threads; }
    }
}
