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
/// </summary>
internal sealed class GemmWorkers
{
    public static readonly GemmWorkers Shared = new();

    private readonly object _gate = new();
    private readonly List<ManualResetEventSlim> _start = [];
    private readonly ManualResetEventSlim _done = new(false, spinCount: 200);
    private IPartitionedWork? _work;
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
        // A part that itself asks for the pool (e.g. a GEMM inside a batch part of the recurrence) must run
        // serially: Monitor is re-entrant, so without this check the caller thread would re-publish a job while
        // its own job is still running.
        if (t_inPart) return false;
        if (!Monitor.TryEnter(_gate)) return false;
        try
        {
            while (_start.Count < helpers) StartWorker();
            _work = work;
            _error = null;
            Volatile.Write(ref _completed, 0);
            _done.Reset();
            _generation++;
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

    [ThreadStatic] private static bool t_inPart;

    /// <summary>True on a thread that is running a part of a pool job (nested parallel work then runs serially).</summary>
    public static bool InPart => t_inPart;

    /// <summary>Claims and runs parts of the current job until none are left.</summary>
    private void RunClaimedParts()
    {
        t_inPart = true;
        try { RunClaimedPartsCore(); }
        finally { t_inPart = false; }
    }

    private void RunClaimedPartsCore()
    {
        while (true)
        {
            long s = Volatile.Read(ref _state);
            int parts = (int)((s >> 16) & 0xFFFF), next = (int)(s & 0xFFFF);
            if (next >= parts) return;
            if (Interlocked.CompareExchange(ref _state, s + 1, s) != s) continue;
            // The job cannot complete before this part does, so _work is still this job's.
            try { _work!.RunPart(next, parts); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
            if (Interlocked.Increment(ref _completed) == parts) _done.Set();
        }
    }

    private void StartWorker()
    {
        var start = new ManualResetEventSlim(false, spinCount: 200);
        _start.Add(start);
        var t = new Thread(() => Loop(start)) { IsBackground = true, Name = $"unroll-gemm-{_start.Count}" };
        t.Start();
    }

    private void Loop(ManualResetEventSlim start)
    {
        while (true)
        {
            start.Wait();
            start.Reset();      // a Set racing with this Reset is harmless: the job is already published in _state
            RunClaimedParts();
        }
    }
}
