using System.Numerics;
using Unroll.Tensors;

namespace Unroll.Tasks;

/// <summary>
/// The adding problem as in Le, Jaitly &amp; Hinton (2015), "A Simple Way to Initialize Recurrent Networks of
/// Rectified Linear Units" (arXiv:1504.00941), §4.1, and Arjovsky, Shah &amp; Bengio (2016), "Unitary Evolution
/// Recurrent Neural Networks" (ICML, arXiv:1511.06464), §4.2 (originally Hochreiter &amp; Schmidhuber 1997).
/// </summary>
/// <remarks>
/// Inputs (N, T, 2): channel 0 holds T values drawn from U[0, 1); channel 1 is a marker channel with exactly one 1
/// in the first half, at a position drawn uniformly from [0, ⌊T/2⌋), and exactly one 1 in the second half, at a
/// position drawn uniformly from [⌊T/2⌋, T); zeros elsewhere. Target (N, 1), read after the last step: the sum of
/// the two marked values. Always predicting 1 (the mean of the sum) gives MSE = Var(u₁ + u₂) = 2/12 ≈ 0.167, the
/// baseline every paper quotes. Draw order per sequence: the T values (step 0 first), then the first and second
/// marker positions. Requires T ≥ 2.
/// </remarks>
public sealed class AddingProblem : SequenceTask
{
    /// <param name="length">T ≥ 2, the number of steps.</param>
    public AddingProblem(int length) : base(length)
    {
        if (length < 2) throw TooShort("adding", length, 2, "one marker in each half");
    }

    public override string Name => "adding";
    public override int Steps => Length;
    public override int InputSize => 2;
    public override int OutputSize => 1;
    public override TargetKind Target => TargetKind.RegressionLast;
    /// <summary>MSE of always predicting 1: Var(u₁ + u₂) = 1/6.</summary>
    public override double BaselineLoss => 1.0 / 6.0;
    public override string Source => "Le, Jaitly & Hinton 2015 (arXiv:1504.00941) §4.1; Arjovsky, Shah & Bengio 2016 (arXiv:1511.06464) §4.2";

    protected override void FillOne<T>(Rng rng, TaskBatch<T> batch, int i)
    {
        int len = Length, half = len / 2;
        for (int t = 0; t < len; t++) batch.Inputs[i, t, 0] = T.CreateTruncating(rng.NextDouble());
        int p0 = rng.NextInt(0, half);
        int p1 = rng.NextInt(half, len);
        batch.Inputs[i, p0, 1] = T.One;
        batch.Inputs[i, p1, 1] = T.One;
        batch.Targets![i, 0] = batch.Inputs[i, p0, 0] + batch.Inputs[i, p1, 0];
    }
}
