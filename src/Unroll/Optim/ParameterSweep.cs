using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Unroll.Kernels;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Optim;

/// <summary>
/// The per-update passes over every parameter outside the forward/backward (zero the gradients, the global gradient
/// norm, scale the gradients, the optimizer update), spread over <see cref="Gemm.Threads"/> cores with the GEMM's
/// worker pool. The distinct parameters of a list (a parameter listed twice — tied — counts once, at its first
/// position) are seen as one concatenated vector of <c>total</c> elements cut into fixed blocks of
/// <see cref="BlockElements"/> elements (the last shorter); a block may span several parameters. A part of a pass is a
/// contiguous run of blocks, so any part count gives the same blocks.
/// </summary>
/// <remarks>
/// Determinism: the elementwise passes give the same bits for any split (each element is computed by the same
/// operations). The norm is Σ over blocks, in block order, of each block's Σ g² (a double from
/// <see cref="SquaredSum{T}"/> per parameter segment), so it does not depend on the thread count, on which thread ran a block, or on
/// whether the pool was busy (then everything runs on the calling thread, in one part). Nothing is allocated per call
/// once the calling thread's work object (and, on every thread, its scratch block) exists.
/// </remarks>
internal static class ParameterSweep
{
    /// <summary>Elements per block (128 KiB of float: a block of g, w and the optimizer's slots stays in L2 during its update).</summary>
    public const int BlockElements = 1 << 15;

    /// <summary>
    /// Below this many elements (4 MiB of float) a pass runs on the calling thread: a serial pass over that much takes
    /// ≈ 0.3 ms at the ~12 GB/s one core streams here, well above the pool's wake-up (tens of µs), while for smaller
    /// passes the gain is small and a worker preempted in the middle of its part (a busy machine) would cost more.
    /// C1/C4 (2.1 M parameters) and C2/C3 (13.3 M) are above it.
    /// </summary>
    public const long ParallelMinElements = 1L << 20;

    /// <summary>Parts per thread (claimed dynamically, so a thread the OS preempts does not hold up the pass).</summary>
    private const int PartsPerThread = 4;

