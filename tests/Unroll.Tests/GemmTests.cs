using System.Numerics;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>A theory that is reported as skipped (with the reason) when libopenblas cannot be loaded.</summary>
public sealed class OpenBlasTheoryAttribute : TheoryAttribute
{
    public OpenBlasTheoryAttribute()
    {
        if (!OpenBlasGemm.TryLoad(out _, out var err))
            Skip = $"OpenBLAS not loadable on this machine ({err}); the managed backend is still tested.";
    }
}

public class GemmTests
{
    /// <summary>Every managed instruction set this CPU can run (AVX-512, AVX2, scalar are all covered on an AVX-512 machine).</summary>
    public static TheoryData<string> ManagedBackends()
    {
        var d = new TheoryData<string>();
        foreach (var isa in new[] { GemmIsa.Avx512, GemmIsa.Avx2, GemmIsa.Scalar })
        {
            try { _ = new ManagedGemm(isa); d.Add("managed-" + isa.ToString().ToLowerInvariant()); }
            catch (NotSupportedException) { }
        }
        return d;
    }

    public static TheoryData<string> OpenBlas() => new() { "openblas" };

    private static readonly int[] Odd = [1, 2, 3, 7, 17, 31, 33, 65, 127];

    // Sizes around the managed blocking: MR (10, 6, 4), NR (32, 16, 8, 4) and NR/2 (the half-width edge kernel), the in-place-B row limit (40/41),
    // KC (256), MC (190 float / 90 double on AVX-512), and the parallel threshold.
    private static readonly (int m, int n, int k)[] Boundary =
    [
        (1, 1, 1), (1, 200, 9), (200, 1, 9), (1, 1, 300), (10, 32, 256), (11, 33, 257), (9, 31, 255),
        (40, 64, 20), (41, 64, 20), (20, 97, 300), (6, 16, 8), (191, 33, 5), (91, 17, 3), (45, 70, 513),
        (64, 64, 64), (70, 130, 90), (3, 300, 700), (129, 5, 260),
        // Last column panel exactly NR/2 wide with full MR rows (the half-width kernel writing C directly).
        (20, 48, 300), (30, 24, 70), (12, 18, 40),
        // Short products on the 8-row AVX-512 kernel (ManagedGemm.UseShortKernel): M = 8, 16, 24, 32, 72, 128, incl.
        // its half-width edge, several depth blocks and the adding problem's step shapes.
        (8, 16, 8), (16, 33, 257), (24, 48, 300), (32, 512, 128), (32, 128, 512), (72, 100, 30), (128, 40, 65),
    ];

    [Fact]
    public void ShortProductsPickTheKernelWithFewerPaddedRows()
    {
        Assert.True(ManagedGemm.UseShortKernel(32) || !ManagedGemm.ShortKernel);   // 32 rows vs 40
        Assert.True(ManagedGemm.UseShortKernel(64) || !ManagedGemm.ShortKernel);   // 64 vs 70
        Assert.False(ManagedGemm.UseShortKernel(20));                              // 24 vs 20
        Assert.False(ManagedGemm.UseShortKernel(10));
        Assert.False(ManagedGemm.UseShortKernel(40));                              // 40 vs 40: keep the 10-row kernel
        Assert.False(ManagedGemm.UseShortKernel(136));                             // above ShortKernelMaxM
    }

    [Theory]
    [MemberData(nameof(ManagedBackends))]
    public void ManagedMatchesReferenceFloat(string backend) => SweepAgainstReference<float>(backend, 1);

    [Theory]
    [MemberData(nameof(ManagedBackends))]
    public void ManagedMatchesReferenceDouble(string backend) => SweepAgainstReference<double>(backend, 2);

    [OpenBlasTheory]
    [MemberData(nameof(OpenBlas))]
    public void OpenBlasMatchesReferenceFloat(string backend) => SweepAgainstReference<float>(backend, 3);

