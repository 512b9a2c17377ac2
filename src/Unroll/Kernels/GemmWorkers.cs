namespace Unroll.Kernels;

/// <summary>A piece of work split into <c>parts</c> independent parts; part 0 runs on the calling thread.</summary>
internal interface IPartitionedWork
{
    void RunPart(int part, int parts);
}

/// <summary>
/// A small static pool of persistent background threads for GEMM. <see cref="TryRun"/> hands parts 1..n-1 to the
/// workers, runs part 0 on the caller and waits. Nothing is allocated per call (the work object and the events are
/// reused). Only one caller at a time uses the pool; a concurrent caller gets <c>false</c> and should run serially.
/// </summary>
internal sealed class GemmWorkers
{
    public static readonly GemmWorkers Shared = new();

    private readonly object _gate = new();
    private readonly List<Worker> _workers = [];
    private readonly ManualResetEventSlim _done = new(false, spinCount: 200);
    private IPartitionedWork? _work;
    private int _parts, _pending;
    private Exception? _error;

    private sealed class Worker
    {
        public readonly ManualResetEventSlim Start = new(false, spinCount: 200);
        public int Index;
    }

    /// <summary>Runs <paramref name="work"/> in <paramref name="parts"/> parts; false if the pool is busy (nothing ran).</summary>
    public bool TryRun(IPartitionedWork work, int parts)
    {
        if (!Monitor.TryEnter(_gate)) return false;
        try
        {
            while (_workers.Count < parts - 1) StartWorker();
            _work = work;
            _parts = parts;
            _error = null;
            _pending = parts - 1;
            _done.Reset();
            for (int i = 0; i < parts - 1; i++) _workers[i].Start.Set();
            Exception? mine = null;
            try { work.RunPart(0, parts); }
            catch (Exception e) { mine = e; }
            _done.Wait();
            _work = null;
            if (mine is not null) throw mine;
            if (_error is not null) throw new AggregateException("Gemm worker failed.", _error);
            return true;
        }
        finally { Monitor.Exit(_gate); }
    }

    private void StartWorker()
    {
        var w = new Worker { Index = _workers.Count + 1 };
        var t = new Thread(() => Loop(w)) { IsBackground = true, Name = $"unroll-gemm-{w.Index}" };
        _workers.Add(w);
        t.Start();
    }

    private void Loop(Worker w)
    {
        while (true)
        {
            w.Start.Wait();
            w.Start.Reset();
            try { _work!.RunPart(w.Index, _parts); }
            catch (Exception e) { _error = e; }
            if (Interlocked.Decrement(ref _pending) == 0) _done.Set();
        }
    }
}
