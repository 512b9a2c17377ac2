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
        var cmd = new Command("info", "Print the runtime, the SIMD width and the active GEMM backend.\n\nExamples:\n  unroll info\n  UNROLL_GEMM=openblas unroll info");
        cmd.SetAction(parse =>
        {
            var o = parse.InvocationConfiguration.Output;
            o.WriteLine($"runtime      .NET {Environment.Version} ({RuntimeInformation.RuntimeIdentifier}), {RuntimeInformation.OSDescription}");
            o.WriteLine($"cores        {Environment.ProcessorCount}");
            o.WriteLine($"simd         {SimdDescription()}");
            o.WriteLine($"gemm         {Gemm.Backend.Name}");
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
