namespace Unroll.Bench;
using Unroll.Kernels;
public static unsafe class KernelProbe
{
    public static int Run(string[] args)
    {
        int kc = args.Length > 0 ? int.Parse(args[0]) : 256;
        for (int r = 0; r < 3; r++)
        {
            P<Avx512Kernel<float>>(kc);
        }
        return 0;
    }
    static void P<K>(int kc) where K : struct, IMicroKernel<float>
    {
        int mr = K.MR, nr = K.NR;
        var a = new float[mr * kc + 64]; var b = new float[nr * kc + 64]; var c = new float[mr * nr + 64];
        for (int i = 0; i < a.Length; i++) a[i] = 0.001f * (i % 7);
        for (int i = 0; i < b.Length; i++) b[i] = 0.001f * (i % 5);
        fixed (float* pa = a, pb = b, pc = c)
        {
            for (int w = 0; w < 1000; w++) K.Run(kc, pa, pb, nr, pc, nr, 1f);
            double t0 = Now(); int iters = 2000000 / kc * 32 / mr;
            for (int w = 0; w < iters; w++) K.Run(kc, pa, pb, nr, pc, nr, 1f);
            double dt = Now() - t0;
            Console.WriteLine($"{typeof(K).Name} {mr}x{nr} kc={kc}: {2.0 * mr * nr * kc * iters / dt / 1e9:0.0} GFLOP/s per CPU-s");
        }
    }
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)] private struct Timespec { public long Sec, Nsec; }
    [System.Runtime.InteropServices.DllImport("libc")] private static extern int clock_gettime(int clock, out Timespec ts);
    private static double Now() { clock_gettime(3, out var ts); return ts.Sec + ts.Nsec * 1e-9; }
}
