using System.Numerics;
using Unroll.Kernels;
using Unroll.Nodes;
using Unroll.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Unroll.Layers;

/// <summary>
/// What every time-unrolled recurrent layer shares: parameters, state handling, shape checks, the one-GEMM input
/// projection before the recurrence, and the one-GEMM weight gradients after the backward recurrence.
/// The cells (<see cref="TimeRNN{T}"/>, <see cref="TimeLSTM{T}"/>, <see cref="TimeGRU{T}"/>) implement only their step loops.
/// </summary>
/// <remarks>
/// Layout: sequences are (N,T,·) batch-major and contiguous, so the rows of one step t are strided: row n of step t
/// starts at <c>(n·T + t)·width</c>. The per-step GEMMs address them in place with a leading dimension of T·width.
/// Workspaces are allocated once per (N,T) and reused: a steady-state Forward/Backward allocates nothing.
/// </remarks>
public abstract class TimeRecurrentBase<T> : IRecurrentLayer<T>, IPartitionedWork where T : unmanaged, IFloatingPointIeee754<T>
{
    private protected readonly int D, H, K;
    private readonly Parameter<T>[] _params;

    // Forward caches / workspaces.
    private protected Tensor<T>? _xs, _hs, _h0, _c0;
    private protected int _n, _t;
    // State carried between calls.
    private Tensor<T>? _state, _cellState;
    private bool _hasState, _pending, _forwardDone, _backwardDone;
    // Backward workspaces.
    private protected Tensor<T>? _stepGradH, _da, _dh0, _dc0;
    private Tensor<T>? _dxs, _corr, _xsAug, _wAug;

    private protected TimeRecurrentBase(string name, CellType cell, Parameter<T> wx, Parameter<T> wh, Parameter<T> b, bool stateful, params Parameter<T>[] extra)
    {
        Name = name;
        Cell = cell;
        int k = GatesOf(cell);
        string kind = KindOf(cell);
        if (wh.Value.Rank != 2 || wh.Value.Dim(1) % k != 0 || wh.Value.Dim(0) * k != wh.Value.Dim(1))
            throw new ArgumentException($"{kind} '{name}': Wh has shape {wh.Value.ShapeString} but must be (H, {k}·H).");
        H = wh.Value.Dim(0);
        K = k * H;
        if (wx.Value.Rank != 2 || wx.Value.Dim(1) != K)
            throw new ArgumentException($"{kind} '{name}': Wx has shape {wx.Value.ShapeString} but must be (D, {K}).");
        D = wx.Value.Dim(0);
        if (!b.Value.HasShape([K]))
            throw new ArgumentException($"{kind} '{name}': b has shape {b.Value.ShapeString} but must be ({K}).");
        if (H == 0 || D == 0) throw new ArgumentException($"{kind} '{name}': sizes must be positive (D={D}, H={H}).");
        Wx = wx; Wh = wh; B = b;
        Stateful = stateful;
        _params = [wx, wh, b, .. extra];
    }

    /// <summary>Number of gate blocks k (1, 4 or 3).</summary>
    public static int GatesOf(CellType cell) => cell switch
    {
        CellType.Rnn or CellType.RnnRelu => 1,
        CellType.Lstm => 4,
        CellType.Gru => 3,
        _ => throw new ArgumentException($"unknown cell type {cell}"),
    };

    private static string KindOf(CellType cell) => cell switch
    {
        CellType.Lstm => "TimeLSTM",
        CellType.Gru => "TimeGRU",
        _ => "TimeRNN",
    };

    /// <summary>Scratch rows (2·H) for the elementwise step kernels, one per batch part or cell part (parts run concurrently).</summary>
    private T[][] _scratch = [];

    /// <summary>Scratch row s (0 or 1) of length H for batch part <paramref name="part"/>.</summary>
    private protected Span<T> Scratch(int part, int s) => _scratch[part].AsSpan(s * H, H);

    /// <summary>
    /// Batch parts the recurrence is split into (0 = automatic, the default). Each part runs the whole step loop
    /// for its rows on its own core, with single-threaded step products against the shared pre-packed W_h, so the
    /// cores never wait for each other inside the loop. 1 = one part: the step products themselves use
    /// <see cref="Gemm.Threads"/> threads and the elementwise work runs on the calling thread.
    /// Automatic: <see cref="AutoBatchParts"/>. Results do not depend on the split (every row's arithmetic is the same).
    /// </summary>
    public int BatchParts
    {
        get => _batchParts;
        set
        {
            if (value < 0) throw new ArgumentException($"{Kind} '{Name}': BatchParts must be ≥ 0 (0 = automatic), got {value}.");
            _batchParts = value;
        }
    }
    private int _batchParts;

