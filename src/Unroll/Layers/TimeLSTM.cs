using System.Numerics;
using Unroll.Init;
using Unroll.Kernels;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

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
        ProjectInputs(xs, gates, n, t);                               // gates = xs·Wx + b for all steps
    }

    private protected override void ForwardRows(int r0, int r1, int t, int part)
    {
        int h4 = 4 * H;
        var gates = _gates!; var cs = _cs!; var tcs = _tanhC!;
        var hs = _hs!; var c0 = _c0!;
        for (int step = 0; step < t; step++)
        {
            var hp = PrevH(r0, step, t, out int ldp);
            // a_t = (x_t·Wx + b) + h_{t−1}·Wh (one GEMM for all four gates, in place on the strided rows)
            StepForwardGemm(r1 - r0, hp, ldp, T.One, StepRows(gates, r0, step, t, h4), t * h4);
            for (int r = r0; r < r1; r++)
            {
                var g = Step(gates, r, step, t, h4);
                var ifg = g[..(2 * H)];
                TP.Sigmoid<T>(ifg, ifg);                              // i, f = σ(a_i), σ(a_f)
                var gg = g.Slice(2 * H, H);
                TP.Tanh<T>(gg, gg);                                   // g = tanh(a_g)
                var o = g.Slice(3 * H, H);
                TP.Sigmoid<T>(o, o);                                  // o = σ(a_o)
                var i = g[..H]; var f = g.Slice(H, H);
                var cp = step == 0 ? c0.Row(r) : Step(cs, r, step - 1, t, H);
                var c = Step(cs, r, step, t, H);
                TP.Multiply<T>(f, cp, c);                             // c = f ⊙ c_{t−1}
                TP.FusedMultiplyAdd<T>(i, gg, c, c);                  //   + i ⊙ g
                var tc = Step(tcs, r, step, t, H);
                TP.Tanh<T>(c, tc);                                    // tanh(c_t)
                TP.Multiply<T>(o, tc, Step(hs, r, step, t, H));       // h_t = o ⊙ tanh(c_t)
            }
        }
    }

    private protected override void PrepareBackward(int n, int t) =>
        Workspace.Ensure(ref _stepGradC, n, t, H).Clear();            // no gradient from beyond the last step

    private protected override void BackwardRows(int r0, int r1, int t, int part)
    {
        int h4 = 4 * H;
        var gates = _gates!; var cs = _cs!; var tcs = _tanhC!; var c0 = _c0!;
        var sg = _stepGradH!; var da = _da!; var dc0 = _dc0!;
        var sgc = _stepGradC!;
        var s1 = Scratch(part, 0);
        for (int step = t - 1; step >= 0; step--)
        {
            for (int r = r0; r < r1; r++)
            {
                var g = Step(gates, r, step, t, h4);
                var i = g[..H]; var f = g.Slice(H, H); var gg = g.Slice(2 * H, H); var o = g.Slice(3 * H, H);
                var tc = Step(tcs, r, step, t, H);
                var cp = step == 0 ? c0.Row(r) : Step(cs, r, step - 1, t, H);
                var dh = Step(sg, r, step, t, H);                     // total ∂L/∂h_t
                var dc = Step(sgc, r, step, t, H);                    // holds ∂L/∂c_t from c_{t+1}
                var d = Step(da, r, step, t, h4);
                Flush(dh);
                // inverts h_t = o ⊙ tanh(c_t): dc += dh ⊙ o ⊙ (1 − tanh²c)   (dc is now the total ∂L/∂c_t)
                TP.Multiply<T>(tc, tc, s1);
                TP.Subtract<T>(T.One, s1, s1);
                TP.Multiply<T>(s1, o, s1);
                TP.FusedMultiplyAdd<T>(s1, dh, dc, dc);
                Flush(dc);
                //                              do = dh ⊙ tanh(c_t) → da_o = do ⊙ o(1 − o)
                TP.Multiply<T>(dh, tc, s1);
                SigmoidBackward(o, s1, d.Slice(3 * H, H));
                // inverts c_t = f ⊙ c_{t−1} + i ⊙ g:
                TP.Multiply<T>(dc, gg, s1);                           // di = dc ⊙ g → da_i = di ⊙ i(1 − i)
                SigmoidBackward(i, s1, d[..H]);
                TP.Multiply<T>(dc, i, s1);                            // dg = dc ⊙ i → da_g = dg ⊙ (1 − g²)
                TanhBackward(gg, s1, d.Slice(2 * H, H));
                TP.Multiply<T>(dc, cp, s1);                           // df = dc ⊙ c_{t−1} → da_f = df ⊙ f(1 − f)
                SigmoidBackward(f, s1, d.Slice(H, H));
                var dcp = step == 0 ? dc0.Row(r) : Step(sgc, r, step - 1, t, H);
                TP.Multiply<T>(dc, f, dcp);                           // ∂L/∂c_{t−1} (from c_t) = dc ⊙ f
                Flush(d);
            }
            // inverts a_t = … + h_{t−1}·Wh: ∂L/∂h_{t−1} += da_t·Whᵀ (into StepGradH[:,t−1], or DH0 at t = 0)
            var dst = PrevGradH(r0, step, t, out int ldd);
            StepBackwardGemm(r1 - r0, StepRows(da, r0, step, t, h4), t * h4, dst, ldd);
        }
    }
}
