using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Tasks;

/// <summary>
/// The temporal-order problem of Hochreiter &amp; Schmidhuber (1997), "Long Short-Term Memory" (Neural Computation
/// 9(8)), experiment 6a, as coded by Pascanu, Mikolov &amp; Bengio (2013), "On the difficulty of training recurrent
/// neural networks" (ICML, arXiv:1211.5063) in their released generator <c>tempOrder.py</c>
/// (github.com/pascanur/trainingRNNs).
/// </summary>
/// <remarks>
/// Six one-hot symbols (C = 6): 0 = A, 1 = B, 2..5 = distractors. With l = T and w = ⌊0.1·l⌋ (computed as the code
/// does, <c>int(l*.1)</c> in double precision), per sequence, in this draw order: p0 uniform in [w, 2w), v0 ∈ {A, B},
/// p1 uniform in [⌊0.5·l⌋, ⌊0.5·l⌋ + w), v1 ∈ {A, B}, then a distractor uniform in 2..5 at every step; the steps p0
/// and p1 are then overwritten with v0 and v1. So A or B sits once in [10 %, 20 %) and once in [50 %, 60 %) of the
/// length. The class at the last step is v0 + 2·v1: AA = 0, BA = 1, AB = 2, BB = 3 (the first symbol is the low
/// bit); the other steps are not scored. A uniform guess has cross-entropy ln 4. Requires T ≥ 10 (so w ≥ 1).
/// </remarks>
public sealed class TemporalOrder : SequenceTask
{
    /// <summary>Number of classes (AA, BA, AB, BB).</summary>
    public const int Classes = 4;

    /// <param name="length">T ≥ 10.</param>
    public TemporalOrder(int length) : base(length)
    {
        if (length < 10) throw TooShort("temporal-order", length, 10, "the symbols sit in [10 %, 20 %) and [50 %, 60 %) of the length, which must hold at least one step");
    }

    public override string Name => "temporal-order";
    public override int Steps => Length;
    public override int InputSize => 6;
    public override int OutputSize => Classes;
    public override TargetKind Target => TargetKind.ClassesLast;
    /// <summary>Cross-entropy of a uniform guess, ln 4.</summary>
    public override double BaselineLoss => Math.Log(Classes);
    public override string Source => "Hochreiter & Schmidhuber 1997 (exp. 6a), as coded by Pascanu, Mikolov & Bengio 2013 (tempOrder.py)";

    /// <summary>Width w = ⌊0.1·T⌋ of each window, as <c>int(l*.1)</c>.</summary>
    public int Window => (int)(Length * .1);
    /// <summary>Start of the first window, ⌊0.1·T⌋.</summary>
    public int FirstStart => (int)(Length * .1);
    /// <summary>Start of the second window, ⌊0.5·T⌋.</summary>
    public int SecondStart => (int)(Length * .5);

    protected override void FillOne<T>(Rng rng, TaskBatch<T> batch, int i)
    {
        int len = Length, w = Window;
        int p0 = rng.NextInt(w) + FirstStart;
        int v0 = rng.NextInt(2);
        int p1 = rng.NextInt(w) + SecondStart;
        int v1 = rng.NextInt(2);
        for (int t = 0; t < len; t++)
        {
            int s = t == p0 ? v0 : t == p1 ? v1 : -1;
            int d = rng.NextInt(4) + 2;               // drawn at every step, as the code does, then overwritten
            OneHot(batch, i, t, s >= 0 ? s : d);
        }
        var labels = batch.Labels.AsSpan(i * len, len);
        labels.Fill(IgnoreIndex);
        labels[len - 1] = v0 + 2 * v1;
    }
}