    /// <summary>True if <c>ps[i]</c> appeared earlier in the list (a tied parameter is handled once).</summary>
    public static bool IsRepeat<T>(IReadOnlyList<Parameter<T>> ps, int i) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int j = 0; j < i; j++) if (ReferenceEquals(ps[j], ps[i])) return true;
        return false;
    }

    /// <summary>Σ of the lengths of the distinct parameters.</summary>
    public static long DistinctLength<T>(IReadOnlyList<Parameter<T>> ps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        long n = 0;
        for (int i = 0; i < ps.Count; i++) if (!IsRepeat(ps, i)) n += ps[i].Value.Length;
        return n;
    }

    /// <summary>g ← 0 for every parameter.</summary>
    public static void Zero<T>(IReadOnlyList<Parameter<T>> ps) where T : unmanaged, IFloatingPointIeee754<T>
        => SweepWork<T>.Rent().Run(ps, SweepOp.Zero, default, null);

    /// <summary>g ← g·<paramref name="scale"/> for every parameter.</summary>
    public static void Scale<T>(IReadOnlyList<Parameter<T>> ps, T scale) where T : unmanaged, IFloatingPointIeee754<T>
        => SweepWork<T>.Rent().Run(ps, SweepOp.Scale, scale, null);

    /// <summary>Σ g² over the distinct parameters (double; deterministic, see the class remarks).</summary>
    public static double SumOfSquares<T>(IReadOnlyList<Parameter<T>> ps) where T : unmanaged, IFloatingPointIeee754<T>
        => SweepWork<T>.Rent().Run(ps, SweepOp.SumOfSquares, default, null);

    /// <summary>
    /// If <paramref name="scaleGrads"/>, g ← g·<paramref name="scale"/>, then <paramref name="opt"/>'s update of w from g,
    /// block by block (the block's g is still in cache for the update).
    /// </summary>
    public static void Update<T>(IReadOnlyList<Parameter<T>> ps, Optimizer<T> opt, bool scaleGrads, T scale) where T : unmanaged, IFloatingPointIeee754<T>
        => SweepWork<T>.Rent().Run(ps, scaleGrads ? SweepOp.ScaleAndUpdate : SweepOp.Update, scale, opt);

    /// <summary>
    /// Σ x², returned in double. Float: the squares of each run of 16 vectors (256 elements with AVX-512, 4 squares
    /// per float lane) are summed in float with fused multiply-adds, and the runs' sums are widened and summed in
    /// double (this costs no more than a float reduction, where squaring every element in double was ~40 % slower on
    /// the development machine; the relative error stays ~1e-7·√runs). If that gives +∞ (a square or a run
    /// overflowed float, |x| ≳ 1.8e19), the span is summed again with every element widened to double first, so a
    /// finite x gives a finite sum (up to ~1e308). Double: four vector accumulators. Fixed lane and run order, so the
    /// same input gives the same bits on the same machine. NaN in x gives NaN, ±∞ gives +∞.
    /// Reference: <see cref="SquaredSumReference{T}"/>.
    /// </summary>
    public static double SquaredSum<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float) && Vector.IsHardwareAccelerated)
        {
            var xf = MemoryMarshal.Cast<T, float>(x);
            double s = Vector512.IsHardwareAccelerated ? SquaredSumRuns512(xf) : SquaredSumRuns(xf);
            return s == double.PositiveInfinity ? SquaredSumWidened(xf) : s;
        }
        if (typeof(T) == typeof(double) && Vector.IsHardwareAccelerated) return SquaredSumDouble(MemoryMarshal.Cast<T, double>(x));
        return SquaredSumReference(x);
    }

    /// <summary>Plain reference of <see cref="SquaredSum{T}"/>: Σ x² in double, left to right.</summary>
    public static double SquaredSumReference<T>(ReadOnlySpan<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double s = 0;
        for (int i = 0; i < x.Length; i++) { double v = double.CreateTruncating(x[i]); s += v * v; }
        return s;
    }

    /// <summary>Runs of 16 Vector512: squares summed in float (4 per lane), run sums widened into double accumulators.</summary>
    private static double SquaredSumRuns512(ReadOnlySpan<float> x)
    {
        var vs = MemoryMarshal.Cast<float, Vector512<float>>(x);
        Vector512<double> d0 = default, d1 = default;
        int i = 0;
        for (; i + 16 <= vs.Length; i += 16)
        {
            var f0 = vs[i] * vs[i]; var f1 = vs[i + 1] * vs[i + 1]; var f2 = vs[i + 2] * vs[i + 2]; var f3 = vs[i + 3] * vs[i + 3];
            for (int k = i + 4; k < i + 16; k += 4)
            {
                f0 = Vector512.FusedMultiplyAdd(vs[k], vs[k], f0); f1 = Vector512.FusedMultiplyAdd(vs[k + 1], vs[k + 1], f1);
                f2 = Vector512.FusedMultiplyAdd(vs[k + 2], vs[k + 2], f2); f3 = Vector512.FusedMultiplyAdd(vs[k + 3], vs[k + 3], f3);
            }
            var f = (f0 + f1) + (f2 + f3);
            d0 += Vector512.WidenLower(f); d1 += Vector512.WidenUpper(f);
        }
        for (; i < vs.Length; i++)                                                // leftover vectors: widened first
        {
            var l = Vector512.WidenLower(vs[i]); var h = Vector512.WidenUpper(vs[i]);
            d0 = Vector512.FusedMultiplyAdd(l, l, d0); d1 = Vector512.FusedMultiplyAdd(h, h, d1);
        }
        double s = Vector512.Sum(d0 + d1);
        for (int k = vs.Length * Vector512<float>.Count; k < x.Length; k++) { double v = x[k]; s += v * v; }
        return s;
    }

    /// <summary>The same with <see cref="Vector{T}"/> (machines without AVX-512).</summary>
    private static double SquaredSumRuns(ReadOnlySpan<float> x)
    {
        var vs = MemoryMarshal.Cast<float, Vector<float>>(x);
        Vector<double> d0 = default, d1 = default;
        int i = 0;
        for (; i + 16 <= vs.Length; i += 16)
        {
            var f0 = vs[i] * vs[i]; var f1 = vs[i + 1] * vs[i + 1]; var f2 = vs[i + 2] * vs[i + 2]; var f3 = vs[i + 3] * vs[i + 3];
            for (int k = i + 4; k < i + 16; k += 4)
            {
                f0 += vs[k] * vs[k]; f1 += vs[k + 1] * vs[k + 1]; f2 += vs[k + 2] * vs[k + 2]; f3 += vs[k + 3] * vs[k + 3];
            }
            Vector.Widen((f0 + f1) + (f2 + f3), out var l, out var h);
            d0 += l; d1 += h;
        }
        for (; i < vs.Length; i++) { Vector.Widen(vs[i], out var l, out var h); d0 += l * l; d1 += h * h; }
        double s = Vector.Sum(d0 + d1);
        for (int k = vs.Length * Vector<float>.Count; k < x.Length; k++) { double v = x[k]; s += v * v; }
        return s;
    }

    /// <summary>Every element widened to double before squaring (no float overflow); used when the runs overflowed.</summary>
    private static double SquaredSumWidened(ReadOnlySpan<float> x)
    {
        var vs = MemoryMarshal.Cast<float, Vector<float>>(x);
        Vector<double> a0 = default, a1 = default;
        for (int i = 0; i < vs.Length; i++) { Vector.Widen(vs[i], out var l, out var h); a0 += l * l; a1 += h * h; }
        double s = Vector.Sum(a0 + a1);
        for (int k = vs.Length * Vector<float>.Count; k < x.Length; k++) { double v = x[k]; s += v * v; }
        return s;
    }

    private static double SquaredSumDouble(ReadOnlySpan<double> x)
    {
        var vs = MemoryMarshal.Cast<double, Vector<double>>(x);
        Vector<double> a0 = default, a1 = default, a2 = default, a3 = default;
        int i = 0;
        for (; i + 3 < vs.Length; i += 4)
        {
            a0 += vs[i] * vs[i]; a1 += vs[i + 1] * vs[i + 1]; a2 += vs[i + 2] * vs[i + 2]; a3 += vs[i + 3] * vs[i + 3];
        }
        for (; i < vs.Length; i++) a0 += vs[i] * vs[i];
        double s = Vector.Sum((a0 + a1) + (a2 + a3));
        for (int k = vs.Length * Vector<double>.Count; k < x.Length; k++) s += x[k] * x[k];
        return s;
    }

    /// <summary>How many parts a pass over <paramref name="total"/> elements in <paramref name="blocks"/> blocks uses.</summary>
    public static int PartsFor(long total, int blocks)
    {
        int threads = Gemm.Threads;
        if (threads < 2 || total < ParallelMinElements) return 1;
        return Math.Max(1, Math.Min(blocks, threads * PartsPerThread));
    }
}

