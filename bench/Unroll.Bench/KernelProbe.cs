using System.Globalization;
using System.Runtime.InteropServices;
using Unroll.Kernels;

namespace Unroll.Bench;

/// <summary>
/// <c>kernel [kc]</c>: GFLOP/s of the managed AVX-512 float microkernel alone, on L1/L2-resident packed panels,
/// timed by this thread's CPU clock — the ceiling the blocked GEMM can reach on this machine.
/// </summary>
public static unsafe class KernelProbe
{
    public static int Run(string[] args)
    {
        int kc = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 256;
        if (!Avx512Kernel<float>.IsSupported) { Console.Error.WriteLine("kernel: no AVX-512 on this CPU"); return 2; }
        for (int r = 0; r < 5; r++) Probe<Avx512Kernel<float>>(kc);
        return 0;
    }

    private static void Probe<K>(int kc) where K : struct, IMicroKernel<float>
    {
        int mr = K.MR, nr = K.NR;
        var a = new float[mr * kc]; var b = new float[nr * kc]; var c = new float[mr * nr];
        for (int i = 0; i < a.Length; i++) a[i] = 0.001f * (i % 7);
        for (int i = 0; i < b.Length; i++) b[i] = 0.001f * (i % 5);
        fixed (float* pa = a, pb = b, pc = c)
        {
            for (int w = 0; w < 1000; w++) K.Run(kc, pa, pb, nr, pc, nr, 1f);
            int iters = 64_000_000 / (kc * mr);
            double t0 = ThreadCpuSeconds();
            for (int w = 0; w < iters; w++) K.Run(kc, pa, pb, nr, pc, nr, 1f);
            double dt = ThreadCpuSeconds() - t0;
            Console.WriteLine($"{typeof(K).Name.Split('`')[0]}<float> {mr}x{nr}, kc={kc}: {2.0 * mr * nr * kc * iters / dt / 1e9:0.0} GFLOP/s per CPU-second");
        }
    }

    /// <summary>
    /// <c>gemm --peak</c>: a pseudo-backend that spends the FLOPs of the product it is asked for (2·m·n·k) in the
    /// microkernel alone, on packed panels that stay in L1 — the blocked GEMM's ceiling measured at the same moments
    /// as the products it alternates with (the host's speed drifts by up to 2× within minutes). C is not computed.
    /// </summary>
    public sealed class PeakBackend : IGemmBackend
    {
        private const int Kc = 256;
        private readonly float* _a, _b, _c;
        public PeakBackend() { var p = new Panels(Kc); _a = p.A; _b = p.B; _c = p.C; }   // kept for the life of the process
        public string Name => "kernel-peak";
        public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
                         ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        {
            int mr = Avx512Kernel<float>.MR, nr = Avx512Kernel<float>.NR;
            long calls = Math.Max(1, (long)m * n * k / ((long)mr * nr * Kc));
            for (long i = 0; i < calls; i++) Avx512Kernel<float>.Run(Kc, _a, _b, nr, _c, nr, 1f);
        }
        public void Gemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, int lda,
                         ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc) => throw new NotSupportedException();
    }

    /// <summary>
    /// Packed A (MR × kc) and B (kc × NR) panels of the AVX-512 float kernel, filled with small values, and its C tile
    /// (MR × NR, zeroed): 64-byte aligned native memory, freed by <see cref="Dispose"/>.
    /// </summary>
    public readonly struct Panels : IDisposable
    {
        public readonly float* A, B, C;

        public Panels(int kc)
        {
            int mr = Avx512Kernel<float>.MR, nr = Avx512Kernel<float>.NR;
            A = (float*)NativeMemory.AlignedAlloc((nuint)(mr * kc * 4), 64);
            B = (float*)NativeMemory.AlignedAlloc((nuint)(nr * kc * 4), 64);
            C = (float*)NativeMemory.AlignedAlloc((nuint)(mr * nr * 4), 64);
            for (int i = 0; i < mr * kc; i++) A[i] = 0.001f * (i % 7);
            for (int i = 0; i < nr * kc; i++) B[i] = 0.001f * (i % 5);
            for (int i = 0; i < mr * nr; i++) C[i] = 0;
        }

        public void Dispose()
        {
            NativeMemory.AlignedFree(A); NativeMemory.AlignedFree(B); NativeMemory.AlignedFree(C);
        }
    }

    [StructLayout(LayoutKind.Sequential)] private struct Timespec { public long Sec, Nsec; }
    [DllImport("libc")] private static extern int clock_gettime(int clock, out Timespec ts);
    /// <summary>CLOCK_THREAD_CPUTIME_ID = 3.</summary>
    public static double ThreadCpuSeconds() { clock_gettime(3, out var ts); return ts.Sec + ts.Nsec * 1e-9; }
}
