using System.Numerics;
using Unroll.Init;
using Unroll.Kernels;
using Unroll.Tensors;

namespace Unroll.Layers;

/// <summary>
/// LSTM unrolled over time, gate columns [i | f | g | o] (PyTorch's order):
/// a = x_t·Wx + h_{t−1}·Wh + b (N,4H); i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o);
/// c_t = f ⊙ c_{t−1} + i ⊙ g; h_t = o ⊙ tanh(c_t).
/// xs (N,T,D) → hs (N,T,H); Wx (D×4H), Wh (H×4H), B (4H) (= PyTorch's b_ih + b_hh).
/// </summary>
/// <remarks>
/// Per-step caches reachable without copies: <see cref="Gates"/> (N,T,4H) post-activation [i|f|g|o],
/// <see cref="Cs"/> (N,T,H), <see cref="TanhC"/> (N,T,H), <see cref="C0"/> (N,H), and after Backward
/// <see cref="StepGradC"/> (N,T,H) = total ∂L/∂c_t (from h_t and from c_{t+1} through the forget gate).
/// </remarks>
public sealed class TimeLSTM<T> : TimeRecurrentBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _gates, _cs, _tanhC, _stepGradC;

    /// <summary>A layer with freshly initialised weights (default: textbook Xavier N(0,1)/√fan_in, b = 0;
    /// <see cref="RecurrentInit.ForgetBias"/> sets b_f).</summary>
    /// <param name="inputSize">D.</param>
    /// <param name="hiddenSize">H.</param>
    /// <param name="rng">The injected randomness source (draws Wx, then Wh).</param>
    /// <param name="init">Initialisation options (null = defaults).</param>
    /// <param name="stateful">Carry h and c between Forward calls.</param>
    /// <param name="name">Prefix of parameter names and error messages.</param>
    public TimeLSTM(int inputSize, int hiddenSize, Rng rng, RecurrentInit? init = null, bool stateful = false, string name = "lstm")
        : this(RecurrentInit.CreateWeights<T>(CellType.Lstm, inputSize, hiddenSize, rng, init, name), stateful, name) { }

    /// <summary>A layer on given parameters (shared objects tie weights): Wx (D×4H), Wh (H×4H), b (4H).</summary>
    public TimeLSTM(Parameter<T> wx, Parameter<T> wh, Parameter<T> b, bool stateful = false, string name = "lstm")
        : base(name, CellType.Lstm, wx, wh, b, stateful) { }

    private TimeLSTM((Parameter<T> wx, Parameter<T> wh, Parameter<T> b, Parameter<T>? bhn) p, bool stateful, string name)
        : this(p.wx, p.wh, p.b, stateful, name) { }

    /// <summary>(N,T,4H) post-activation gates [i | f | g | o] of the last Forward (no copy).</summary>
    public Tensor<T> Gates => ForwardDone ? _gates! : throw NotYet(nameof(Gates), "Forward");
    /// <summary>(N,T,H) cell states c_t of the last Forward (no copy).</summary>
    public Tensor<T> Cs => ForwardDone ? _cs! : throw NotYet(nameof(Cs), "Forward");
    /// <summary>(N,T,H) tanh(c_t) of the last Forward (no copy).</summary>
    public Tensor<T> TanhC => ForwardDone ? _tanhC! : throw NotYet(nameof(TanhC), "Forward");
    /// <summary>(N,H) the initial cell state used by the last Forward (no copy).</summary>
    public Tensor<T> C0 => ForwardDone ? _c0! : throw NotYet(nameof(C0), "Forward");
    /// <summary>(N,T,H) total ∂L/∂c_t in the last Backward (no copy).</summary>
    public Tensor<T> StepGradC => BackwardDone ? _stepGradC! : throw NotYet(nameof(StepGradC), "Backward");

    private protected override Tensor<T>? CellSequence => _cs;

    private protected override void PrepareForward(Tensor<T> xs, int n, int t)
    {
        int h4 = 4 * H;
        var gates = Workspace.Ensure(ref _gates, n, t, h4);
        Workspace.Ensure(ref _cs, n, t, H);
        Workspace.Ensure(ref _tanhC, n, t, H);
        PrepareInputs(xs, gates, n, t);                               // gates = xs·Wx + b for all steps (or per step)
    }

    private protected override void ForwardRows(int r0, int r1, int t, int part) =>
        ForwardRowsInPlace(_gates!, r0, r1, t, part);                // a_t = x_t·Wx + b + h_{t−1}·Wh in the gates buffer

    private protected override void ForwardCells(int r0, int r1, int step, int t, int part)
    {
        int h4 = 4 * H;
        var gates = _gates!; var cs = _cs!; var tcs = _tanhC!; var hs = _hs!; var c0 = _c0!;
        bool reference = UseReferenceKernels;
        for (int r = r0; r < r1; r++)
        {
            // i, f, o = σ(a_i, a_f, a_o), g = tanh(a_g) (in place); c_t = f ⊙ c_{t−1} + i ⊙ g; h_t = o ⊙ tanh(c_t)
            var g = Step(gates, r, step, t, h4);
            var cp = step == 0 ? c0.Row(r) : Step(cs, r, step - 1, t, H);
            var c = Step(cs, r, step, t, H); var tc = Step(tcs, r, step, t, H); var h = Step(hs, r, step, t, H);
            if (reference) LstmKernels.ForwardRowReference<T>(g, cp, c, tc, h);
            else LstmKernels.ForwardRow<T>(g, cp, c, tc, h);
        }
    }

    private protected override void PrepareBackward(int n, int t)
    {
        // No gradient from beyond the last step: only step T−1's rows start at zero. Every earlier step's row is
        // assigned (dc_{t−1} = dc_t ⊙ f) by the step after it before it is read, so the rest needs no clearing.
        var sgc = Workspace.Ensure(ref _stepGradC, n, t, H);
        for (int i = 0; i < n; i++) Step(sgc, i, t - 1, t, H).Clear();
    }

    private protected override void BackwardCells(int r0, int r1, int step, int t, int part)
    {
        int h4 = 4 * H;
        var gates = _gates!; var cs = _cs!; var tcs = _tanhC!; var c0 = _c0!;
        var sg = _stepGradH!; var da = _da!; var dc0 = _dc0!; var sgc = _stepGradC!;
        var s1 = Scratch(part, 0);
        bool reference = UseReferenceKernels;
        for (int r = r0; r < r1; r++)
        {
            var g = Step(gates, r, step, t, h4);
            var tc = Step(tcs, r, step, t, H);
            var cp = step == 0 ? c0.Row(r) : Step(cs, r, step - 1, t, H);
            var dh = Step(sg, r, step, t, H);                         // total ∂L/∂h_t
            var dc = Step(sgc, r, step, t, H);                        // holds ∂L/∂c_t from c_{t+1}
            var d = Step(da, r, step, t, h4);
            var dcp = step == 0 ? dc0.Row(r) : Step(sgc, r, step - 1, t, H);
            // inverts h_t = o ⊙ tanh(c_t) and c_t = f ⊙ c_{t−1} + i ⊙ g: dc += dh ⊙ o ⊙ (1 − tanh²c) (now total),
            // da = [dc⊙g⊙i(1−i) | dc⊙c_{t−1}⊙f(1−f) | dc⊙i⊙(1−g²) | dh⊙tanh c⊙o(1−o)], ∂L/∂c_{t−1} = dc ⊙ f; dh, dc, da flushed
            if (reference) LstmKernels.BackwardRowReference<T>(g, tc, cp, dh, dc, d, dcp, GradFlushThreshold, s1);
            else LstmKernels.BackwardRow<T>(g, tc, cp, dh, dc, d, dcp, GradFlushThreshold, s1);
        }
    }
}
