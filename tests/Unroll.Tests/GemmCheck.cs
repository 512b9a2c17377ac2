using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>What the GEMM tests share: random operands and the comparison of a product with the reference's.</summary>
internal static class GemmCheck
{
    /// <summary>len values uniform in [−1, 1).</summary>
    public static T[] Random<T>(Rng rng, int len) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = new T[len];
        for (int i = 0; i < len; i++) x[i] = T.CreateChecked(rng.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>
    /// Asserts that <paramref name="got"/> equals <paramref name="expect"/> (the reference product of the same call) within
    /// the error bound of a k-term sum, 2·(k+2)·eps·(|alpha|·Σₚ|a_ip||b_pj| + |beta·c_ij|), that every entry is finite,
    /// and that C's padding columns n..ldc still hold the marker 777. <paramref name="what"/> names the case.
    /// </summary>
    public static void AssertClose<T>(string what, T[] a, int lda, T[] b, int ldb, T[] c, T[] expect, T[] got, bool ta, bool tb,
                                      int m, int n, int k, int ldc, double alpha, double beta, bool nanC) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double eps = typeof(T) == typeof(float) ? 1.2e-7 : 2.3e-16;
        double worst = 0; int wi = -1, wj = -1;
        for (int i = 0; i < m; i++)
        {
            for (int j = n; j < ldc; j++)
                Assert.True(got[i * ldc + j] == T.CreateChecked(777.0), $"{what}: C padding ({i},{j}) was written");
            for (int j = 0; j < n; j++)
            {
                // Magnitude of the exact sum: |alpha|·Σₚ|a_ip||b_pj| + |beta·c_ij|; error bound (k+2)·eps·magnitude.
                double mag = 0;
                for (int p = 0; p < k; p++)
                    mag += Math.Abs(double.CreateChecked(ta ? a[p * lda + i] : a[i * lda + p]) * double.CreateChecked(tb ? b[j * ldb + p] : b[p * ldb + j]));
                mag = Math.Abs(alpha) * mag + (beta == 0 || nanC ? 0 : Math.Abs(beta * double.CreateChecked(c[i * ldc + j])));
                double tol = 2 * (k + 2) * eps * mag + 1e-30;
                double g = double.CreateChecked(got[i * ldc + j]), e = double.CreateChecked(expect[i * ldc + j]);
                Assert.True(double.IsFinite(g), $"{what}: C({i},{j}) = {g}");
                double r = Math.Abs(g - e) / tol;
                if (r > worst) { worst = r; wi = i; wj = j; }
            }
        }
        Assert.True(worst <= 1, $"{what}: C({wi},{wj}) off by {worst:G3}× the tolerance");
    }
}
