#!/usr/bin/python3
"""Generates src/Unroll/Kernels/GemmMicroKernels.g.cs: the fully unrolled register-blocked GEMM microkernels
(MR rows x nv SIMD vectors of accumulators), which C# cannot express as a loop without losing the registers.

    python3 bench/reference/gen_gemm_kernels.py                      # the shipped kernels
    python3 bench/reference/gen_gemm_kernels.py K14:14:2:1 U2:10:2:2  # plus experimental AVX-512 variants
                                                                     # name:MR:vectors:depth-unroll[:a|b] (for probing;
                                                                     # a/b: software prefetch of the A/B stream 8 depth steps ahead)
"""
def run(L, method, vec, mr, nv, unroll, doc, pf=None, init=False, nxt=False):
    L.append("    " + doc)
    L.append("    [MethodImpl(MethodImplOptions.AggressiveOptimization)]")
    L.append(f"    public static void {method}(int kc, T* a, T* b, nint bs, T* c, nint ldc, " + ("T* init)" if init else "T beta, byte* next)" if nxt else "T beta)"))
    L.append("    {")
    L.append(f"        int w = {vec}<T>.Count;")
    L.append("        // Start fetching the C tile now; it is read (beta != 0) or written only after the depth loop.")
    L.append(f"        for (int i = 0; i < {mr}; i++) {{ Sse.Prefetch0(c + i * ldc); Sse.Prefetch0(c + i * ldc + {nv} * w - 1); }}")
    if init:   # every row's accumulators start from the same init row (a bias): C = init + A·B, C not read
        L.append("        " + " ".join(f"var z{v} = {vec}.Load(init + {v} * w);" for v in range(nv)))
        L.append("        " + vec + "<T> " + ", ".join(f"c{i}{v} = z{v}" for i in range(mr) for v in range(nv)) + ";")
        L.append("        T beta = T.Zero;")
    else:
        L.append(f"        var z = {vec}<T>.Zero;")
        L.append("        " + vec + "<T> " + ", ".join(f"c{i}{v} = z" for i in range(mr) for v in range(nv)) + ";")
    def body(indent):
        L.append(indent + " ".join(f"var b{v} = {vec}.Load(b + {v} * w);" for v in range(nv)))
        for i in range(mr):
            L.append(indent + f"{{ var av = {vec}.Create(a[{i}]); " + " ".join(f"c{i}{v} = F(av, b{v}, c{i}{v});" for v in range(nv)) + " }")
        if pf == "a":   # the streamed A micro-panel: one line 8 depth steps ahead
            L.append(indent + f"Sse.Prefetch0(a + {8 * mr});")
        if pf == "b":   # the B micro-panel (streamed from L3 when B is pre-packed and large): 8 depth steps ahead
            L.append(indent + " ".join(f"Sse.Prefetch0(b + 8 * bs + {v} * w);" for v in range(nv)))
        if nxt:         # one line per depth step of a micro-panel a later call reads, into L2
            L.append(indent + "Sse.Prefetch1(next); next += 64;")
        L.append(indent + f"a += {mr}; b += bs;")
    p0 = "0"
    if unroll > 1:
        L.append(f"        int p = 0;")
        L.append(f"        for (; p + {unroll - 1} < kc; p += {unroll})")
        L.append("        {")
        for u in range(unroll):
            L.append("            {")
            body("                ")
            L.append("            }")
        L.append("        }")
        p0 = None
    L.append("        for (" + ("int p = 0" if p0 else "") + "; p < kc; p++)")
    L.append("        {")
    body("            ")
    L.append("        }")
    for i in range(mr):
        L.append(f"        Put{nv}(c, " + ", ".join(f"c{i}{v}" for v in range(nv)) + ", beta);" + (" c += ldc;" if i < mr-1 else ""))
    L.append("    }")

