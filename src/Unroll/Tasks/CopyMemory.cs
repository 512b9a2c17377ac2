using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Tasks;

/// <summary>
/// The copy-memory problem as defined by Arjovsky, Shah &amp; Bengio (2016), "Unitary Evolution Recurrent Neural
/// Networks" (ICML, arXiv:1511.06464), §4.1 (after Hochreiter &amp; Schmidhuber 1997).
/// </summary>
/// <remarks>
/// Alphabet of 10 categories, fed one-hot (C = 10): 0 = blank, 1..8 = symbols, 9 = delimiter. An input sequence has
/// T + 20 steps: 10 symbols drawn uniformly from {1..8}, then T − 1 blanks, then the delimiter, then 10 blanks.
/// The target has a class at every step: T + 10 blanks, then the 10 symbols in their input order. Every step is
/// scored (the loss is the mean cross-entropy over all T + 20 steps); "recalled symbols" are the last 10 steps.
/// A memoryless strategy (blank for T + 10 steps, then a uniform guess over the 8 symbols) has cross-entropy
/// 10·ln 8 / (T + 20), the paper's baseline. Requires T ≥ 1.
/// </remarks>
public sealed class CopyMemory : SequenceTask
{
    /// <summary>Number of symbols to remember.</summary>
    public const int SymbolCount = 10;
    /// <summary>Class/channel of the blank.</summary>
    public const int Blank = 0;
    /// <summary>Class/channel of the delimiter ("start recalling").</summary>
    public const int Delimiter = 9;
    /// <summary>Symbols are drawn from {1..<see cref="AlphabetSize"/>}.</summary>
    public const int AlphabetSize = 8;

    /// <param name="length">T ≥ 1: the delimiter comes T steps after the last symbol.</param>
    public CopyMemory(int length) : base(length)
    {
        if (length < 1) throw TooShort("copy", length, 1, "the sequence holds T − 1 blanks between the symbols and the delimiter");
    }

    public override string Name => "copy";
    public override int Steps => Length + 2 * SymbolCount;
    public override int InputSize => 10;
    public override int OutputSize => 10;
    public override TargetKind Target => TargetKind.ClassesEveryStep;
    public override int RecallFrom => Steps - SymbolCount;
    /// <summary>Memoryless cross-entropy 10·ln 8 / (T + 20).</summary>
    public override double BaselineLoss => SymbolCount * Math.Log(AlphabetSize) / Steps;
    public override string Source => "Arjovsky, Shah & Bengio 2016 (arXiv:1511.06464) §4.1";

    protected override void FillOne<T>(Rng rng, TaskBatch<T> batch, int i)
    {
        int steps = Steps, recall = RecallFrom;
        var labels = batch.Labels.AsSpan(i * steps, steps);
        labels.Fill(Blank);
        for (int t = SymbolCount; t < steps; t++) OneHot(batch, i, t, Blank);
        for (int k = 0; k < SymbolCount; k++)
        {
            int s = rng.NextInt(1, AlphabetSize + 1);
            OneHot(batch, i, k, s);
            labels[recall + k] = s;
        }
        // the delimiter replaces the blank at step T + 9 (after the 10 symbols and T − 1 blanks)
        batch.Inputs[i, Length + SymbolCount - 1, Blank] = T.Zero;
        OneHot(batch, i, Length + SymbolCount - 1, Delimiter);
    }
}
