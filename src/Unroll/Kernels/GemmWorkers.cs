using System.Diagnostics;

namespace Unroll.Kernels;

/// <summary>A piece of work split into <c>parts</c> independent parts that may run in any order on any thread.</summary>
internal interface IPartitionedWork
{
    void RunPart(int part, int parts);
}

/// <summary>
/// A small static pool of persistent background threads for GEMM (also used by other kernels). <c>TryRun</c> publishes a job of
/// <c>parts</c> parts; the caller and up to <c>helpers</c> workers claim parts one at a time until none are left,
/// and the caller returns when every part has finished. A worker that the OS has not scheduled yet simply finds
/// nothing left to claim, so a busy machine slows a product down instead of stalling it on one thread.
/// Nothing is allocated per call. Only one caller at a time uses the pool; a concurrent caller gets <c>false</c>.
/// A thread that is running a part (or is inside <see cref="Gemm.Serial"/>) also gets <c>false</c> without touching
/// the pool: nested parallel work runs serially on that thread (cheap, and no re-entry of the pool by its own caller).
/// </summary>
internal sealed class GemmWorkers
{
    public static readonly GemmWorkers Shared = new();

    // > 0 while this thread runs a part of a job or is inside a Gemm.Serial() scope.
    [ThreadStatic] private static int t_serial;

    /// <summary>True when work started on this thread must stay on it (inside a part, or a serial scope).</summary>
    public static bool SerialHere => t_serial != 0;
    internal static void EnterSerial() => t_serial++;
    internal static void ExitSerial() => t_serial--;

    private readonly object _gate = new();
    private readonly List<ManualResetEventSlim> _start = [];
    private readonly ManualResetEventSlim _done = new(false, spinCount: 200);

    private GemmWorkers()
    {
        // A ManualResetEventSlim creates its internal lock object (24 bytes) the first time a thread blocks on it.
        // Block once here (1 ms timeout, event unset) so that a caller's first blocking wait, possibly in the middle of
        // a steady-state loop that is asserted to allocate nothing, does not allocate.
        _done.Wait(1);
    }
    private IPartitionedWork? _work;
    private volatile int _helpers;   // workers the current job may use (the first _helpers of _start)
    private int _completed, _generation;
    private Exception? _error;
    // generation (32 bits) | parts (16 bits) | next unclaimed part (16 bits): claimed by compare-exchange, so a
    // late worker can never take a part of a job other than the one it read.
    private long _state;

    /// <summary>Runs <paramref name="work"/> in <paramref name="parts"/> parts, with one worker per part beyond the first.</summary>
    public bool TryRun(IPartitionedWork work, int parts) => TryRun(work, parts, parts - 1);

    /// <summary>Runs <paramref name="work"/> in <paramref name="parts"/> parts with up to <paramref name="helpers"/> worker
    /// threads besides the caller; false if the pool is busy (nothing ran).</summary>
    public bool TryRun(IPartitionedWork work, int parts, int helpers)
    {
        if (parts < 1 || parts > ushort.MaxValue) throw new ArgumentOutOfRangeException(nameof(parts));
        if (t_serial != 0 || !Monitor.TryEnter(_gate)) return false;
        try
        {
            while (_start.Count < helpers) StartWorker();
            _work = work;
            _error = null;
            Volatile.Write(ref _completed, 0);
            _done.Reset();
            _generation++;
            _helpers = helpers;                                       // read by spinning workers after _state
            Volatile.Write(ref _state, ((long)(uint)_generation << 32) | ((long)parts << 16));
            for (int i = 0; i < helpers; i++) _start[i].Set();
            RunClaimedParts();
            _done.Wait();
            _work = null;
            if (_error is { } e) throw new AggregateException("Gemm: a part of the product failed.", e);
            return true;
        }
        finally { Monitor.Exit(_gate); }
    }

    /// <summary>Claims and runs parts of the current job until none are left; a worker (<paramref name="worker"/> ≥ 0,
    /// the caller passes −1) only while the job allows that many helpers.</summary>
    private void RunClaimedParts(int worker = -1)
    {
        while (true)
        {
            long s = Volatile.Read(ref _state);
            int parts = (int)((s >> 16) & 0xFFFF), next = (int)(s & 0xFFFF);
            if (next >= parts || worker >= _helpers) return;
            if (Interlocked.CompareExchange(ref _state, s + 1, s) != s) continue;
            // The job cannot complete before this part does, so _work is still this job's.
            t_serial++;
            try { _work!.RunPart(next, parts); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
            finally { t_serial--; }
            if (Interlocked.Increment(ref _completed) == parts) _done.Set();
        }
    }

    private void StartWorker()
    {
        var start = new ManualResetEventSlim(false, spinCount: 200);
        int index = _start.Count;
        _start.Add(start);
        var t = new Thread(() => Loop(start, index)) { IsBackground = true, Name = $"unroll-gemm-{_start.Count}" };
        t.Start();
    }

    /// <summary>
    /// How long an idle worker keeps polling for the next job before it blocks on its event (µs; environment
    /// UNROLL_POOL_SPIN_US, default 1000). A blocked worker costs the next caller an OS wake-up — measured 17–30 µs on
    /// the benchmark VM (`bench … wake`), and the worker then joins the job late — which the recurrent layers paid at
    /// every step when the caller worked alone between two step products. Like OpenMP runtimes' spin-wait, this keeps
    /// a core busy for up to this long after the last job.
    /// </summary>
    internal static readonly long SpinTicks =
        (long.TryParse(Environment.GetEnvironmentVariable("UNROLL_POOL_SPIN_US"), out long us) && us >= 0 ? us : 1000) * Stopwatch.Frequency / 1_000_000;

    private void Loop(ManualResetEventSlim start, int index)
    {
        while (true)
        {
            if (!SpinForWork(index)) start.Wait();
            start.Reset();      // a Set racing with this Reset is harmless: the job is already published in _state
            RunClaimedParts(index);
        }
    }

    /// <summary>
    /// Polls for an unclaimed part of a published job for up to <see cref="SpinTicks"/>; true if one appeared that this
    /// worker (the <paramref name="index"/>-th) may help with — a job asks for only its first <c>helpers</c> workers,
    /// so a lower <see cref="Gemm.Threads"/> still caps the threads of a product.
    /// </summary>
    private bool SpinForWork(int index)
    {
        if (SpinTicks <= 0) return false;
        long until = Stopwatch.GetTimestamp() + SpinTicks;
        do
        {
            long s = Volatile.Read(ref _state);
            if ((int)(s & 0xFFFF) < (int)((s >> 16) & 0xFFFF) && index < _helpers) return true;
            Thread.SpinWait(16);
        }
        while (Stopwatch.GetTimestamp() < until);
        return false;
    }
}
