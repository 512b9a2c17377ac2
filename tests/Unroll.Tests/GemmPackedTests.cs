using System.Numerics;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// <see cref="GemmPackedB{T}"/> + <see cref="Gemm.RunPacked{T}(IGemmBackend, bool, int, T, ReadOnlySpan{T}, int, GemmPackedB{T}, T, Span{T}, int, bool)"/>
/// against <see cref="ReferenceGemm"/>, on backend instances (never the global <see cref="Gemm.Backend"/>: tests run in parallel).
/// </summary>
public class GemmPackedTests
{
    /// <summary>Every managed instruction set this CPU runs, plus the reference and (if loadable) OpenBLAS backends (dense layout).</summary>
    public static TheoryData<string> Backends()
    {
        var d = GemmTests.ManagedBackends();
        d.Add("reference");
        if (OpenBlasGemm.TryLoad(out _, out _)) d.Add("openblas");
        return d;
    }

    private static readonly int[] Odd = [1, 2, 7, 10, 31, 33, 65];

    // k > KC = 256 gives several depth blocks (300 → 2, 520 and 650 → 3); n mostly not a multiple of NR.
    private static readonly (int m, int n, int k)[] Shapes =
    [
        (1, 1, 1), (20, 97, 300), (7, 650, 520), (33, 65, 650), (10, 31, 257), (65, 130, 2), (3, 33, 513), (41, 70, 256),
        // the 8-row kernel for short products (M = 32, 64, 16) on pre-packed B: the adding problem's step shapes
        (32, 512, 128), (32, 128, 512), (64, 130, 300), (16, 48, 20),
    ];

    [Theory]
    [MemberData(nameof(Backends))]
    public void PackedMatchesReferenceFloat(string backend) => Sweep<float>(backend, 11);

    [Theory]
    [MemberData(nameof(Backends))]
    public void PackedMatchesReferenceDouble(string backend) => Sweep<double>(backend, 12);