internal enum SweepOp { Zero, Scale, SumOfSquares, Update, ScaleAndUpdate }

/// <summary>One pass of <see cref="ParameterSweep"/> as pool work: one object per calling thread, reused.</summary>
internal sealed class SweepWork<T> : IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
{
    [ThreadStatic] private static SweepWork<T>? t_current;
    [ThreadStatic] private static T[]? t_scratch;

    private IReadOnlyList<Parameter<T>>? _ps;
    private SweepOp _op;
    private T _scale;
    private Optimizer<T>? _opt;
    private long _total;
    private int _blocks;
    private double[] _blockSums = new double[64];

    public static SweepWork<T> Rent() => t_current ??= new SweepWork<T>();

    /// <summary>The blocks of the current pass (for tests that run parts by hand).</summary>
    internal int Blocks => _blocks;

    /// <summary>Runs the pass (in parallel when large and the pool is free); returns Σ g² for <see cref="SweepOp.SumOfSquares"/>, else 0.</summary>
    public double Run(IReadOnlyList<Parameter<T>> ps, SweepOp op, T scale, Optimizer<T>? opt)
    {
        Prepare(ps, op, scale, opt);
        try
        {
            int parts = ParameterSweep.PartsFor(_total, _blocks);
            if (parts <= 1 || !GemmWorkers.Shared.TryRun(this, parts, helpers: Gemm.Threads - 1))
                RunPart(0, 1);                                                  // small, single-threaded, or pool busy
            return Finish();
        }
        finally { _ps = null; _opt = null; }
    }