    /// <summary>
    /// The automatic split: min(<see cref="Gemm.Threads"/>, N / <see cref="MinRowsPerPart"/>) parts (at least 1) when
    /// W_h (H × kH) is at most <see cref="SplitMaxWhBytes"/>, else 1 part. Each part streams the whole packed W_h
    /// at every step; while W_h stays in a core's L2 that is free, but a large W_h (C2: 650×2600 floats, 6.8 MB)
    /// is better shared by splitting each step product's columns between the threads (each streams half of it, and
    /// every loaded element serves all rows): measured 1.46× (forward) and 1.17× (backward) per CPU-second for
    /// M = 20, H = 650 (docs/benchmarks.md, "How two threads should share a step").
    /// </summary>
    public int AutoBatchParts(int n) =>
        (long)H * K * System.Runtime.CompilerServices.Unsafe.SizeOf<T>() > SplitMaxWhBytes ? 1
        : Math.Max(1, Math.Min(Gemm.Threads, n / MinRowsPerPart));

    /// <summary>Largest W_h (bytes) for which the automatic split divides the batch (1 MiB: half a core's L2 here;
    /// environment variable <c>UNROLL_SPLIT_MAX_WH_BYTES</c> overrides it, for experiments).</summary>
    public static long SplitMaxWhBytes { get; } = EnvInt("UNROLL_SPLIT_MAX_WH_BYTES", 1 << 20);