    private static void Sweep<T>(string backend, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var be = GemmBackends.ByName(backend);
        var rng = new Rng(seed);
        var packed = new GemmPackedB<T>();     // one object re-packed for every case: exercises buffer reuse and growth
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                foreach (var (m, n, k) in Shapes)
                    Check(be, packed, rng, ta, tb, m, n, k, parallel: rng.NextInt(2) == 0);
                for (int r = 0; r < 6; r++)
                    Check(be, packed, rng, ta, tb, Odd[rng.NextInt(Odd.Length)], Odd[rng.NextInt(Odd.Length)], Odd[rng.NextInt(Odd.Length)], parallel: r % 2 == 0);
            }
    }

    [Fact]
    public void PanelSweepGivesTheBitsOfTheBlockedLoopInEitherDirection()
    {
        // GemmTuning.SweepMaxRows: a small-M product with a pre-packed B runs panel by panel, each panel through all
        // depth blocks, the panels visited in alternating directions (GemmPackedB.NextSweepReversed), full tiles by the
        // kernels' RunNext when GemmTuning.SweepFetchNext (which also fetch the next panel into L2). Each C tile gets
        // the same kernel calls in the same depth order as in the blocked loop: the bits must be equal, for ragged
        // panels (half and edge tiles), several depth blocks, beta 0 (NaN in C) and 1, one and two threads, float and
        // double, with and without the fetch.
        var rng = new Rng(43);
        bool savedNext = GemmTuning.SweepFetchNext;
        long savedMin = GemmTuning.SweepFetchMinBytes;
        try
        {
            GemmTuning.SweepFetchMinBytes = 0;                  // fetch for every size here, so small and double cases run RunNext
            foreach (bool next in new[] { true, false })
            {
                GemmTuning.SweepFetchNext = next;
                foreach (var (m, n, k) in new[] { (20, 650, 650), (20, 97, 300), (7, 31, 520), (13, 48, 17), (1, 1, 1), (64, 130, 300), (20, 2600, 257) })
                    foreach (bool tb in new[] { false, true })
                        foreach (double beta in new[] { 0.0, 1.0 })
                        {
                            SweepCase<float>(rng, m, n, k, tb, beta, next);
                            if (m * n * k < 200_000) SweepCase<double>(rng, m, n, k, tb, beta, next);
                        }
            }
        }
        finally { GemmTuning.SweepFetchNext = savedNext; GemmTuning.SweepFetchMinBytes = savedMin; }
    }

    private static void SweepCase<T>(Rng rng, int m, int n, int k, bool tb, double betaD, bool next) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var be = ManagedGemm.Instance;
        T alpha = T.CreateChecked(0.5), beta = T.CreateChecked(betaD);
        var a = GemmCheck.Random<T>(rng, m * k);
        var b = GemmCheck.Random<T>(rng, k * n);
        var c0 = GemmCheck.Random<T>(rng, m * n);
        if (betaD == 0) Array.Fill(c0, T.NaN);
        var packed = new GemmPackedB<T>();
        packed.Pack(be, tb, k, n, b, tb ? k : n);
        var expect = (T[])c0.Clone();
        int saved = GemmTuning.SweepMaxRows;
        try
        {
            GemmTuning.SweepMaxRows = 0;                    // the blocked loop
            using (Gemm.Serial()) Gemm.RunPacked(be, false, m, alpha, a, k, packed, beta, expect, n);
            GemmTuning.SweepMaxRows = 64;
            for (int call = 0; call < 4; call++)            // forward, reversed, forward, reversed; 1 and 2 threads
            {
                var got = (T[])c0.Clone();
                if (call < 2) using (Gemm.Serial()) Gemm.RunPacked(be, false, m, alpha, a, k, packed, beta, got, n);
                else Gemm.RunPacked(be, false, m, alpha, a, k, packed, beta, got, n);
                for (int i = 0; i < got.Length; i++)
                    Assert.True(BitConverter.DoubleToInt64Bits(double.CreateChecked(got[i])) == BitConverter.DoubleToInt64Bits(double.CreateChecked(expect[i])),
                        $"{typeof(T).Name} ({m},{n},{k}) tb={tb} beta={betaD} fetch={next} call {call}: C[{i}] = {got[i]}, blocked loop {expect[i]}");
            }
        }
        finally { GemmTuning.SweepMaxRows = saved; }
        var reference = (T[])c0.Clone();
        if (betaD == 0) Array.Fill(reference, T.Zero);
        if (typeof(T) == typeof(float))
            ReferenceGemm.Instance.Gemm(false, tb, m, n, k, 0.5f, (float[])(object)a, k, (float[])(object)b, tb ? k : n, (float)betaD, (float[])(object)reference, n);
        else
            ReferenceGemm.Instance.Gemm(false, tb, m, n, k, 0.5, (double[])(object)a, k, (double[])(object)b, tb ? k : n, betaD, (double[])(object)reference, n);
        GemmCheck.AssertClose($"panel sweep {typeof(T).Name} ({m},{n},{k}) tb={tb} beta={betaD}", a, k, b, tb ? k : n, c0, reference, expect, false, tb, m, n, k, n, 0.5, betaD, betaD == 0);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void BetaZeroIgnoresNaNInCAndAlphaVariants(string backend)
    {
        var be = GemmBackends.ByName(backend);
        var rng = new Rng(13);
        var pf = new GemmPackedB<float>();
        var pd = new GemmPackedB<double>();
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
                foreach (var (alpha, beta) in new[] { (1.0, 0.0), (-0.7, 0.0), (2.5, 1.0), (1.0, -1.25), (0.0, 0.5), (0.0, 0.0) })
                {
                    bool nan = beta == 0;
                    Check(be, pf, rng, ta, tb, 21, 75, 300, parallel: true, alpha, beta, nan);
                    Check(be, pd, rng, ta, tb, 12, 33, 270, parallel: false, alpha, beta, nan);
                }
    }

    [Fact]
    public void LargeParallelProductsSplitEitherWay()
    {
        // Column split (m small, n large) and row split (m large, n small), several depth blocks: the RNN step shapes.
        var be = ManagedGemm.Instance;
        var rng = new Rng(14);
        var p = new GemmPackedB<float>();
        Check(be, p, rng, false, false, 20, 2600, 650, parallel: true);
        Check(be, p, rng, false, true, 20, 650, 2600, parallel: true);
        Check(be, p, rng, true, false, 300, 40, 300, parallel: true);
    }

    [Fact]
    public unsafe void ParallelPackingEqualsSerialPackingBitForBit()
    {
        // op(B) ≥ ParallelPackMinElements is packed in column ranges on the pool: the same bytes as one thread,
        // for both transpositions, ragged n, several depth blocks; then a product with it matches the reference.
        var be = ManagedGemm.Instance;
        var rng = new Rng(15);
        int threads = Gemm.Threads;
        try
        {
            foreach (var (tb, k, n) in new[] { (false, 650, 2600), (true, 2600, 650), (false, 513, 1001), (true, 700, 377) })
            {
                Assert.True((long)k * n >= GemmPackedB<float>.ParallelPackMinElements);
                int ldb = (tb ? k : n) + 3;
                var b = GemmCheck.Random<float>(rng, (tb ? n : k) * ldb);
                var serial = new GemmPackedB<float>();
                var par = new GemmPackedB<float>();
                Gemm.Threads = 1;
                serial.Pack(be, tb, k, n, b, ldb);
                Gemm.Threads = 2;
                par.Pack(be, tb, k, n, b, ldb);
                long len = (long)serial.NPad * k;
                Assert.Equal(serial.NPad, par.NPad);
                for (long i = 0; i < len; i++)
                    if (serial.Data[i] != par.Data[i] && !(float.IsNaN(serial.Data[i]) && float.IsNaN(par.Data[i])))
                        Assert.Fail($"packed op(B) tb={tb} k={k} n={n}: element {i} is {par.Data[i]} packed on 2 threads, {serial.Data[i]} on one");
                Check(be, par, rng, false, tb, 20, n, k, parallel: true);
            }
        }
        finally { Gemm.Threads = threads; }
    }

    private static void Check<T>(IGemmBackend be, GemmPackedB<T> packed, Rng rng, bool ta, bool tb, int m, int n, int k, bool parallel,
                                 double? alphaIn = null, double? betaIn = null, bool nanC = false) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double[] alphas = [1, -0.7, 2.5];
        double[] betas = [0, 1, 0.5, -1.25];
        double alpha = alphaIn ?? alphas[rng.NextInt(alphas.Length)], beta = betaIn ?? betas[rng.NextInt(betas.Length)];
        int padA = rng.NextInt(2) * rng.NextInt(1, 5), padB = rng.NextInt(2) * rng.NextInt(1, 5), padC = rng.NextInt(2) * rng.NextInt(1, 5);
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = aCols + padA, ldb = bCols + padB, ldc = n + padC;
        var a = GemmCheck.Random<T>(rng, aRows * lda);
        var b = GemmCheck.Random<T>(rng, bRows * ldb);
        var c = GemmCheck.Random<T>(rng, m * ldc);
        if (nanC) Array.Fill(c, T.NaN);
        for (int i = 0; i < m; i++) for (int j = n; j < ldc; j++) c[i * ldc + j] = T.CreateChecked(777.0);
        var expect = (T[])c.Clone();
        if (nanC) for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) expect[i * ldc + j] = T.Zero;
        var got = (T[])c.Clone();
        T al = T.CreateChecked(alpha), bt = T.CreateChecked(beta);
        Gemm.Dispatch<T>(ReferenceGemm.Instance, ta, tb, m, n, k, al, a, lda, b, ldb, bt, expect, ldc);
        packed.Pack(be, tb, k, n, b, ldb);
        Assert.Equal(k, packed.K);
        Assert.Equal(n, packed.N);
        Gemm.RunPacked<T>(be, ta, m, al, a, lda, packed, bt, got, ldc, parallel);
        GemmCheck.AssertClose($"{be.Name} packed {typeof(T).Name} ta={ta} tb={tb} m={m} n={n} k={k} alpha={alpha} beta={beta} parallel={parallel}",
                              a, lda, b, ldb, c, expect, got, ta, tb, m, n, k, ldc, alpha, beta, nanC);
    }


    [Theory]
    [MemberData(nameof(Backends))]
    public void TwoThreadsShareOnePackedBOnDisjointRows(string backend)
    {
        // The recurrent layers' use: one W_h packed once, two threads each multiplying their half of the batch, serially.
        var be = GemmBackends.ByName(backend);
        var rng = new Rng(15);
        int m = 40, n = 650, k = 300;
        foreach (bool tb in new[] { false, true })
        {
            var a = GemmCheck.Random<float>(rng, m * k);
            var b = GemmCheck.Random<float>(rng, k * n);
            var expect = new float[m * n];
            Gemm.Dispatch<float>(ReferenceGemm.Instance, false, tb, m, n, k, 1f, a, k, b, tb ? k : n, 0f, expect, n);
            var packed = new GemmPackedB<float>();
            packed.Pack(be, tb, k, n, b, tb ? k : n);
            var got = new float[m * n];
            var errors = new System.Collections.Concurrent.ConcurrentBag<string>();
            using var go = new Barrier(2);
            var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
            {
                try
                {
                    int r0 = t * m / 2, r1 = (t + 1) * m / 2;
                    go.SignalAndWait();
                    for (int rep = 0; rep < 20; rep++)
                    {
                        // beta = 0 then accumulate once: the final value is exactly 2·(A·B) if no thread disturbed the other.
                        Gemm.RunPacked<float>(be, false, r1 - r0, 1f, a.AsSpan(r0 * k), k, packed, 0f, got.AsSpan(r0 * n, (r1 - r0) * n), n, parallel: false);
                        Gemm.RunPacked<float>(be, false, r1 - r0, 1f, a.AsSpan(r0 * k), k, packed, 1f, got.AsSpan(r0 * n, (r1 - r0) * n), n, parallel: false);
                    }
                }
                catch (Exception e) { errors.Add(e.ToString()); }
            })).ToList();
            threads.ForEach(x => x.Start());
            threads.ForEach(x => x.Join());
            Assert.True(errors.IsEmpty, string.Join("\n", errors));
            for (int i = 0; i < m * n; i++)
                Assert.True(Math.Abs(got[i] - 2 * expect[i]) <= 2e-4f * (1 + Math.Abs(expect[i])), $"{be.Name} tb={tb}: C[{i}] = {got[i]}, expected {2 * expect[i]}");
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void ColumnRangesMatchReferenceAndLeaveOtherColumns(string backend)
    {
        // The column split of a step product: each part computes C[:, J0..J1) with the shared packed B.
        var be = GemmBackends.ByName(backend);
        var rng = new Rng(18);
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
                foreach (var (m, n, k, parts) in new[] { (20, 650, 300, 2), (7, 97, 520, 3), (12, 33, 17, 4), (3, 5, 2, 3) })
                {
                    int lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2, ldc = n + 3;
                    var a = GemmCheck.Random<double>(rng, (ta ? k : m) * lda);
                    var b = GemmCheck.Random<double>(rng, (tb ? n : k) * ldb);
                    var c0 = GemmCheck.Random<double>(rng, m * ldc);
                    var expect = (double[])c0.Clone();
                    Gemm.Dispatch<double>(ReferenceGemm.Instance, ta, tb, m, n, k, 0.5, a, lda, b, ldb, -1.0, expect, ldc);
                    var packed = new GemmPackedB<double>();
                    packed.Pack(be, tb, k, n, b, ldb);
                    var got = (double[])c0.Clone();
                    int covered = 0;
                    for (int part = 0; part < parts; part++)
                    {
                        var (j0, j1) = packed.ColumnRange(part, parts);
                        Assert.Equal(covered, j0);
                        Assert.Equal(0, j0 % packed.ColumnAlignment);
                        covered = j1;
                        var before = (double[])got.Clone();
                        Gemm.RunPacked<double>(be, ta, m, 0.5, a, lda, packed, j0, j1, -1.0, got, ldc, parallel: part % 2 == 0);
                        for (int i = 0; i < m; i++)
                            for (int j = 0; j < ldc; j++)
                                if (j < j0 || j >= j1) Assert.True(got[i * ldc + j] == before[i * ldc + j], $"{be.Name}: column {j} outside [{j0},{j1}) changed");
                    }
                    Assert.Equal(n, covered);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++)
                            Assert.True(Math.Abs(got[i * ldc + j] - expect[i * ldc + j]) <= 1e-12 * (k + 2), $"{be.Name} ta={ta} tb={tb} m={m} n={n} k={k}: C({i},{j}) = {got[i * ldc + j]}, expected {expect[i * ldc + j]}");
                }
    }

    [Fact]
    public void TwoThreadsSplitTheColumnsOfOneStep()
    {
        var be = ManagedGemm.Instance;
        var rng = new Rng(19);
        int m = 20, n = 2600, k = 650;
        var a = GemmCheck.Random<float>(rng, m * k);
        var b = GemmCheck.Random<float>(rng, k * n);
        var expect = new float[m * n];
        Gemm.Dispatch<float>(ReferenceGemm.Instance, false, false, m, n, k, 1f, a, k, b, n, 0f, expect, n);
        var packed = new GemmPackedB<float>();
        packed.Pack(be, false, k, n, b, n);
        var got = new float[m * n];
        var errors = new System.Collections.Concurrent.ConcurrentBag<string>();
        var threads = Enumerable.Range(0, 2).Select(t => new Thread(() =>
        {
            try
            {
                var (j0, j1) = packed.ColumnRange(t, 2);
                for (int rep = 0; rep < 5; rep++)
                    Gemm.RunPacked<float>(be, false, m, 1f, a, k, packed, j0, j1, 0f, got, n, parallel: false);
            }
            catch (Exception e) { errors.Add(e.ToString()); }
        })).ToList();
        threads.ForEach(x => x.Start());
        threads.ForEach(x => x.Join());
        Assert.True(errors.IsEmpty, string.Join("\n", errors));
        for (int i = 0; i < m * n; i++)
            Assert.True(Math.Abs(got[i] - expect[i]) <= 2e-4f * (1 + Math.Abs(expect[i])), $"C[{i}] = {got[i]}, expected {expect[i]}");
    }

    [Fact]
    public void MisalignedOrOutOfRangeColumnsThrow()
    {
        var p = new GemmPackedB<float>();
        p.Pack(ManagedGemm.Instance, false, 3, 100, new float[300], 100);
        Assert.True(p.ColumnAlignment > 1);
        var mis = Assert.Throws<ArgumentException>(() => Gemm.RunPacked<float>(ManagedGemm.Instance, false, 2, 1f, new float[6], 3, p, 1, 50, 0f, new float[200], 100));
        Assert.Contains("multiple", mis.Message);
        Assert.Throws<ArgumentException>(() => Gemm.RunPacked<float>(ManagedGemm.Instance, false, 2, 1f, new float[6], 3, p, 0, 101, 0f, new float[202], 101));
        var dense = new GemmPackedB<float>();
        dense.Pack(ReferenceGemm.Instance, false, 3, 100, new float[300], 100);
        Assert.Equal(1, dense.ColumnAlignment);
    }

    [Fact]
    public void AThreadWhoseFirstProductIsASweepDoesNotGrowItsBuffersLater()
    {
        // GemmBuffers are per thread and allocated once at their largest size. The panel sweep asks for a smaller
        // scratch tile than the blocked loop (MR×NR against MR×NR + NR): a pool worker whose first product was a
        // sweep then grew its tile on its first blocked product — inside a timed loop once (206 B per update, C4).
        var be = ManagedGemm.Instance;
        var rng = new Rng(18);
        int m = 20, n = 650, k = 300;
        var a = GemmCheck.Random<float>(rng, m * k);
        var b = GemmCheck.Random<float>(rng, k * n);
        var c = new float[m * n];
        var packed = new GemmPackedB<float>();
        packed.Pack(be, false, k, n, b, n);
        var a2 = GemmCheck.Random<float>(rng, 130 * 70);
        var b2 = GemmCheck.Random<float>(rng, 70 * 45);
        var bias = GemmCheck.Random<float>(rng, 45);
        var c2 = new float[130 * 45];
        void Blocked() { using (Gemm.Serial()) Gemm.RunBias<float>(false, false, 130, 45, 70, 1f, a2, 70, b2, 45, bias, c2, 45); }
        Blocked();                                            // JIT and type initialisation, on this thread
        long grown = -1;
        var t = new Thread(() =>
        {
            using (Gemm.Serial()) Gemm.RunPacked<float>(be, false, m, 1f, a, k, packed, 0f, c, n);   // first product: a sweep
            long before = GC.GetAllocatedBytesForCurrentThread();
            Blocked();                                        // then a blocked product with a ragged, biased last panel
            grown = GC.GetAllocatedBytesForCurrentThread() - before;
        });
        t.Start();
        t.Join();
        Assert.True(grown == 0, $"{grown} bytes allocated by the first blocked product after a sweep on a fresh thread");
    }

    [Fact]
    public void RepackAndRunDoNotAllocate()
    {
        var be = ManagedGemm.Instance;
        var rng = new Rng(16);
        int m = 20, n = 650, k = 520;
        var a = GemmCheck.Random<float>(rng, m * k);
        var b = GemmCheck.Random<float>(rng, k * n);
        var c = new float[m * n];
        var packedN = new GemmPackedB<float>();
        var packedT = new GemmPackedB<float>();
        var ad = GemmCheck.Random<double>(rng, 10 * 70);
        var bd = GemmCheck.Random<double>(rng, 70 * 90);
        var cd = new double[10 * 90];
        var cd2 = new double[70 * 90];
        var packedD = new GemmPackedB<double>();
        void Calls()
        {
            packedN.Pack(be, false, k, n, b, n);
            packedT.Pack(be, true, n, k, b, n);     // op(B) = Bᵀ (n×k)
            Gemm.RunPacked<float>(be, false, m, 1f, a, k, packedN, 0f, c, n, parallel: true);
            Gemm.RunPacked<float>(be, false, m, 1f, a, k, packedN, 1f, c, n, parallel: false);
            Gemm.RunPacked<float>(be, false, m, 1f, c, n, packedT, 0f, a, k, parallel: true);
            var (j0, j1) = packedN.ColumnRange(1, 2);
            Gemm.RunPacked<float>(be, false, m, 1f, a, k, packedN, j0, j1, 1f, c, n, parallel: false);
            packedD.Pack(be, true, 70, 90, bd, 70);
            Gemm.RunPacked<double>(be, true, 70, 1.0, bd, 70, packedD, 0.5, cd2, 90, parallel: false);
            Gemm.RunPacked<double>(be, false, 10, 1.0, ad, 70, packedD, 0.0, cd, 90);
        }
        for (int i = 0; i < 3; i++) Calls();
        // A per-call allocation shows in every round. One round may see a one-time lazy allocation of the shared worker
        // pool (e.g. the first time this thread blocks on its completion event while other tests use the pool).
        var rounds = new long[3];
        for (int r = 0; r < rounds.Length; r++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) Calls();
            rounds[r] = GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Assert.True(rounds.Min() == 0, $"bytes allocated per round of 10: {string.Join(", ", rounds)}");
    }

    [Fact]
    public void WrongBackendOrUnpackedThrows()
    {
        var p = new GemmPackedB<float>();
        var a = new float[6]; var c = new float[6];
        var never = Assert.Throws<InvalidOperationException>(() => Gemm.RunPacked<float>(ManagedGemm.Instance, false, 2, 1f, a, 3, p, 0f, c, 3));
        Assert.Contains("Pack", never.Message);
        p.Pack(ReferenceGemm.Instance, false, 3, 3, new float[9], 3);
        var wrong = Assert.Throws<InvalidOperationException>(() => Gemm.RunPacked<float>(ManagedGemm.Instance, false, 2, 1f, a, 3, p, 0f, c, 3));
        Assert.Contains("reference", wrong.Message);
        Assert.Contains(ManagedGemm.Instance.Name, wrong.Message);
    }

    [Fact]
    public void BadOperandsThrowNamingThem()
    {
        var p = new GemmPackedB<float>();
        var eb = Assert.Throws<ArgumentException>(() => p.Pack(ManagedGemm.Instance, false, 3, 4, new float[11], 4));
        Assert.Contains("B", eb.Message);
        var ld = Assert.Throws<ArgumentException>(() => p.Pack(ManagedGemm.Instance, true, 3, 4, new float[100], 2));
        Assert.Contains("leading dimension of B", ld.Message);
        p.Pack(ManagedGemm.Instance, false, 3, 4, new float[12], 4);
        var ea = Assert.Throws<ArgumentException>(() => Gemm.RunPacked<float>(ManagedGemm.Instance, false, 2, 1f, new float[5], 3, p, 0f, new float[8], 4));
        Assert.Contains("A", ea.Message);
        var ec = Assert.Throws<ArgumentException>(() => Gemm.RunPacked<float>(ManagedGemm.Instance, false, 2, 1f, new float[6], 3, p, 0f, new float[8], 3));
        Assert.Contains("C", ec.Message);
    }

    [Fact]
    public void GemmInsideAPoolPartRunsSeriallyAndCorrectly()
    {
        // A product started from inside a worker-pool part must not re-enter the pool (its caller already holds it).
        var rng = new Rng(17);
        int m = 64, n = 300, k = 200;
        var a = GemmCheck.Random<float>(rng, m * k);
        var b = GemmCheck.Random<float>(rng, k * n);
        var expect = new float[m * n];
        Gemm.Dispatch<float>(ReferenceGemm.Instance, false, false, m, n, k, 1f, a, k, b, n, 0f, expect, n);
        var outs = new[] { new float[m * n], new float[m * n], new float[m * n] };
        var work = new NestedWork(a, b, outs, m, n, k);
        bool ran = GemmWorkers.Shared.TryRun(work, outs.Length, helpers: 1);
        if (!ran) work.RunAllHere();   // pool busy with another test's product: still checks the results
        Assert.True(work.AllSawSerial, "a part did not see GemmWorkers.SerialHere");
        foreach (var got in outs)
            for (int i = 0; i < m * n; i++)
                Assert.True(Math.Abs(got[i] - expect[i]) <= 1e-4f * (1 + Math.Abs(expect[i])), $"C[{i}] = {got[i]}, expected {expect[i]}");
        Assert.False(GemmWorkers.SerialHere);
        using (Gemm.Serial())
        {
            Assert.True(GemmWorkers.SerialHere);
            var c = new float[m * n];
            Gemm.Dispatch<float>(ManagedGemm.Instance, false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
            for (int i = 0; i < m * n; i++) Assert.True(Math.Abs(c[i] - expect[i]) <= 1e-4f * (1 + Math.Abs(expect[i])));
        }
        Assert.False(GemmWorkers.SerialHere);
    }

    private sealed class NestedWork(float[] a, float[] b, float[][] outs, int m, int n, int k) : IPartitionedWork
    {
        private int _serialSeen;
        public bool AllSawSerial => _serialSeen == outs.Length;

        public void RunPart(int part, int parts)
        {
            if (GemmWorkers.SerialHere) Interlocked.Increment(ref _serialSeen);
            ManagedGemm.Instance.Gemm(false, false, m, n, k, 1f, a, k, b, n, 0f, outs[part], n);
        }

        public void RunAllHere()
        {
            using (Gemm.Serial())
                for (int p = 0; p < outs.Length; p++) RunPart(p, outs.Length);
        }
    }
}
