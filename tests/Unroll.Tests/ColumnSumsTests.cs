using Unroll.Nodes;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// The bias gradient's column sums (<c>RowOps.AddColumnSums</c> = <see cref="ColumnSums{T}"/>): blocks on the worker
/// pool must give bit for bit the row-by-row reference sum, on one thread or two, for any shape.
/// </summary>
public class ColumnSumsTests
{
    public static TheoryData<int, int> Shapes => new()
    {
        { 0, 5 }, { 1, 1 }, { 3, 1 }, { 7, 17 }, { 2, 1024 }, { 300, 1025 },
        { 257, 3000 },      // ≥ ParallelMinElements, three blocks, ragged last block
        { 700, 10000 },     // an LM output layer (C1/C2): 10 blocks
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesRowByRowSumBitForBit(int rows, int cols)
    {
        Check<float>(rows, cols);
        Check<double>(rows, cols);
    }

    private static void Check<T>(int rows, int cols) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rng = new Rng((ulong)(rows * 7919 + cols));
        var dy = new T[rows * cols];
        for (int i = 0; i < dy.Length; i++) dy[i] = T.CreateChecked(rng.NextGaussian() * (i % 13 == 0 ? 1e4 : 1));
        var start = new T[cols];
        for (int j = 0; j < cols; j++) start[j] = T.CreateChecked(rng.NextGaussian());
        var expected = (T[])start.Clone();
        ColumnSums<T>.Reference(dy, expected);

        int threads = Unroll.Kernels.Gemm.Threads;
        try
        {
            foreach (int th in new[] { 2, 1 })
            {
                Unroll.Kernels.Gemm.Threads = th;
                var acc = (T[])start.Clone();
                RowOps.AddColumnSums<T>(dy, acc);
                for (int j = 0; j < cols; j++)
                    Assert.True(acc[j].Equals(expected[j]),
                        $"{typeof(T).Name} rows={rows} cols={cols} threads={th}: acc[{j}] = {acc[j]}, row-by-row sum {expected[j]} (diff {T.Abs(acc[j] - expected[j])})");
            }
        }
        finally { Unroll.Kernels.Gemm.Threads = threads; }
    }

    [Fact]
    public void NaNAndInfinityPropagate()
    {
        int rows = 600, cols = 3000;
        var dy = new float[rows * cols];
        dy[5 * cols + 10] = float.NaN;
        dy[7 * cols + 2500] = float.PositiveInfinity;
        var acc = new float[cols];
        RowOps.AddColumnSums<float>(dy, acc);
        Assert.True(float.IsNaN(acc[10]));
        Assert.True(float.IsPositiveInfinity(acc[2500]));
        Assert.Equal(0f, acc[11]);
    }

    [Fact]
    public void RaggedInputIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() => RowOps.AddColumnSums<float>(new float[10], new float[3]));
        Assert.Contains("not a multiple", ex.Message);
    }
}