    /// <summary>Sets up a pass without running it (tests then call <see cref="RunPart"/> in any order and <see cref="Finish"/>).</summary>
    internal void Prepare(IReadOnlyList<Parameter<T>> ps, SweepOp op, T scale, Optimizer<T>? opt)
    {
        _ps = ps; _op = op; _scale = scale; _opt = opt;
        _total = ParameterSweep.DistinctLength(ps);
        long blocks = (_total + ParameterSweep.BlockElements - 1) / ParameterSweep.BlockElements;
        if (blocks > int.MaxValue) throw new ArgumentException("ParameterSweep: too many parameter elements.");
        _blocks = (int)blocks;
        if (op == SweepOp.SumOfSquares && _blockSums.Length < _blocks) _blockSums = new double[Math.Max(_blocks, 2 * _blockSums.Length)];
    }

    /// <summary>Σ of the block sums in block order (SumOfSquares), else 0.</summary>
    internal double Finish()
    {
        if (_op != SweepOp.SumOfSquares) return 0;
        double s = 0;
        for (int b = 0; b < _blocks; b++) s += _blockSums[b];
        return s;
    }

    public void RunPart(int part, int parts)
    {
        int b0 = (int)((long)_blocks * part / parts), b1 = (int)((long)_blocks * (part + 1) / parts);
        for (int b = b0; b < b1; b++) RunBlock(b);
    }

    /// <summary>Block b = elements [b·B, min((b+1)·B, total)) of the concatenated distinct parameters.</summary>
    private void RunBlock(int b)
    {
        var ps = _ps!;
        long e0 = (long)b * ParameterSweep.BlockElements, e1 = Math.Min(_total, e0 + ParameterSweep.BlockElements);
        double sum = 0;
        long off = 0;
        for (int i = 0; i < ps.Count && off < e1; i++)
        {
            if (ParameterSweep.IsRepeat(ps, i)) continue;
            var p = ps[i];
            int len = p.Value.Length;
            long s = Math.Max(e0, off), e = Math.Min(e1, off + len);
            off += len;
            if (s >= e) continue;
            int o = (int)(s - (off - len)), n = (int)(e - s);
            var g = p.Grad.Span.Slice(o, n);
            switch (_op)
            {
                case SweepOp.Zero: g.Clear(); break;
                case SweepOp.Scale: TP.Multiply<T>(g, _scale, g); break;                 // g ← g·s
                case SweepOp.SumOfSquares: sum += ParameterSweep.SquaredSum<T>(g); break;
                case SweepOp.ScaleAndUpdate:
                    TP.Multiply<T>(g, _scale, g);                                        // g ← g·s (as GradClip), then the update
                    _opt!.UpdateRange(p, o, n, _opt.UsesScratch ? Scratch(n) : default);
                    break;
                case SweepOp.Update: _opt!.UpdateRange(p, o, n, _opt.UsesScratch ? Scratch(n) : default); break;
            }
        }
        if (_op == SweepOp.SumOfSquares) _blockSums[b] = sum;
    }

    private static Span<T> Scratch(int n) => (t_scratch ??= new T[ParameterSweep.BlockElements]).AsSpan(0, n);
}