def kernel(name, vec, mr, fma_f, fma_d, isa_check, doc, nv=2, unroll=1, pf=None):
    L=[]
    L.append(f"/// <summary>{doc}</summary>")
    L.append(f"internal unsafe struct {name}<T> : IMicroKernel<T> where T : unmanaged, IFloatingPointIeee754<T>")
    L.append("{")
    L.append(f"    public static int MR => {mr};")
    L.append(f"    public static int NR => {nv} * {vec}<T>.Count;")
    L.append(f"    public static bool IsSupported => {isa_check};")
    L.append("")
    L.append("    [MethodImpl(MethodImplOptions.AggressiveInlining)]")
    L.append(f"    private static {vec}<T> F({vec}<T> x, {vec}<T> y, {vec}<T> acc)")
    L.append("    {")
    L.append(f"        if (typeof(T) == typeof(float)) return {fma_f}(x.AsSingle(), y.AsSingle(), acc.AsSingle()).As<float, T>();")
    L.append(f"        if (typeof(T) == typeof(double)) return {fma_d}(x.AsDouble(), y.AsDouble(), acc.AsDouble()).As<double, T>();")
    L.append("        return x * y + acc;")
    L.append("    }")
    L.append("")
    widths = [nv] + ([nv // 2] if nv % 2 == 0 else [])
    for n in widths:
        L.append("    [MethodImpl(MethodImplOptions.AggressiveInlining)]")
        xs = ", ".join(f"{vec}<T> x{v}" for v in range(n))
        L.append(f"    private static void Put{n}(T* c, {xs}, T beta)")
        L.append("    {")
        L.append(f"        int w = {vec}<T>.Count;")
        L.append("        if (beta == T.Zero) { " + " ".join(f"x{v}.Store(c + {v} * w);" for v in range(n)) + " }")
        L.append("        else if (beta == T.One) { " + " ".join(f"({vec}.Load(c + {v} * w) + x{v}).Store(c + {v} * w);" for v in range(n)) + " }")
        L.append(f"        else {{ var bv = {vec}.Create(beta); " + " ".join(f"F(bv, {vec}.Load(c + {v} * w), x{v}).Store(c + {v} * w);" for v in range(n)) + " }")
        L.append("    }")
        L.append("")
    run(L, "Run", vec, mr, nv, unroll, "/// <inheritdoc cref=\"IMicroKernel{T}.Run\"/>", pf)
    if len(widths) > 1:
        L.append("")
        run(L, "RunHalf", vec, mr, nv // 2, 1, "/// <inheritdoc cref=\"IMicroKernel{T}.RunHalf\"/>", pf)
    L.append("")
    run(L, "RunNext", vec, mr, nv, unroll, "/// <inheritdoc cref=\"IMicroKernel{T}.RunNext\"/>", pf, nxt=True)
    L.append("")
    run(L, "RunFrom", vec, mr, nv, unroll, "/// <inheritdoc cref=\"IMicroKernel{T}.RunFrom\"/>", pf, init=True)
    if len(widths) > 1:
        L.append("")
        run(L, "RunHalfFrom", vec, mr, nv // 2, 1, "/// <inheritdoc cref=\"IMicroKernel{T}.RunHalfFrom\"/>", pf, init=True)
    L.append("}")
    return "\n".join(L)

hdr = '''// <auto-generated> by bench/reference/gen_gemm_kernels.py (python3 bench/reference/gen_gemm_kernels.py); edit the script, not this file. </auto-generated>
#nullable enable
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Unroll.Kernels;
'''
out = hdr + "\n" + kernel("Avx512Kernel", "Vector512", 10, "Avx512F.FusedMultiplyAdd", "Avx512F.FusedMultiplyAdd",
   "Avx512F.IsSupported", "AVX-512 microkernel: 10 rows × 2 zmm vectors (10×32 floats, 10×16 doubles); 20 accumulators + 2 B + 1 broadcast of the 32 zmm registers.") + "\n\n" + \
   kernel("Avx512Kernel8", "Vector512", 8, "Avx512F.FusedMultiplyAdd", "Avx512F.FusedMultiplyAdd",
   "Avx512F.IsSupported", "AVX-512 microkernel for short products: 8 rows × 2 zmm vectors (8×32 floats); chosen when M is small and a multiple of 8 fits it better than 10 (M = 32: 4 tiles of 8 instead of 4 tiles of 10, the last one 2 rows).") + "\n\n" + \
   kernel("Avx2Kernel", "Vector256", 6, "Fma.MultiplyAdd", "Fma.MultiplyAdd", "Avx2.IsSupported && Fma.IsSupported",
   "AVX2+FMA microkernel: 6 rows × 2 ymm vectors (6×16 floats, 6×8 doubles); 12 accumulators + 2 B + 1 broadcast of the 16 ymm registers.") + "\n"
import sys
if len(sys.argv) > 1:  # experimental variants: name:mr:nv:unroll
    for spec in sys.argv[1:]:
        nm, mr, nv, un, *pf = spec.split(":")
        out += "\n" + kernel(nm, "Vector512", int(mr), "Avx512F.FusedMultiplyAdd", "Avx512F.FusedMultiplyAdd", "Avx512F.IsSupported", f"AVX-512 variant {mr}x{nv} vectors.", int(nv), int(un), pf[0] if pf else None) + "\n"
import os
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "Unroll", "Kernels", "GemmMicroKernels.g.cs"), "w").write(out)
