using System.Numerics;
using Unroll.Init;
using Unroll.Kernels;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Layers;

/// <summary>
/// GRU unrolled over time in PyTorch's form, gate columns [r | z | n]:
/// r = σ(x·Wx_r + h·Wh_r + b_r), z = σ(x·Wx_z + h·Wh_z + b_z),
/// n = tanh(x·Wx_n + b_n + r ⊙ (h·Wh_n + bh_n)), h' = (1 − z) ⊙ n + z ⊙ h.
/// xs (N,T,D) → hs (N,T,H); Wx (D×3H), Wh (H×3H), B (3H) (= PyTorch's b_ih), <see cref="BhN"/> (H) (= PyTorch's
/// b_hh[2H:]; PyTorch's b_hh[:2H] adds to B[:2H]).
/// </summary>
/// <remarks>
/// Per-step caches reachable without copies: <see cref="Gates"/> (N,T,3H) post-activation [r|z|n];
/// <see cref="HhN"/> (N,T,H) = h_{t−1}·Wh_n + bh_n, the value the reset gate multiplies. After Backward,
/// <see cref="IRecurrentLayer{T}.StepGradA"/> (N,T,3H) = [da_r | da_z | da_n ⊙ r], the gradient of h_{t−1}·Wh + [0|0|bh_n],
/// so ∂L/∂h_{t−1} = StepGradA[:,t]·Whᵀ + ∂L/∂h_t ⊙ z (the W_h path and the update-gate carry);
/// <see cref="StepGradXa"/> (N,T,3H) = [da_r | da_z | da_n], the gradient of x·Wx + b.
/// </remarks>
public sealed class TimeGRU<T> : TimeRecurrentBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private Tensor<T>? _gates, _hhn, _tmp, _dhh;

    /// <summary>A layer with freshly initialised weights (default: textbook Xavier N(0,1)/√fan_in, biases 0).</summary>
    /// <param name="inputSize">D.</param>
    /// <param name="hiddenSize">H.</param>
    /// <param name="rng">The injected randomness source (draws Wx, then Wh).</param>
    /// <param name="init">Initialisation options (null = defaults).</param>
    /// <param name="stateful">Carry h between Forward calls.</param>
    /// <param name="name">Prefix of parameter names and error messages.</param>
    public TimeGRU(int inputSize, int hiddenSize, Rng rng, RecurrentInit? init = null, bool stateful = false, string name = "gru")
        : this(RecurrentInit.CreateWeights<T>(CellType.Gru, inputSize, hiddenSize, rng, init, name), stateful, name) { }

    /// <summary>A layer on given parameters: Wx (D×3H), Wh (H×3H), b (3H), bhN (H).</summary>
    public TimeGRU(Parameter<T> wx, Parameter<T> wh, Parameter<T> b, Parameter<T> bhN, bool stateful = false, string name = "gru")
        : base(name, CellType.Gru, wx, wh, b, stateful, bhN)
    {
        if (!bhN.Value.HasShape([HiddenSize]))
            throw new ArgumentException($"TimeGRU '{name}': bhN has shape {bhN.Value.ShapeString} but must be ({HiddenSize}).");
        BhN = bhN;
    }

    private TimeGRU((Parameter<T> wx, Parameter<T> wh, Parameter<T> b, Parameter<T>? bhn) p, bool stateful, string name)
        : this(p.wx, p.wh, p.b, p.bhn!, stateful, name) { }

    /// <summary>bh_n (H): the recurrent bias of the candidate, inside the reset gate's product.</summary>
    public Parameter<T> BhN { get; }

    /// <summary>(N,T,3H) post-activation gates [r | z | n] of the last Forward (no copy).</summary>
    public Tensor<T> Gates => ForwardDone ? _gates! : throw NotYet(nameof(Gates), "Forward");
    /// <summary>(N,T,H) h_{t−1}·Wh_n + bh_n of the last Forward — the pre-reset recurrent value of the candidate (no copy).</summary>
    public Tensor<T> HhN => ForwardDone ? _hhn! : throw NotYet(nameof(HhN), "Forward");
    /// <summary>(N,T,3H) [da_r | da_z | da_n] = ∂L/∂(x·Wx + b) per step in the last Backward (no copy).</summary>
    public Tensor<T> StepGradXa => BackwardDone ? _da! : throw NotYet(nameof(StepGradXa), "Backward");

    private protected override Tensor<T>? RecurrentGrad => _dhh;

    private protected override void PrepareForward(Tensor<T> xs, int n, int t)
    {
        var gates = Workspace.Ensure(ref _gates, n, t, 3 * H);
        Workspace.Ensure(ref _hhn, n, t, H);
        Workspace.Ensure(ref _tmp, n, 3 * H);
        ProjectInputs(xs, gates, n, t);                               // gates = xs·Wx + b for all steps
    }

    private protected override void ForwardRows(int r0, int r1, int t, int part)
    {
        int h3 = 3 * H;
        var tmp = _tmp!;
        for (int step = 0; step < t; step++)
        {
            var hp = PrevH(r0, step, t, out int ldp);
            // h_{t−1}·Wh for all three gates: one GEMM
            StepForwardGemm(r1 - r0, hp, ldp, T.Zero, From(tmp, r0 * h3), h3);
            CellRows(forward: true, r0, r1, step, t, part);
        }
    }

    private protected override void ForwardCells(int r0, int r1, int step, int t, int part)
    {
        int h3 = 3 * H;
        var gates = _gates!; var hhn = _hhn!; var tmp = _tmp!; var hs = _hs!;
        var bhn = BhN.Value.Span;
        var s1 = Scratch(part, 0);
        bool reference = UseReferenceKernels;
        for (int r = r0; r < r1; r++)
        {
            // r, z = σ(x·Wx + b + h·Wh); hn = h·Wh_n + bh_n; n = tanh(x·Wx_n + b_n + r ⊙ hn); h = n + z ⊙ (h_{t−1} − n)
            var g = Step(gates, r, step, t, h3);
            var hn = Step(hhn, r, step, t, H); var h = Step(hs, r, step, t, H);
            if (reference) GruKernels.ForwardRowReference<T>(g, tmp.Row(r), bhn, PrevHRow(r, step, t), hn, h, s1);
            else GruKernels.ForwardRow<T>(g, tmp.Row(r), bhn, PrevHRow(r, step, t), hn, h, s1);
        }
    }

    private protected override void PrepareBackward(int n, int t) => Workspace.Ensure(ref _dhh, n, t, 3 * H);

    private protected override void FinishBackward(int n, int t)
    {
        // inverts hn = … + bh_n: dbh_n += Σ_(n,t) ∂L/∂hn (the last H columns of StepGradA)
        int h3 = 3 * H;
        var dhh = _dhh!; var dbhn = BhN.Grad.Span;
        for (int r = 0; r < n * t; r++) TP.Add<T>(dbhn, dhh.Buffer.AsSpan(dhh.Offset + r * h3 + 2 * H, H), dbhn);
    }

    private protected override void BackwardCells(int r0, int r1, int step, int t, int part)
    {
        int h3 = 3 * H;
        var gates = _gates!; var hhn = _hhn!;
        var sg = _stepGradH!; var dxa = _da!; var dhh = _dhh!;
        var s1 = Scratch(part, 0); var s2 = Scratch(part, 1);
        bool reference = UseReferenceKernels;
        for (int r = r0; r < r1; r++)
        {
            var g = Step(gates, r, step, t, h3);
            var hn = Step(hhn, r, step, t, H);
            var hpr = PrevHRow(r, step, t);
            var dh = Step(sg, r, step, t, H);                         // total ∂L/∂h_t
            var dx = Step(dxa, r, step, t, h3);
            var dr = Step(dhh, r, step, t, h3);
            var dhp = PrevGradHRow(r, step, t);
            // inverts h = (1 − z) ⊙ n + z ⊙ h_{t−1} and n = tanh(a_n + r ⊙ hn): dx = [da_r | da_z | da_n],
            // dr = [da_r | da_z | da_n ⊙ r], ∂L/∂h_{t−1} += dh ⊙ z (update-gate carry); dh, dx, dr flushed
            if (reference) GruKernels.BackwardRowReference<T>(g, hn, hpr, dh, dx, dr, dhp, GradFlushThreshold, s1, s2);
            else GruKernels.BackwardRow<T>(g, hn, hpr, dh, dx, dr, dhp, GradFlushThreshold, s1, s2);
        }
    }
}