    [OpenBlasTheory]
    [MemberData(nameof(OpenBlas))]
    public void OpenBlasMatchesReferenceDouble(string backend) => SweepAgainstReference<double>(backend, 4);

    private static void SweepAgainstReference<T>(string backend, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var be = GemmBackends.ByName(backend);
        var rng = new Rng(seed);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                foreach (var (m, n, k) in Boundary)
                    CheckOne<T>(be, rng, ta, tb, m, n, k);
                for (int r = 0; r < 10; r++)
                    CheckOne<T>(be, rng, ta, tb, Odd[rng.NextInt(Odd.Length)], Odd[rng.NextInt(Odd.Length)], Odd[rng.NextInt(Odd.Length)]);
            }
    }

    private static void CheckOne<T>(IGemmBackend be, Rng rng, bool ta, bool tb, int m, int n, int k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double[] alphas = [1, -0.7, 2.5];
        double[] betas = [0, 1, 0.5, -1.25];
        double alpha = alphas[rng.NextInt(alphas.Length)], beta = betas[rng.NextInt(betas.Length)];
        // Strided operands half of the time: ld > columns.
        int padA = rng.NextInt(2) * rng.NextInt(1, 5), padB = rng.NextInt(2) * rng.NextInt(1, 5), padC = rng.NextInt(2) * rng.NextInt(1, 5);
        CheckCase<T>(be, rng, ta, tb, m, n, k, alpha, beta, padA, padB, padC);
    }

    private static void CheckCase<T>(IGemmBackend be, Rng rng, bool ta, bool tb, int m, int n, int k, double alpha, double beta,
                                     int padA, int padB, int padC, bool nanC = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = aCols + padA, ldb = bCols + padB, ldc = n + padC;
        var a = GemmCheck.Random<T>(rng, aRows * lda);
        var b = GemmCheck.Random<T>(rng, bRows * ldb);
        var c = GemmCheck.Random<T>(rng, m * ldc);
        if (nanC) Array.Fill(c, T.NaN);
        // Padding of C (columns n..ldc) must stay untouched: mark it.
        for (int i = 0; i < m; i++) for (int j = n; j < ldc; j++) c[i * ldc + j] = T.CreateChecked(777.0);
        var expect = (T[])c.Clone();
        if (nanC) Array.Fill(expect, T.Zero);
        var got = (T[])c.Clone();
        T al = T.CreateChecked(alpha), bt = T.CreateChecked(beta);
        Run(ReferenceGemm.Instance, ta, tb, m, n, k, al, a, lda, b, ldb, bt, expect, ldc);
        Run(be, ta, tb, m, n, k, al, a, lda, b, ldb, bt, got, ldc);

        GemmCheck.AssertClose($"{be.Name} {typeof(T).Name} ta={ta} tb={tb} m={m} n={n} k={k} alpha={alpha} beta={beta} lda={lda} ldb={ldb} ldc={ldc}",
                              a, lda, b, ldb, c, expect, got, ta, tb, m, n, k, ldc, alpha, beta, nanC);
    }

    /// <summary><see cref="Run{T}"/> for other test classes.</summary>
    internal static void RunOn<T>(IGemmBackend be, bool ta, bool tb, int m, int n, int k, T alpha, T[] a, int lda, T[] b, int ldb, T beta, T[] c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T> => Run(be, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    private static void Run<T>(IGemmBackend be, bool ta, bool tb, int m, int n, int k, T alpha, T[] a, int lda, T[] b, int ldb, T beta, T[] c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
            be.Gemm(ta, tb, m, n, k, float.CreateChecked(alpha), (float[])(object)a, lda, (float[])(object)b, ldb, float.CreateChecked(beta), (float[])(object)c, ldc);
        else
            be.Gemm(ta, tb, m, n, k, double.CreateChecked(alpha), (double[])(object)a, lda, (double[])(object)b, ldb, double.CreateChecked(beta), (double[])(object)c, ldc);
    }


    [Theory]
    [MemberData(nameof(ManagedBackends))]
    public void BetaZeroIgnoresNaNInC(string backend)
    {
        var be = GemmBackends.ByName(backend);
        var rng = new Rng(5);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
                foreach (var (m, n, k) in new[] { (1, 1, 1), (20, 70, 33), (45, 33, 300), (7, 3, 0) })
                {
                    CheckCase<float>(be, rng, ta, tb, m, n, k, 1.0, 0.0, 1, 2, 3, nanC: true);
                    CheckCase<double>(be, rng, ta, tb, m, n, k, -0.5, 0.0, 0, 0, 1, nanC: true);
                }
    }

    [Fact]
    public void AlphaZeroOrEmptyDepthScalesC()
    {
        var be = ManagedGemm.Instance;
        var c = new float[] { 1, 2, 3, 4, 5, 6 };
        be.Gemm(false, false, 2, 3, 0, 1f, [], 0, [], 3, 2f, c, 3);
        Assert.Equal(new float[] { 2, 4, 6, 8, 10, 12 }, c);
        var a = new float[] { float.NaN, 1, 1, 1 };
        be.Gemm(false, false, 2, 3, 2, 0f, a, 2, new float[6], 3, 0f, c, 3);   // BLAS: alpha = 0 does not read A or B
        Assert.Equal(new float[6], c);
    }

    [Fact]
    public void LargeMultiThreadedProductMatchesReference()
    {
        // Large enough to be split over the worker threads (rows and columns splits) and to cross KC.
        var rng = new Rng(9);
        CheckCase<float>(ManagedGemm.Instance, rng, false, false, 20, 650, 300, 1, 0, 0, 0, 0);    // in-place B, column split
        CheckCase<float>(ManagedGemm.Instance, rng, false, true, 230, 40, 300, 1, 1, 0, 0, 0);     // row split
        CheckCase<double>(ManagedGemm.Instance, rng, true, false, 100, 200, 270, -1, 0.5, 1, 0, 2);
    }

    [Theory]
    [MemberData(nameof(ManagedBackends))]
    public void ManyColumnPanelsMatchReference(string backend)
    {
        // N > NC (1024 floats / 512 doubles per B panel at KC = 256): several column panels, where each thread keeps
        // its packed A blocks for the later panels (GemmTuning.CacheA); serial and split over threads; both transpositions.
        var be = GemmBackends.ByName(backend);
        var rng = new Rng(21);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                using (Gemm.Serial())
                    CheckCase<float>(be, rng, ta, tb, 23, 1100, 300, 1, 0.5, 1, 2, 3);  // 2 panels, 2 depth blocks, this thread only
                CheckCase<float>(be, rng, ta, tb, 45, 2200, 270, -0.5, 0, 0, 1, 0);     // parallel: ≥ 1 panel per thread
                CheckCase<double>(be, rng, ta, tb, 17, 1050, 260, 2, 1, 3, 0, 1);       // 3 double panels
            }
    }

    [Theory]
    [MemberData(nameof(ManagedBackends))]
    public void OneDepthBlockMatchesReference(string backend)
    {
        // GemmTuning.SingleBlockMaxK: a product of ≥ 100 rows with depth ≤ 768 runs as ONE depth block (kc = K > KC),
        // with the A block and B panel narrowed to keep their byte budgets — several column panels at that depth.
        var be = GemmBackends.ByName(backend);
        Assert.Equal(700, GemmDriver<float, Avx512Kernel<float>>.KcStep(700, 120, 400));
        Assert.Equal(GemmDriver<float, Avx512Kernel<float>>.KcStep(700), GemmDriver<float, Avx512Kernel<float>>.KcStep(700, 99, 400));   // short: KC blocks
        Assert.Equal(GemmDriver<float, Avx512Kernel<float>>.KcStep(700), GemmDriver<float, Avx512Kernel<float>>.KcStep(700, 10000, 650)); // A too large to keep
        var rng = new Rng(23);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                using (Gemm.Serial())
                    CheckCase<float>(be, rng, ta, tb, 121, 803, 700, 1, 0.5, 1, 2, 3);   // 3 panels of ≤ 352 columns, one block
                CheckCase<float>(be, rng, ta, tb, 230, 450, 513, -0.5, 1, 0, 1, 0);        // split over threads
                CheckCase<double>(be, rng, ta, tb, 101, 300, 701, 2, 0, 3, 0, 1);
            }
    }

    [Fact]
    public void SixteenWideTransposedPackingGivesTheSameBitsAsEightWide()
    {
        // GemmTuning.Transpose16 packs a transposed B by 16×16 AVX-512 blocks (rows past the last 16 and depths past
        // the last 16 by the 8×8 path), prefetching rows ahead (GemmTuning.PackAheadRows) up to the end of the
        // panel. Packing only moves values, so both paths must give the same bits, and match the reference.
        if (!System.Runtime.Intrinsics.X86.Avx512F.IsSupported) return;
        var rng = new Rng(41);
        var be = ManagedGemm.Instance;
        foreach (var (m, n, k) in new[] { (10, 16, 16), (13, 17, 15), (20, 33, 31), (31, 47, 250), (100, 97, 517), (7, 700, 40), (1, 1, 1) })
        {
            int ldb = k + 3;
            var a = GemmCheck.Random<float>(rng, m * k);
            var b = GemmCheck.Random<float>(rng, n * ldb);
            var expect = new float[m * n];
            Run(ReferenceGemm.Instance, false, true, m, n, k, 1f, a, k, b, ldb, 0f, expect, n);
            bool saved = GemmTuning.Transpose16;
            try
            {
                var c8 = new float[m * n];
                var c16 = new float[m * n];
                GemmTuning.Transpose16 = false;
                using (Gemm.Serial()) Run(be, false, true, m, n, k, 1f, a, k, b, ldb, 0f, c8, n);
                GemmTuning.Transpose16 = true;
                using (Gemm.Serial()) Run(be, false, true, m, n, k, 1f, a, k, b, ldb, 0f, c16, n);
                for (int i = 0; i < c8.Length; i++)
                    Assert.True(BitConverter.SingleToInt32Bits(c8[i]) == BitConverter.SingleToInt32Bits(c16[i]),
                        $"({m},{n},{k}) NT: C[{i}] = {c16[i]} with 16×16 packing, {c8[i]} with 8×8");
                GemmCheck.AssertClose($"16×16 packing ({m},{n},{k}) NT", a, k, b, ldb, new float[m * n], expect, c16, false, true, m, n, k, n, 1, 0, false);
            }
            finally { GemmTuning.Transpose16 = saved; }
        }
    }

    [Fact]
    public void DepthHalvesMatchReference()
    {
        // ManagedGemm.DepthSplit: a deep product (K ≥ 1024 and ≥ 4·max(M, N)) runs as two fixed depth halves, the
        // second into a scratch C added at the end: beta, alpha, NaN in C with beta = 0, padding, odd K, all transposes.
        Assert.True(ManagedGemm.SplitsDepth(700, 650, 10000));
        Assert.True(ManagedGemm.SplitsDepth(128, 512, 12800));
        Assert.False(ManagedGemm.SplitsDepth(700, 650, 2600));     // K < 4·max(M, N)
        Assert.False(ManagedGemm.SplitsDepth(20, 30, 1023));       // shallow
        var be = ManagedGemm.Instance;
        var rng = new Rng(31);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                CheckCase<float>(be, rng, ta, tb, 37, 90, 2049, 1, 0.5, 1, 2, 3);             // both halves on the pool
                CheckCase<float>(be, rng, ta, tb, 64, 33, 1500, -0.5, 0, 0, 1, 0, nanC: true); // beta = 0 overwrites NaN
                using (Gemm.Serial())
                    CheckCase<float>(be, rng, ta, tb, 21, 130, 1301, 2, 1, 2, 0, 1);          // both halves on this thread
                CheckCase<double>(be, rng, ta, tb, 23, 41, 1111, 1, 1, 1, 1, 1);
            }
    }

    [Fact]
    public void ConcurrentCallersGetCorrectResults()
    {
        // Several threads share the worker pool (one caller at a time; the others run on their own thread).
        var errors = new System.Collections.Concurrent.ConcurrentBag<string>();
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            try
            {
                var rng = new Rng(100 + (ulong)t);
                for (int r = 0; r < 3; r++)
                    CheckCase<float>(ManagedGemm.Instance, rng, t % 2 == 1, t >= 2, 40 + t, 90, 80, 1, r % 2, 0, 0, 0);
            }
            catch (Exception e) { errors.Add(e.Message); }
        })).ToList();
        threads.ForEach(x => x.Start());
        threads.ForEach(x => x.Join());
        Assert.True(errors.IsEmpty, string.Join("\n", errors));
    }

    [Fact]
    public void SteadyStateCallsDoNotAllocate()
    {
        var be = ManagedGemm.Instance;
        var rng = new Rng(3);
        var a = GemmCheck.Random<float>(rng, 20 * 300);
        var b = GemmCheck.Random<float>(rng, 300 * 400);
        var c = new float[20 * 400];
        var ad = GemmCheck.Random<double>(rng, 64 * 64);
        var cd = new double[64 * 64];
        var c2 = new float[300 * 20];
        void Calls()
        {
            be.Gemm(false, false, 20, 400, 300, 1f, a, 300, b, 400, 0f, c, 400);   // parallel, in-place B
            be.Gemm(true, true, 20, 20, 300, 1f, a, 20, b, 300, 1f, c, 400);       // small, serial, packed B
            be.Gemm(false, true, 300, 20, 20, 1f, b, 400, a, 20, 0f, c2, 20);        // parallel, packed B
            be.Gemm(true, false, 64, 64, 64, 1.0, ad, 64, ad, 64, 0.0, cd, 64);    // double
        }
        for (int i = 0; i < 3; i++) Calls();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++) Calls();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void BadLeadingDimensionThrowsNamingOperand()
    {
        var ex = Assert.Throws<ArgumentException>(() => ManagedGemm.Instance.Gemm(false, false, 2, 2, 3, 1f, new float[6], 2, new float[6], 2, 0f, new float[4], 2));
        Assert.Contains("A", ex.Message);
    }

    [Fact]
    public void MissingOpenBlasNamesTheDebianPackage()
    {
        var ex = Assert.Throws<DllNotFoundException>(() => OpenBlasGemm.LoadCore(["libopenblas-does-not-exist.so.0"]));
        Assert.Contains("libopenblas0-pthread", ex.Message);
    }

    [Fact]
    public void InfoPrintsTheActiveBackend()
    {
        var sw = new StringWriter();
        Assert.Equal(0, Unroll.Cli.CliApp.Run(["info"], sw, new StringWriter()));
        Assert.Contains("gemm         " + Gemm.Backend.Name, sw.ToString());
        if (OpenBlasGemm.TryLoad(out var ob, out _)) Assert.Contains("core " + ob!.CoreName, sw.ToString());
    }

    [Fact]
    public void RegistryKnowsTheBackends()
    {
        Assert.Same(ManagedGemm.Instance, GemmBackends.ByName("managed"));
        Assert.Same(ReferenceGemm.Instance, GemmBackends.ByName("reference"));
        Assert.StartsWith("managed-", ManagedGemm.Instance.Name);
        var ex = Assert.Throws<ArgumentException>(() => GemmBackends.ByName("nope"));
        Assert.Contains("openblas", ex.Message);
        if (!OpenBlasGemm.TryLoad(out _, out _))
        {
            var dll = Assert.Throws<DllNotFoundException>(() => GemmBackends.ByName("openblas"));
            Assert.Contains("libopenblas0-pthread", dll.Message);
        }
    }
}
