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

    [StructLayout(LayoutKind.Sequential)] private struct Timespec { public long Sec, Nsec; }
    [DllImport("libc")] private static extern int clock_gettime(int clock, out Timespec ts);
    /// <summary>CLOCK_THREAD_CPUTIME_ID = 3.</summary>
    public static double ThreadCpuSeconds() { clock_gettime(3, out var ts); return ts.Sec + ts.Nsec * 1e-9; }
}
