namespace Unroll.Data;

/// <summary>
/// The textbook's language-model batching (RnnlmTrainer.get_batch): inputs xs = corpus[0..L−1), targets
/// ts = corpus[1..L); N parallel streams start at offsets i·⌊L/N⌋; iteration k of an epoch fills, for every stream
/// i and step t &lt; T, x[i,t] = xs[(offset_i + k·T + t) mod L] and the next token as target. Consecutive iterations
/// continue each stream where the last stopped, so the recurrent state can be carried across them.
/// An epoch is ⌊L / (N·T)⌋ iterations.
/// </summary>
public sealed class BpttBatcher
{
    private readonly int[] _corpus;
    private readonly int _len, _jump;

    /// <param name="corpus">token ids (at least N·T + 1 of them).</param>
    /// <param name="batch">N, the number of parallel streams.</param>
    /// <param name="bptt">T, time steps per iteration.</param>
    /// <param name="what">names the split in errors.</param>
    public BpttBatcher(int[] corpus, int batch, int bptt, string what = "corpus")
    {
        if (batch < 1) throw new ArgumentException($"--batch must be ≥ 1, got {batch}.");
        if (bptt < 1) throw new ArgumentException($"--bptt must be ≥ 1, got {bptt}.");
        _corpus = corpus;
        _len = corpus.Length - 1;
        if ((long)batch * bptt > _len)
            throw new ArgumentException($"The {what} has {corpus.Length} tokens, too short for {batch} streams × {bptt} steps (needs more than {(long)batch * bptt}); use a smaller --batch or --bptt.");
        Batch = batch; Bptt = bptt;
        _jump = _len / batch;
        IterationsPerEpoch = _len / (batch * bptt);
    }

    public int Batch { get; }
    public int Bptt { get; }
    public int IterationsPerEpoch { get; }
    /// <summary>Tokens predicted per iteration (N·T).</summary>
    public int TokensPerIteration => Batch * Bptt;

    /// <summary>Fills inputs and targets (both N·T, row-major (N,T)) for iteration <paramref name="k"/> of an epoch.</summary>
    public void Fill(int k, Span<int> xs, Span<int> ts)
    {
        if (xs.Length != Batch * Bptt || ts.Length != Batch * Bptt)
            throw new ArgumentException($"BpttBatcher.Fill: buffers must hold {Batch}×{Bptt} ids.");
        long start = (long)k * Bptt;
        for (int i = 0; i < Batch; i++)
        {
            long off = (long)i * _jump + start;
            for (int t = 0; t < Bptt; t++)
            {
                int pos = (int)((off + t) % _len);
                xs[i * Bptt + t] = _corpus[pos];
                ts[i * Bptt + t] = _corpus[pos + 1];
            }
        }
    }
}
