using System.Numerics;
using Unroll.Init;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Layers;

/// <summary>
/// Elman RNN unrolled over time: h_t = f(x_t·Wx + h_{t−1}·Wh + b), f = tanh (<see cref="CellType.Rnn"/>) or ReLU
/// (<see cref="CellType.RnnRelu"/>). xs (N,T,D) → hs (N,T,H); Wx (D×H), Wh (H×H), B (H).
/// </summary>
/// <remarks>
/// Forward: hs ← xs·Wx + b for all steps (one GEMM), then per step hs[:,t] += h_{t−1}·Wh (one GEMM, in place on
/// the strided rows) and f applied in place. Backward per step: da_t = ∂L/∂h_t ⊙ f′ (stored in <see cref="IRecurrentLayer{T}.StepGradA"/>),
/// ∂L/∂h_{t−1} += da_t·Whᵀ — the two factors the gradient-flow instrument measures.
/// </remarks>
public sealed class TimeRNN<T> : TimeRecurrentBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>A layer with freshly initialised weights (default: textbook Xavier N(0,1)/√fan_in, b = 0).</summary>
    /// <param name="inputSize">D.</param>
    /// <param name="hiddenSize">H.</param>
    /// <param name="rng">The injected randomness source (draws Wx, then Wh).</param>
    /// <param name="cell"><see cref="CellType.Rnn"/> (tanh) or <see cref="CellType.RnnRelu"/>.</param>
    /// <param name="init">Initialisation options (null = defaults).</param>
    /// <param name="stateful">Carry state between Forward calls.</param>
    /// <param name="name">Prefix of parameter names and error messages.</param>
    public TimeRNN(int inputSize, int hiddenSize, Rng rng, CellType cell = CellType.Rnn, RecurrentInit? init = null, bool stateful = false, string name = "rnn")
        : this(RecurrentInit.CreateWeights<T>(CheckCell(cell), inputSize, hiddenSize, rng, init, name), cell, stateful, name) { }

    /// <summary>A layer on given parameters (shared objects tie weights): Wx (D×H), Wh (H×H), b (H).</summary>
    public TimeRNN(Parameter<T> wx, Parameter<T> wh, Parameter<T> b, CellType cell = CellType.Rnn, bool stateful = false, string name = "rnn")
        : base(name, CheckCell(cell), wx, wh, b, stateful) { }

    private TimeRNN((Parameter<T> wx, Parameter<T> wh, Parameter<T> b, Parameter<T>? bhn) p, CellType cell, bool stateful, string name)
        : this(p.wx, p.wh, p.b, cell, stateful, name) { }

    private static CellType CheckCell(CellType cell) =>
        cell is CellType.Rnn or CellType.RnnRelu ? cell : throw new ArgumentException($"TimeRNN: cell must be Rnn or RnnRelu, got {cell}.");

    private bool Relu => Cell == CellType.RnnRelu;

    private protected override void PrepareForward(Tensor<T> xs, int n, int t) =>
        PrepareInputs(xs, _hs!, n, t);                                // hs = xs·Wx + b (pre-activations; or per step)

    private protected override void ForwardRows(int r0, int r1, int t, int part) =>
        ForwardRowsInPlace(_hs!, r0, r1, t, part);                   // a_t = x_t·Wx + b + h_{t−1}·Wh in hs

    private protected override void ForwardCells(int r0, int r1, int step, int t, int part)
    {
        var hs = _hs!;
        bool reference = UseReferenceKernels, relu = Relu;
        for (int i = r0; i < r1; i++)
        {
            var row = Step(hs, i, step, t, H);                        // h_t = max(0, a_t) or tanh(a_t), in place
            if (reference) RnnKernels.ForwardRowReference<T>(row, relu);
            else RnnKernels.ForwardRow<T>(row, relu);
        }
    }

    private protected override void BackwardCells(int r0, int r1, int step, int t, int part)
    {
        var hs = _hs!; var sg = _stepGradH!; var da = _da!;
        bool reference = UseReferenceKernels, relu = Relu;
        for (int i = r0; i < r1; i++)
        {
            var h = Step(hs, i, step, t, H);
            var dh = Step(sg, i, step, t, H);                         // total ∂L/∂h_t (complete: step+1 already added)
            var d = Step(da, i, step, t, H);
            // inverts h = max(0, a): da = dh where h > 0; inverts h = tanh(a): da = dh ⊙ (1 − h²); dh, da flushed
            if (reference) RnnKernels.BackwardRowReference<T>(h, dh, d, relu, GradFlushThreshold);
            else RnnKernels.BackwardRow<T>(h, dh, d, relu, GradFlushThreshold);
        }
    }
}
