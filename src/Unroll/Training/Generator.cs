using System.Numerics;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Training;

/// <summary>
/// Samples text from a language model: feeds the prime ids one at a time (carrying the state), then repeatedly
/// draws the next id from softmax(logits / temperature) restricted to the <c>topK</c> largest logits, using the
/// injected <see cref="Rng"/> — the same seed gives the same text. Evaluation mode (no dropout).
/// </summary>
public static class Generator
{
    public static int[] Sample<T>(ILanguageModel<T> model, ReadOnlySpan<int> prime, int length, double temperature, int topK, Rng rng)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (prime.Length == 0) throw new ArgumentException("generate: the prime must contain at least one token.");
        if (length < 0) throw new ArgumentException($"--length must be ≥ 0, got {length}.");
        if (!(temperature > 0) || double.IsInfinity(temperature)) throw new ArgumentException($"--temperature must be > 0, got {temperature}.");
        if (topK < 0) throw new ArgumentException($"--top-k must be ≥ 0 (0 = all tokens), got {topK}.");
        int v = model.Config.Vocab;
        model.Training = false;
        model.ResetState();
        Tensor<T>? logits = null;
        Span<int> one = stackalloc int[1];
        foreach (int id in prime) { one[0] = id; logits = model.Logits(one, 1, 1); }
        var outIds = new int[length];
        var probs = new double[v];
        var order = new int[v];
        for (int s = 0; s < length; s++)
        {
            var row = logits!.Span;                                              // (1,1,V)
            int next = Pick(row, temperature, topK, rng, probs, order);
            outIds[s] = next;
            one[0] = next;
            logits = model.Logits(one, 1, 1);
        }
        return outIds;
    }

    /// <summary>One draw from softmax(logits/τ) over the top-k logits (k = 0: all), computed in double.</summary>
    public static int Pick<T>(ReadOnlySpan<T> logits, double temperature, int topK, Rng rng, double[] probs, int[] order)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int v = logits.Length;
        for (int i = 0; i < v; i++) { probs[i] = double.CreateTruncating(logits[i]) / temperature; order[i] = i; }
        int k = topK == 0 || topK > v ? v : topK;
        if (k < v)
        {
            // ids of the k largest; ties broken by lower id (stable over the sorted array)
            var idx = Enumerable.Range(0, v).OrderByDescending(i => probs[i]).ThenBy(i => i).Take(k).ToArray();
            idx.CopyTo(order, 0);
        }
        double max = double.NegativeInfinity;
        for (int j = 0; j < k; j++) max = Math.Max(max, probs[order[j]]);
        if (!double.IsFinite(max)) throw new InvalidOperationException("generate: the model produced non-finite logits.");
        double sum = 0;
        var w = new double[k];
        for (int j = 0; j < k; j++) { w[j] = Math.Exp(probs[order[j]] - max); sum += w[j]; }
        double u = rng.NextDouble() * sum, acc = 0;
        for (int j = 0; j < k; j++) { acc += w[j]; if (u < acc) return order[j]; }
        return order[k - 1];
    }
}
