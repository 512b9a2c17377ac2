using System.CommandLine;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Unroll.Kernels;

namespace Unroll.Cli;

/// <summary><c>unroll info</c>: runtime, SIMD width and the active GEMM backend.</summary>
public static class InfoCommand
{
    public static Command Build()
    {
        var cmd = new Command("info", "Print the runtime, the SIMD width, the active GEMM backend and, when OpenBLAS is installed, the CPU core it says it uses.\n\nExamples:\n  unroll info\n  UNROLL_GEMM=openblas unroll info\n  OPENBLAS_CORETYPE=Haswell UNROLL_GEMM=openblas unroll info");
        cmd.SetAction(parse =>
        {
            var o = parse.InvocationConfiguration.Output;
            o.WriteLine($"runtime      .NET {Environment.Version} ({RuntimeInformation.RuntimeIdentifier}), {RuntimeInformation.OSDescription}");
            o.WriteLine($"cores        {Environment.ProcessorCount}");
            o.WriteLine($"simd         {SimdDescription()}");
            var gemm = Gemm.Backend;
            o.WriteLine($"gemm         {gemm.Name}, up to {Gemm.Threads} threads (select with UNROLL_GEMM={string.Join("|", GemmBackends.Names)})");
            if (OpenBlasGemm.TryLoad(out var ob, out var err))
            {
                o.WriteLine($"openblas     {(gemm == ob ? "active" : "available")}: {ob!.Library}, core {ob.CoreName}; {ob.Config}");
                o.WriteLine($"             {ob.CoreTypeNote}");
            }
            else o.WriteLine($"openblas     not available: {err}");
            return 0;
        });
        return cmd;
    }

    public static string SimdDescription()
    {
        string width = Vector512.IsHardwareAccelerated ? "512-bit (AVX-512)" : Vector256.IsHardwareAccelerated ? "256-bit" : Vector128.IsHardwareAccelerated ? "128-bit" : "scalar";
        return $"{width}; FMA {(Fma.IsSupported ? "yes" : "no")}; Vector<float> = {System.Numerics.Vector<float>.Count} lanes";
    }
}
