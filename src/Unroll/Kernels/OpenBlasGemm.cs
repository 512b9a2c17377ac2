using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Unroll.Kernels;

/// <summary>
/// Optional GEMM backend on OpenBLAS (<c>cblas_sgemm</c>/<c>cblas_dgemm</c>, row-major), loaded at run time with
/// <see cref="NativeLibrary.TryLoad(string, out IntPtr)"/>; on Debian it comes from the package
/// <c>libopenblas0-pthread</c>. Select it with <c>UNROLL_GEMM=openblas</c>.
/// </summary>
/// <remarks>
/// Debian 12's OpenBLAS 0.3.21 does not recognise recent Xeons (Sapphire/Emerald Rapids) and silently falls back to
/// SSE3 kernels (its "Prescott" core) unless <c>OPENBLAS_CORETYPE</c> is set before the library is loaded.
/// OpenBLAS reads the variable with the C library's <c>getenv</c> in its load-time constructor, and .NET's
/// <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not change the C environment on Linux.
/// So when the variable is unset and the CPU has AVX-512, this class calls libc <c>setenv("OPENBLAS_CORETYPE",
/// "SkylakeX")</c> right before loading; <see cref="CoreName"/> (from <c>openblas_get_corename()</c>) shows the core
/// actually used. An explicitly exported <c>OPENBLAS_CORETYPE</c> is never overridden.
/// </remarks>
public sealed unsafe class OpenBlasGemm : IGemmBackend
{
    /// <summary>File names tried, in order.</summary>
    public static readonly string[] LibraryNames = ["libopenblas.so.0", "libopenblas.so", "libopenblas64_.so.0", "libopenblas.dylib", "libopenblas.dll", "openblas"];

    private const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private static readonly Lock s_gate = new();
    private static OpenBlasGemm? s_instance;
    private static string? s_error;

    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private readonly delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void> _dgemm;
    private readonly delegate* unmanaged<int, void> _setThreads;
    private int _threadsSet = -1;

    /// <summary>The file name that loaded.</summary>
    public string Library { get; }
    /// <summary>The kernel set OpenBLAS says it uses (<c>openblas_get_corename()</c>), e.g. "SkylakeX" or "Prescott".</summary>
    public string CoreName { get; }
    /// <summary><c>openblas_get_config()</c>: version and build options.</summary>
    public string Config { get; }
    /// <summary>How <c>OPENBLAS_CORETYPE</c> was determined (exported by the user, set by Unroll, or unset).</summary>
    public string CoreTypeNote { get; }
    public string Name => $"openblas ({CoreName})";

    private OpenBlasGemm(string library, IntPtr h, string coreTypeNote)
    {
        Library = library;
        CoreTypeNote = coreTypeNote;
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)NativeLibrary.GetExport(h, "cblas_sgemm");
        _dgemm = (delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void>)NativeLibrary.GetExport(h, "cblas_dgemm");
        _setThreads = NativeLibrary.TryGetExport(h, "openblas_set_num_threads", out var st) ? (delegate* unmanaged<int, void>)st : null;
        CoreName = CallString(h, "openblas_get_corename") ?? "unknown";
        Config = CallString(h, "openblas_get_config") ?? "unknown";
    }

    private static string? CallString(IntPtr h, string fn)
    {
        if (!NativeLibrary.TryGetExport(h, fn, out var p)) return null;
        var s = ((delegate* unmanaged<sbyte*>)p)();
        return s == null ? null : new string(s).Trim();
    }

    /// <summary>Loads OpenBLAS once; false (with the reason) if it is not installed or lacks the CBLAS entry points.</summary>
    public static bool TryLoad(out OpenBlasGemm? backend, out string? error)
    {
        lock (s_gate)
        {
            if (s_instance is null && s_error is null)
            {
                try { s_instance = LoadCore(); }
                catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { s_error = e.Message; }
            }
            backend = s_instance;
            error = s_error;
            return backend is not null;
        }
    }

    /// <summary>The loaded backend.</summary>
    /// <exception cref="DllNotFoundException">libopenblas is not installed (names the Debian package to install).</exception>
    public static OpenBlasGemm Load() =>
        TryLoad(out var b, out var err) ? b! : throw new DllNotFoundException(err);

    private static OpenBlasGemm LoadCore() => LoadCore(LibraryNames);

    /// <summary>Loads the first of <paramref name="names"/> that exists (internal: tests pass names that do not).</summary>
    internal static OpenBlasGemm LoadCore(IReadOnlyList<string> names)
    {
        string note = PrepareCoreType();
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var h)) continue;
            if (!NativeLibrary.TryGetExport(h, "cblas_sgemm", out _) || !NativeLibrary.TryGetExport(h, "cblas_dgemm", out _))
                throw new EntryPointNotFoundException($"OpenBLAS: {name} has no cblas_sgemm/cblas_dgemm.");
            return new OpenBlasGemm(name, h, note);
        }
        throw new DllNotFoundException(
            $"OpenBLAS backend: could not load {string.Join(", ", names.Take(2))}. Install it (Debian/Ubuntu: " +
            "apt-get install libopenblas0-pthread) or use the default managed backend (unset UNROLL_GEMM).");
    }

    [DllImport("libc", EntryPoint = "getenv")] private static extern IntPtr LibcGetenv(string name);
    [DllImport("libc", EntryPoint = "setenv")] private static extern int LibcSetenv(string name, string value, int overwrite);

    /// <summary>
    /// Sets OPENBLAS_CORETYPE=SkylakeX in the C environment when it is unset and the CPU has AVX-512 (see remarks
    /// on the class). Returns a note for <c>unroll info</c>.
    /// </summary>
    private static string PrepareCoreType()
    {
        if (!OperatingSystem.IsLinux()) return "OPENBLAS_CORETYPE not managed on this OS";
        try
        {
            IntPtr cur = LibcGetenv("OPENBLAS_CORETYPE");
            if (cur != IntPtr.Zero) return $"OPENBLAS_CORETYPE={Marshal.PtrToStringUTF8(cur)} (exported by the user)";
            if (!(Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported))
                return "OPENBLAS_CORETYPE unset (OpenBLAS detects the CPU itself)";
            LibcSetenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
            Environment.SetEnvironmentVariable("OPENBLAS_CORETYPE", "SkylakeX");
            return "OPENBLAS_CORETYPE=SkylakeX (set by Unroll: CPU has AVX-512 and the variable was unset)";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return "OPENBLAS_CORETYPE could not be set (no libc); export it before starting";
        }
    }

    private void SyncThreads()
    {
        int t = Kernels.Gemm.Threads;
        if (t != _threadsSet && _setThreads != null) { _setThreads(t); _threadsSet = t; }
    }

    public void Gemm(bool transA, bool transB, int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda,
                     ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        Kernels.Gemm.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        SyncThreads();
        // cblas requires ld ≥ 1 even when an operand is empty (k = 0).
        fixed (float* pa = a, pb = b, pc = c)
            _sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, pa, Math.Max(1, lda), pb, Math.Max(1, ldb), beta, pc, ldc);
    }

    public void Gemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, int lda,
                     ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
    {
        Kernels.Gemm.Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        if (m == 0 || n == 0) return;
        SyncThreads();
        fixed (double* pa = a, pb = b, pc = c)
            _dgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, pa, Math.Max(1, lda), pb, Math.Max(1, ldb), beta, pc, ldc);
    }
}
