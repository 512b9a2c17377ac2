using System.Diagnostics;
using Unroll.Kernels;

namespace Unroll.Tests;

/// <summary>
/// The worker pool runs every part of every job exactly once, whether the worker finds a job while it is still
/// polling (gaps shorter than <see cref="GemmWorkers.SpinTicks"/>) or has to be woken from its event (longer gaps).
/// The pool is shared by the whole process, so these tests run in <see cref="PoolAloneCollection"/>: beside the other
/// tests' products the pool can be busy for every attempt (CI once saw "the pool was never free").
/// </summary>
[Collection(PoolAloneCollection.Name)]
public class GemmWorkersTests
{
    private sealed class Counting : IPartitionedWork
    {
        public int[] Runs = new int[7];
        public int OtherThread;
        private readonly int _caller = Environment.CurrentManagedThreadId;
        public void RunPart(int part, int parts)
        {
            Interlocked.Increment(ref Runs[part]);
            if (Environment.CurrentManagedThreadId != _caller) Interlocked.Exchange(ref OtherThread, 1);
            Thread.SpinWait(2000);          // long enough that the worker, once awake, takes some parts
        }
    }

    [Fact]
    public void EveryPartRunsOnceAfterShortAndLongGaps()
    {
        double spinUs = GemmWorkers.SpinTicks * 1e6 / Stopwatch.Frequency;
        int helped = 0, jobs = 0;
        foreach (double gapUs in new[] { 0.0, 20, spinUs * 0.5, spinUs * 3 + 500 })
            for (int rep = 0; rep < 20; rep++)
            {
                long until = Stopwatch.GetTimestamp() + (long)(gapUs * Stopwatch.Frequency / 1e6);
                while (Stopwatch.GetTimestamp() < until) { }
                var w = new Counting();
                if (!GemmWorkers.Shared.TryRun(w, w.Runs.Length, helpers: 1)) continue;   // pool busy with another test
                jobs++;
                for (int p = 0; p < w.Runs.Length; p++)
                    Assert.True(w.Runs[p] == 1, $"gap {gapUs:F0} µs, rep {rep}: part {p} ran {w.Runs[p]} times");
                helped += w.OtherThread;
            }
        Assert.True(jobs > 0, "the pool was never free");
        if (Environment.ProcessorCount > 1) Assert.True(helped > 0, $"the worker thread took no part in {jobs} jobs");
    }

    [Fact]
    public void ASpinningWorkerDoesNotJoinAJobThatAsksForNoHelpers()
    {
        // helpers: 0 caps the job at the calling thread, even right after a job that used the worker (still polling).
        int ran = 0;
        for (int rep = 0; rep < 50; rep++)
        {
            if (!GemmWorkers.Shared.TryRun(new Counting(), 7, helpers: 1)) continue;
            var w = new Counting();
            if (!GemmWorkers.Shared.TryRun(w, w.Runs.Length, helpers: 0)) continue;
            ran++;
            Assert.All(w.Runs, r => Assert.Equal(1, r));
            Assert.True(w.OtherThread == 0, $"rep {rep}: a worker ran a part of a job that allowed no helpers");
        }
        Assert.True(ran > 0, "the pool was never free");
    }
}
