using System.Numerics;

namespace Unroll.Kernels;

/// <summary>TEMPORARY integrator shim (replaced by the gemm branch): op(B) stored densely.</summary>
public sealed class GemmPackedB<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] _b = [];
    public int K { get; private set; }
    public int N { get; private set; }

    public void Pack(bool transB, int k, int n, ReadOnlySpan<T> b, int ldb)
    {
        if (_b.Length < k * n) _b = new T[k * n];
        K = k; N = n;
        for (int p = 0; p < k; p++)
            for (int j = 0; j < n; j++)
                _b[p * n + j] = transB ? b[j * ldb + p] : b[p * ldb + j];
    }

    internal ReadOnlySpan<T> Dense => _b.AsSpan(0, K * N);
}