    /// <summary>Fewest batch rows per part in the automatic split (8; <c>UNROLL_MIN_ROWS_PER_PART</c> overrides it, for experiments).</summary>
    public static int MinRowsPerPart { get; } = EnvInt("UNROLL_MIN_ROWS_PER_PART", 8);

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out int v) && v > 0 ? v : fallback;

    private int PartsFor(int n) => Math.Min(n, _batchParts > 0 ? _batchParts : AutoBatchParts(n));

    // The pass the batch parts run (IPartitionedWork state; set before the pool runs them).
    private bool _passForward, _passSerialGemm;
    private int _passN, _passT;

    /// <inheritdoc/>
    public string Name { get; }
    /// <inheritdoc/>
    public CellType Cell { get; }
    /// <summary>Class name used in messages.</summary>
    protected string Kind => KindOf(Cell);
    /// <inheritdoc/>
    public int InputSize => D;
    /// <inheritdoc/>
    public int HiddenSize => H;
    /// <inheritdoc/>
    public bool Stateful { get; set; }
    /// <summary>
    /// During Backward, per-step gradients (∂L/∂h_t, ∂L/∂c_t, ∂L/∂a_t) with magnitude below this are set to zero
    /// before they feed the next step and the weight GEMMs. Default <see cref="Subnormals.SafeProductThreshold{T}"/>
    /// (√MinNormal: ≈ 1.1e-19 in float, ≈ 1.5e-154 in double), so that neither those values nor their products with
    /// weights of magnitude ≥ the threshold are subnormal — x86 arithmetic on subnormals is many times slower, and a
    /// gradient vanishing through a long sequence otherwise sinks into them. Such contributions are below float
    /// resolution of any gradient sum they join. Zero disables flushing (exact IEEE behaviour).
    /// </summary>
    public T GradFlushThreshold { get; set; } = Subnormals.SafeProductThreshold<T>();

    /// <inheritdoc/>
    public bool ComputesInputGradient { get; set; } = true;

    /// <summary>Sets entries of <paramref name="x"/> below <see cref="GradFlushThreshold"/> in magnitude to zero.</summary>
    private protected void Flush(Span<T> x)
    {
        if (GradFlushThreshold > T.Zero) Subnormals.FlushBelow(x, GradFlushThreshold);
    }
    /// <summary>Run the per-row step kernels' plain reference versions (e.g. <see cref="LstmKernels.ForwardRowReference{T}"/>) instead of the fused SIMD ones — for A/B tests and benchmarks. Default false.</summary>
    public bool UseReferenceKernels { get; set; }
    /// <inheritdoc/>
    public Parameter<T> Wx { get; }
    /// <inheritdoc/>
    public Parameter<T> Wh { get; }
    /// <inheritdoc/>
    public Parameter<T> B { get; }
    /// <summary>Wx, Wh, B (and BhN for GRU).</summary>
    public IEnumerable<Parameter<T>> Parameters => _params;

    private protected bool HasCell => Cell == CellType.Lstm;

    /// <inheritdoc/>
    public Tensor<T>? State => _hasState ? _state : null;
    /// <inheritdoc/>
    public Tensor<T>? CellState => _hasState && HasCell ? _cellState : null;
    /// <inheritdoc/>
    public Tensor<T>? DH0 => _backwardDone ? _dh0 : null;
    /// <inheritdoc/>
    public Tensor<T>? DC0 => _backwardDone && HasCell ? _dc0 : null;
    /// <inheritdoc/>
    public Tensor<T> Hs => _forwardDone ? _hs! : throw NotYet(nameof(Hs), "Forward");
    /// <inheritdoc/>
    public Tensor<T> H0 => _forwardDone ? _h0! : throw NotYet(nameof(H0), "Forward");
    /// <inheritdoc/>
    public Tensor<T> StepGradH => _backwardDone ? _stepGradH! : throw NotYet(nameof(StepGradH), "Backward");
    /// <inheritdoc/>
    public Tensor<T> StepGradA => _backwardDone ? RecurrentGrad! : throw NotYet(nameof(StepGradA), "Backward");

    private protected InvalidOperationException NotYet(string what, string pass) =>
        new($"{Kind} '{Name}': {what} is available only after {pass}.");
    private protected bool ForwardDone => _forwardDone;
    private protected bool BackwardDone => _backwardDone;

    /// <inheritdoc/>
    public void ResetState()
    {
        _hasState = false;
        _pending = false;
    }

    /// <inheritdoc/>
    public void SetState(Tensor<T> h, Tensor<T>? c = null)
    {
        ArgumentNullException.ThrowIfNull(h);
        if (h.Rank != 2 || h.Dim(1) != H || h.Dim(0) == 0)
            throw new ArgumentException($"{Kind} '{Name}': state h has shape {h.ShapeString} but must be (N, {H}).");
        if (c is not null && !HasCell)
            throw new ArgumentException($"{Kind} '{Name}': has no cell state, but c {c.ShapeString} was given.");
        if (c is not null && !c.SameShape(h))
            throw new ArgumentException($"{Kind} '{Name}': cell state c has shape {c.ShapeString} but h has shape {h.ShapeString}.");
        Workspace.Ensure(ref _state, h.Shape).CopyFrom(h);
        if (HasCell)
        {
            var cs = Workspace.Ensure(ref _cellState, h.Shape);
            if (c is null) cs.Clear(); else cs.CopyFrom(c);
        }
        _hasState = true;
        _pending = true;
    }

    /// <inheritdoc/>
    public Tensor<T> Forward(Tensor<T> xs)
    {
        ArgumentNullException.ThrowIfNull(xs);
        if (xs.Rank != 3 || xs.Dim(2) != D)
            throw new ArgumentException($"{Kind} '{Name}': xs has shape {xs.ShapeString} but must be (N, T, {D}).");
        int n = xs.Dim(0), t = xs.Dim(1);
        if (n == 0 || t == 0)
            throw new ArgumentException($"{Kind} '{Name}': xs has shape {xs.ShapeString}; N and T must be positive.");
        _xs = xs; _n = n; _t = t;
        var hs = Workspace.Ensure(ref _hs, n, t, H);
        var h0 = Workspace.Ensure(ref _h0, n, H);
        Tensor<T>? c0 = HasCell ? Workspace.Ensure(ref _c0, n, H) : null;

        if (_pending || (Stateful && _hasState))
        {
            if (_state!.Dim(0) != n)
                throw new ArgumentException($"{Kind} '{Name}': the state h has shape {_state.ShapeString} but xs has shape {xs.ShapeString} (batch {n}); call ResetState() or SetState(...) first.");
            h0.CopyFrom(_state);
            c0?.CopyFrom(_cellState!);
        }
        else
        {
            h0.Clear();
            c0?.Clear();
        }
        _pending = false;
        _backwardDone = false;

        PrepareForward(xs, n, t);
        _whPacked.Pack(false, H, K, Wh.Value.Span, K);                // W_h (H×kH), packed once for all T steps
        RunRows(forward: true, n, t);

        // Keep the last state (h_{T−1}, c_{T−1}) for the next call and for State/CellState.
        var st = Workspace.Ensure(ref _state, n, H);
        for (int i = 0; i < n; i++) Step(hs, i, t - 1, t, H).CopyTo(st.Row(i));
        if (HasCell)
        {
            var cst = Workspace.Ensure(ref _cellState, n, H);
            var cs = CellSequence!;
            for (int i = 0; i < n; i++) Step(cs, i, t - 1, t, H).CopyTo(cst.Row(i));
        }
        _hasState = true;
        _forwardDone = true;
        return hs;
    }

    /// <inheritdoc/>
    public Tensor<T> Backward(Tensor<T> dhs)
    {
        ArgumentNullException.ThrowIfNull(dhs);
        if (!_forwardDone) throw new InvalidOperationException($"{Kind} '{Name}': Backward called before Forward.");
        var hs = _hs!;
        if (!dhs.SameShape(hs))
            throw new ArgumentException($"{Kind} '{Name}': dhs has shape {dhs.ShapeString} but hs has shape {hs.ShapeString}.");
        int n = _n, t = _t;
        var sg = Workspace.Ensure(ref _stepGradH, n, t, H);
        sg.CopyFrom(dhs);          // StepGradH[:,t] starts as the loss's dhs[:,t]; step t+1 adds its part below
        Workspace.Ensure(ref _da, n, t, K);
        Workspace.Ensure(ref _dh0, n, H).Clear();
        if (HasCell) Workspace.Ensure(ref _dc0, n, H).Clear();

        PrepareBackward(n, t);
        _whTPacked.Pack(true, K, H, Wh.Value.Span, K);                // W_hᵀ (kH×H), packed once for all T steps
        RunRows(forward: false, n, t);
        FinishBackward(n, t);

        AccumulateWeightGrads(n, t);
        var dxs = Workspace.Ensure(ref _dxs, n, t, D);
        // inverts A = xs·Wx (all N·T rows at once): dxs = dA·Wxᵀ
        if (ComputesInputGradient) Gemm.Run(false, true, n * t, D, K, T.One, InputGrad.Span, K, Wx.Value.Span, K, T.Zero, dxs.Span, D);
        else dxs.Clear();
        _backwardDone = true;
        return dxs;
    }

    /// <summary>The cell sequence cs (N,T,H) for LSTM (null otherwise).</summary>
    private protected virtual Tensor<T>? CellSequence => null;
    /// <summary>∂L/∂(x·Wx + b) per step (N,T,kH). For RNN/LSTM the pre-activation gradient da.</summary>
    private protected virtual Tensor<T> InputGrad => _da!;
    /// <summary>∂L/∂(h_{t−1}·Wh) per step (N,T,kH). For RNN/LSTM the same tensor as <see cref="InputGrad"/>.</summary>
    private protected virtual Tensor<T>? RecurrentGrad => _da;

    /// <summary>Before the recurrence: ensures the cell's workspaces for (n, t) and projects the inputs of all steps.</summary>
    private protected abstract void PrepareForward(Tensor<T> xs, int n, int t);

    /// <summary>
    /// Runs the recurrence over t steps for batch rows [r0, r1), filling hs (and the cell's caches) from the
    /// projected inputs, h0 (and c0). Rows are independent, so parts of the batch may run concurrently;
    /// <paramref name="part"/> selects the scratch rows.
    /// </summary>
    private protected abstract void ForwardRows(int r0, int r1, int t, int part);

    /// <summary>Before the backward recurrence: ensures the cell's backward workspaces for (n, t).</summary>
    private protected virtual void PrepareBackward(int n, int t) { }

    /// <summary>
    /// The forward recurrence of a cell whose step product accumulates into the projected buffer
    /// <paramref name="pre"/> (N,T,kH) in place (RNN: hs, LSTM: the gates), for batch rows [r0, r1): per step the
    /// input projection if it is done per step, <c>pre_t += h_{t−1}·Wh</c>, then the cell update.
    /// </summary>
    private protected void ForwardRowsInPlace(Tensor<T> pre, int r0, int r1, int t, int part)
    {
        for (int step = 0; step < t; step++)
        {
            var hp = PrevH(r0, step, t, out int ldp);
            ProjectStepRows(r0, r1, step, t, pre);                    // x_t·Wx + b here when not done for all steps
            // a_t = (x_t·Wx + b) + h_{t−1}·Wh (one GEMM for all gates, in place on the strided rows of step t)
            StepForwardGemm(r1 - r0, hp, ldp, T.One, StepRows(pre, r0, step, t, K), t * K);
            CellRows(forward: true, r0, r1, step, t, part);
        }
    }

    /// <summary>
    /// Runs the backward recurrence for batch rows [r0, r1), the same for every cell: StepGradH holds dhs on entry;
    /// per step, from the last, the cell's <see cref="BackwardCells"/> turns the total ∂L/∂h_t into the step's
    /// <see cref="InputGrad"/> and <see cref="RecurrentGrad"/> rows (and the cell's carried gradients, DC0 at step 0),
    /// then <c>∂L/∂h_{t−1} += dR_t·Whᵀ</c> completes StepGradH of step t−1 (DH0 at step 0; DH0 and DC0 are cleared on
    /// entry). Writes only these rows, never shared parameter gradients (parts run concurrently): those go into
    /// <see cref="FinishBackward"/>.
    /// </summary>
    private void BackwardRows(int r0, int r1, int t, int part)
    {
        var dR = RecurrentGrad!;
        for (int step = t - 1; step >= 0; step--)
        {
            CellRows(forward: false, r0, r1, step, t, part);
            // inverts a_t = … + h_{t−1}·Wh: ∂L/∂h_{t−1} += dR_t·Whᵀ (into StepGradH[:,t−1], or DH0 at t = 0)
            var dst = PrevGradH(r0, step, t, out int ldd);
            StepBackwardGemm(r1 - r0, StepRows(dR, r0, step, t, K), t * K, dst, ldd);
        }
    }

    /// <summary>
    /// The elementwise forward update of step <paramref name="step"/> for rows [r0, r1): gate nonlinearities and new
    /// state from the step's pre-activations (one fused kernel call per row). Rows are independent and may run
    /// concurrently with other row ranges; <paramref name="part"/> selects the scratch rows.
    /// </summary>
    private protected abstract void ForwardCells(int r0, int r1, int step, int t, int part);

    /// <summary>
    /// The elementwise backward update of step <paramref name="step"/> for rows [r0, r1): from the total ∂L/∂h_t (and
    /// the cell's carried gradients) to the step's pre-activation gradients. Rows are independent, as in
    /// <see cref="ForwardCells"/>.
    /// </summary>
    private protected abstract void BackwardCells(int r0, int r1, int step, int t, int part);

    /// <summary>
    /// Runs a step's cell update (<see cref="ForwardCells"/> / <see cref="BackwardCells"/>) for rows [r0, r1):
    /// directly, or — in the one-part recurrence, whose step products are already spread over the cores (large W_h:
    /// C2/C3) — split by rows over the worker pool, so that the other core does not idle while one thread updates
    /// every row. Each row is computed exactly as on one thread. UNROLL_CELL_SPLIT=0 turns it off (A/B runs).
    /// </summary>
    private protected void CellRows(bool forward, int r0, int r1, int step, int t, int part)
    {
        int rows = r1 - r0;
        int parts = _passSerialGemm || !CellSplit ? 1
            : Math.Min(Math.Min(Gemm.Threads, _scratch.Length), Math.Min(rows, (int)((long)rows * H / CellSplitMinElements)));
        if (parts > 1)
        {
            var w = _cellWork ??= new CellWork(this);
            w.Set(forward, r0, r1, step, t);
            if (GemmWorkers.Shared.TryRun(w, parts, helpers: parts - 1)) { CellSplitRuns++; return; }
        }
        if (forward) ForwardCells(r0, r1, step, t, part);
        else BackwardCells(r0, r1, step, t, part);
    }

    /// <summary>A step's cell update is split over the cores only when each part gets at least this many elements.</summary>
    internal const int CellSplitMinElements = 4096;
    /// <summary>Whether <see cref="CellRows"/> may split a step's rows over the pool (environment UNROLL_CELL_SPLIT=0: no;
    /// tests switch it to compare both ways).</summary>
    internal static bool CellSplit { get; set; } = Environment.GetEnvironmentVariable("UNROLL_CELL_SPLIT") != "0";
    /// <summary>Steps whose cell update ran split over the pool, on this thread (for tests).</summary>
    [ThreadStatic] internal static long CellSplitRuns;
    private CellWork? _cellWork;

    /// <summary>One step's cell update as pool work: part p takes the p-th range of the rows.</summary>
    private sealed class CellWork(TimeRecurrentBase<T> layer) : IPartitionedWork
    {
        private bool _forward;
        private int _r0, _r1, _step, _t;

        public void Set(bool forward, int r0, int r1, int step, int t) { _forward = forward; _r0 = r0; _r1 = r1; _step = step; _t = t; }

        public void RunPart(int part, int parts)
        {
            int n = _r1 - _r0;
            int a = _r0 + (int)((long)n * part / parts), b = _r0 + (int)((long)n * (part + 1) / parts);
            if (a >= b) return;
            if (_forward) layer.ForwardCells(a, b, _step, _t, part);
            else layer.BackwardCells(a, b, _step, _t, part);
        }
    }

    /// <summary>After all rows' backward recurrence: cell-specific parameter gradients (e.g. GRU's BhN).
    /// Wx, Wh, B gradients are added afterwards by the base.</summary>
    private protected virtual void FinishBackward(int n, int t) { }

    private readonly GemmPackedB<T> _whPacked = new(), _whTPacked = new();

    /// <summary>Splits the batch into parts and runs the forward or backward recurrence of each (concurrently when
    /// the GEMM worker pool is free; otherwise one after the other on this thread).</summary>
    private void RunRows(bool forward, int n, int t)
    {
        int parts = PartsFor(n), scratchSets = Math.Max(parts, Gemm.Threads);   // batch parts, or cell parts (CellRows)
        if (_scratch.Length < scratchSets)                            // H is fixed: only the number of parts can grow
        {
            var sc = new T[scratchSets][];
            for (int i = 0; i < scratchSets; i++) sc[i] = new T[2 * H];
            _scratch = sc;
        }
        _passForward = forward; _passN = n; _passT = t;
        if (parts > 1)
        {
            _passSerialGemm = true;
            if (GemmWorkers.Shared.TryRun(this, parts)) return;
        }
        // One part (or the pool is busy, e.g. another model trains on another thread): the step products may use
        // the GEMM's own threads.
        _passSerialGemm = false;
        for (int p = 0; p < parts; p++) RunPart(p, parts);
    }

    /// <summary>Runs batch part <paramref name="part"/> of the current pass (IPartitionedWork; called by the pool).</summary>
    public void RunPart(int part, int parts)
    {
        int r0 = (int)((long)_passN * part / parts), r1 = (int)((long)_passN * (part + 1) / parts);
        if (r0 >= r1) return;
        if (_passForward) ForwardRows(r0, r1, _passT, part);
        else BackwardRows(r0, r1, _passT, part);
    }

    /// <summary>
    /// The forward step product for rows [r0, r1): C ← beta·C + H_prev·W_h with the pre-packed W_h.
    /// <paramref name="hp"/>/<paramref name="c"/> start at row r0.
    /// </summary>
    private protected void StepForwardGemm(int rows, ReadOnlySpan<T> hp, int ldh, T beta, Span<T> c, int ldc) =>
        Gemm.RunPacked(false, rows, T.One, hp, ldh, _whPacked, beta, c, ldc, parallel: !_passSerialGemm);

    /// <summary>The backward step product for rows [r0, r1): dH_prev += dR·W_hᵀ with the pre-packed W_hᵀ.</summary>
    private protected void StepBackwardGemm(int rows, ReadOnlySpan<T> dr, int ldr, Span<T> dhp, int ldd) =>
        Gemm.RunPacked(false, rows, T.One, dr, ldr, _whTPacked, T.One, dhp, ldd, parallel: !_passSerialGemm);

    /// <summary>Inputs narrower than this get the bias folded into the input GEMMs (see <see cref="ProjectInputs"/>).</summary>
    private const int FoldBiasMaxD = 32;
    private bool FoldBias => D < FoldBiasMaxD;

    /// <summary>
    /// Inputs at most this wide (the adding problem: D = 2) are projected step by step inside the recurrence
    /// (<see cref="ProjectStepRows"/>), just before the step product adds h_{t−1}·Wh to the same rows, instead of for
    /// all steps before it: the all-steps projection writes N·T·kH values (26 MB for ADD-LSTM) that the recurrence
    /// reads back from memory much later, for only D+1 multiply-adds each. Environment UNROLL_STEP_PROJECTION=0 turns
    /// it off (A/B runs).
    /// </summary>
    internal const int StepProjectionMaxD = 8;
    private static readonly bool StepProjectionEnabled = Environment.GetEnvironmentVariable("UNROLL_STEP_PROJECTION") != "0";
    private bool ProjectPerStep => StepProjectionEnabled && D <= StepProjectionMaxD;

    /// <summary>
    /// Before the recurrence of an RNN or LSTM, whose step product accumulates into <paramref name="dest"/> (N,T,kH):
    /// dest = xs·Wx + b for all steps (<see cref="ProjectInputs"/>); or, for narrow inputs, only the [xs | 1] copy the
    /// weight gradients need, the projection then being done per step by <see cref="ProjectStepRows"/>.
    /// </summary>
    private protected void PrepareInputs(Tensor<T> xs, Tensor<T> dest, int n, int t)
    {
        if (!ProjectPerStep) { ProjectInputs(xs, dest, n, t); return; }
        RowOps.AppendOnesColumn<T>(xs.Span, n * t, D, ref _xsAug);
        Workspace.Ensure(ref _wAug, D + 1, K);                        // the [dWx ; db] buffer of AccumulateWeightGrads
    }

    /// <summary>
    /// Rows [r0, r1) of step <paramref name="step"/> of <paramref name="dest"/> (N,T,kH) ← x_t·Wx + b, row by row, when
    /// inputs are projected per step (see <see cref="StepProjectionMaxD"/>); nothing otherwise (already done for all steps).
    /// </summary>
    private protected void ProjectStepRows(int r0, int r1, int step, int t, Tensor<T> dest)
    {
        if (!ProjectPerStep) return;
        var xs = _xs!.Span; var w = Wx.Value.Span; var b = B.Value.Span;
        for (int r = r0; r < r1; r++)
        {
            var row = Step(dest, r, step, t, K);
            var x = xs.Slice((r * t + step) * D, D);
            b.CopyTo(row);                                            // a = b + Σ_d x_d · Wx[d, :]
            for (int d = 0; d < D; d++) TP.MultiplyAdd<T>(w.Slice(d * K, K), x[d], row, row);
        }
    }

    /// <summary>
    /// dest = xs·Wx + b for all N·T rows as ONE GEMM (dest is (N,T,kH)). For narrow inputs (D &lt; 32, e.g. the
    /// adding problem's D = 2) the bias is folded into the product, [xs | 1]·[Wx ; b] with depth D+1, so the
    /// (N·T)×kH result is written once instead of written, then read and rewritten by a bias pass; for wide inputs
    /// <see cref="Gemm.RunBias{T}"/> adds b inside each tile of the product (its kernel's accumulators start from b).
    /// </summary>
    private protected void ProjectInputs(Tensor<T> xs, Tensor<T> dest, int n, int t)
    {
        int rows = n * t;
        if (FoldBias)
            RowOps.AffineFoldedBias<T>(xs.Span, rows, D, Wx.Value.Span, B.Value.Span, K, dest.Span, ref _xsAug, ref _wAug);
        else Gemm.RunBias(false, false, rows, K, D, T.One, xs.Span, D, Wx.Value.Span, K, B.Value.Span, dest.Span, K);   // xs·Wx + b, b added inside the tiles
    }

    /// <summary>The rows r0.. of h_{step−1} (h0 at step 0) as a GEMM operand: (span, leading dimension).</summary>
    private protected Span<T> PrevH(int r0, int step, int t, out int ld)
    {
        if (step == 0) { ld = H; return From(_h0!, r0 * H); }
        ld = t * H;
        return From(_hs!, (r0 * t + step - 1) * H);
    }

    /// <summary>The rows of h_{step−1} for batch row i (h0 at step 0).</summary>
    private protected Span<T> PrevHRow(int i, int step, int t) => step == 0 ? _h0!.Row(i) : Step(_hs!, i, step - 1, t, H);

    /// <summary>The destination for ∂L/∂h_{step−1} from row r0 on: StepGradH rows of step−1, or DH0 at step 0 (out ld).</summary>
    private protected Span<T> PrevGradH(int r0, int step, int t, out int ld)
    {
        if (step == 0) { ld = H; return From(_dh0!, r0 * H); }
        ld = t * H;
        return From(_stepGradH!, (r0 * t + step - 1) * H);
    }

    private protected Span<T> PrevGradHRow(int i, int step, int t) => step == 0 ? _dh0!.Row(i) : Step(_stepGradH!, i, step - 1, t, H);

    /// <summary>Rows r0.. of step <paramref name="step"/> of an (N,T,width) tensor as a GEMM operand (leading dimension T·width).</summary>
    private protected static Span<T> StepRows(Tensor<T> x, int r0, int step, int t, int width) => From(x, (r0 * t + step) * width);

    /// <summary>The elements of tensor <paramref name="x"/> from flat index <paramref name="offset"/> to its end.</summary>
    private protected static Span<T> From(Tensor<T> x, int offset) => x.Buffer.AsSpan(x.Offset + offset, x.Length - offset);

    /// <summary>Row (n, step) of an (N,T,width) tensor.</summary>
    private protected static Span<T> Step(Tensor<T> x, int n, int step, int t, int width) =>
        x.Buffer.AsSpan(x.Offset + (n * t + step) * width, width);

    /// <summary>
    /// After the backward recurrence: each weight gradient as ONE GEMM over all N·T rows.
    /// dWx += xsᵀ·dA; dWh += Hprevᵀ·dR where Hprev row (n,t) is h_{t−1} (h0 at t = 0); db += Σ_rows dA.
    /// </summary>
    private void AccumulateWeightGrads(int n, int t)
    {
        int rows = n * t;
        var dA = InputGrad;
        var dR = RecurrentGrad!;
        var hs = _hs!;
        if (FoldBias)
        {
            // inverts A = [xs | 1]·[Wx ; b]: [dWx ; db] = [xs | 1]ᵀ·dA in one GEMM (the [xs | 1] of the forward pass)
            var wa = _wAug!;
            if (ThinProduct.Applies<T>(D + 1))
                ThinProduct.Run<T>(D + 1, K, rows, _xsAug!.Span, D + 1, dA.Span, K, wa.Span, K);   // one streaming pass over dA
            else Gemm.Run(true, false, D + 1, K, rows, T.One, _xsAug!.Span, D + 1, dA.Span, K, T.Zero, wa.Span, K);
            TP.Add<T>(Wx.Grad.Span, wa.Span[..(D * K)], Wx.Grad.Span);
            TP.Add<T>(B.Grad.Span, wa.Span.Slice(D * K, K), B.Grad.Span);
        }
        else
        {
            // inverts A = xs·Wx: dWx += xsᵀ·dA
            Gemm.Run(true, false, D, K, rows, T.One, _xs!.Span, D, dA.Span, K, T.One, Wx.Grad.Span, K);
        }
        // inverts R = h_{t−1}·Wh: dWh += Σ_(n,t) h_{t−1}ᵀ·dR_t. Flat row r of hs is h_t of (n,t); row r+1 of dR is
        // step t+1 of the same sequence except where t+1 = 0 starts a new one. So: one GEMM pairing hs rows
        // [0, NT−1) with dR rows [1, NT), then one small GEMM over the N rows (n, 0) with (h0[n] − hs[n−1, T−1])
        // that replaces the wrong pairs by the initial state.
        if (rows > 1)
            Gemm.Run(true, false, H, K, rows - 1, T.One, hs.Span, H, From(dR, K), K, T.One, Wh.Grad.Span, K);
        var corr = Workspace.Ensure(ref _corr, n, H);
        var h0 = _h0!;
        h0.Row(0).CopyTo(corr.Row(0));
        for (int i = 1; i < n; i++) TP.Subtract<T>(h0.Row(i), Step(hs, i - 1, t - 1, t, H), corr.Row(i));
        Gemm.Run(true, false, H, K, n, T.One, corr.Span, H, dR.Span, t * K, T.One, Wh.Grad.Span, K);
        if (!FoldBias)
        {
            RowOps.AddColumnSums<T>(dA.Span, B.Grad.Span);                // inverts A + b: db += Σ_rows dA
        }
    }

    public override string ToString() => $"{Kind} '{Name}' (D={D}, H={H}{(Stateful ? ", stateful" : "")})";
}
