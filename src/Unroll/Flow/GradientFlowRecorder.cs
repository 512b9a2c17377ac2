using System.Numerics;
using Unroll.Kernels;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Flow;

/// <summary>
/// Reads a recurrent layer's per-step caches after an ordinary backward pass and measures how the gradient
/// flowed through time (see <see cref="GradientFlowRecord"/> for every quantity). It never runs during training
/// unless called: the layers know nothing of it, so a run that does not record pays nothing. Recording costs one
/// (N·T × kH)·(kH × H) product in float64 plus elementwise passes; the float64 workspaces are allocated once per
/// shape and reused.
/// </summary>
/// <remarks>
/// Inputs are the layer's caches, batch-major: hs, cs, dh = ∂L/∂h_t (total), dc = ∂L/∂c_t (total), gates (N,T,kH)
/// post-activation in the shared gate order (LSTM [i|f|g|o], GRU [r|z|n]), W_h (H × kH). When the upstream
/// gradient given to the layer's Backward (N,T,H) and ∂L/∂h_0 are passed too, the recorder also reads the step
/// gain from the layer's own gradients (<see cref="GradientFlowRecord.MeasuredStepGain"/>), which must agree with
/// its reconstruction.
/// </remarks>
public sealed class GradientFlowRecorder<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private double[] _dh = [], _p = [], _da = [], _w = [], _hprev = [], _hn = [];

    /// <summary>RNN only: compute the singular values of the per-step Jacobians when H is at most this (default 32; 0 = never).</summary>
    public int JacobianMaxH { get; init; } = 32;
    /// <summary>RNN only: how many samples of the batch (the first ones) the per-step Jacobian spectrum averages over (default 4).</summary>
    public int JacobianSamples { get; init; } = 4;

    /// <summary>Saturation threshold on |y| for tanh units (default 0.99).</summary>
    public double SaturationThreshold { get; init; } = 0.99;

    /// <summary>
    /// Records the last backward pass of <paramref name="layer"/> (any <see cref="TimeRNN{T}"/>, <see cref="TimeLSTM{T}"/>
    /// or <see cref="TimeGRU{T}"/>, alone or as one layer of a stack): call after the layer's ordinary Backward.
    /// </summary>
    /// <param name="layer">The layer, after Forward and Backward.</param>
    /// <param name="upstream">The dhs that was passed to Backward (N,T,H); optional — with it the step gains are also
    /// read from the layer's own gradients (<see cref="GradientFlowRecord.MeasuredStepGain"/>).</param>
    public GradientFlowRecord Record(IRecurrentLayer<T> layer, Tensor<T>? upstream = null)
    {
        ArgumentNullException.ThrowIfNull(layer);
        return layer switch
        {
            TimeRNN<T> r => RecordRnn(r.Hs, r.StepGradH, r.Wh.Value, r.Cell == CellType.RnnRelu, upstream, r.DH0),
            TimeLSTM<T> l => RecordLstm(l.Hs, l.Cs, l.Gates, l.StepGradH, l.StepGradC, l.Wh.Value, l.C0, upstream, l.DH0, l.DC0),
            TimeGRU<T> g => RecordGru(g.Hs, g.H0, g.Gates, g.StepGradH, g.Wh.Value, g.BhN.Value, upstream, g.DH0),
            _ => throw new ArgumentException($"GradientFlowRecorder: unsupported layer {layer.GetType().Name} (TimeRNN, TimeLSTM or TimeGRU)."),
        };
    }

    /// <summary>
    /// Records <paramref name="layer"/> and summarises it (σ_max of its W_h from <see cref="WhSpectrum.LargestSingularValue{T}"/>:
    /// MathNet's SVD up to H = 128, the power iteration above) — the call a trainer makes every K iterations.
    /// </summary>
    public GradientFlowSummary Summarize(IRecurrentLayer<T> layer, Tensor<T>? upstream = null, FlowThresholds? thresholds = null) =>
        Record(layer, upstream).Summarize(WhSpectrum.LargestSingularValue(layer.Wh.Value), thresholds);

    /// <summary>Tanh or ReLU RNN: h_t = f(x_t·W_x + h_{t−1}·W_h + b).</summary>
    /// <param name="hs">(N,T,H) outputs h_1..h_T.</param>
    /// <param name="stepGradH">(N,T,H) total ∂L/∂h_t.</param>
    /// <param name="wh">(H,H).</param>
    /// <param name="relu">True for ReLU, false for tanh.</param>
    /// <param name="upstream">(N,T,H) the dhs given to Backward, optional.</param>
    /// <param name="dh0">(N,H) ∂L/∂h_0, optional (used with <paramref name="upstream"/>).</param>
    public GradientFlowRecord RecordRnn(Tensor<T> hs, Tensor<T> stepGradH, Tensor<T> wh, bool relu, Tensor<T>? upstream = null, Tensor<T>? dh0 = null)
    {
        var (n, t, h) = Dims(hs, stepGradH, wh, 1, upstream, dh0);
        int len = n * t * h;
        var dt = Ensure(ref _dh, len);
        var p = Ensure(ref _p, len);
        var w = LoadW(wh);
        var hsS = hs.Span; var dhS = stepGradH.Span;
        var ssDh = new double[t]; var ssDt = new double[t]; var ssP = new double[t];
        var perSample = new double[t]; var sat = new double[t]; var deriv = new double[t];
        for (int b = 0; b < n; b++)
            for (int s = 0; s < t; s++)
            {
                int o = (b * t + s) * h;
                double sd = 0, st = 0; int satCount = 0; double dsum = 0;
                for (int j = 0; j < h; j++)
                {
                    double y = double.CreateTruncating(hsS[o + j]);
                    double g = double.CreateTruncating(dhS[o + j]);
                    double fp = relu ? (y > 0 ? 1 : 0) : 1 - y * y;          // f′(a) from the output
                    double v = g * fp;
                    dt[o + j] = v;
                    sd += g * g; st += v * v; dsum += fp;
                    if (relu ? y <= 0 : Math.Abs(y) > SaturationThreshold) satCount++;
                }
                ssDh[s] += sd; ssDt[s] += st; perSample[s] += Math.Sqrt(sd);
                sat[s] += satCount; deriv[s] += dsum;
            }
        // the MatMul node's backward for every step at once: dh_{t−1} ← dt_t · W_hᵀ
        Gemm.Run<double>(false, true, n * t, h, h, 1.0, dt.AsSpan(0, len), h, w, h, 0.0, p.AsSpan(0, len), h);
        SumSquaresPerStep(p, n, t, h, ssP);

        var act = new double[t]; var mat = new double[t]; var gain = new double[t];
        for (int s = 0; s < t; s++)
        {
            act[s] = Ratio(ssDt[s], ssDh[s]);
            mat[s] = Ratio(ssP[s], ssDt[s]);
            gain[s] = Ratio(ssP[s], ssDh[s]);
        }
        double[]? jac = h <= JacobianMaxH && JacobianSamples > 0 ? JacobianSigmaMax(hs, w, relu, n, t, h) : null;
        return new GradientFlowRecord
        {
            Cell = relu ? "rnn-relu" : "rnn", N = n, T = t, H = h,
            JacobianSigmaMax = jac,
            GradNorm = ssDh.Select(Math.Sqrt).ToArray(),
            GradNormPerSample = perSample.Select(v => v / n).ToArray(),
            DH0Norm = dh0 is null ? double.NaN : double.CreateTruncating(dh0.Norm()),
            StepGain = gain,
            MeasuredStepGain = upstream is null ? null : MeasuredHidden(stepGradH, upstream, dh0, ssDh, n, t, h),
            ActivationFactor = act, MatrixFactor = mat,
            SaturatedFraction = sat.Select(v => v / (n * h)).ToArray(),
            MeanDerivative = deriv.Select(v => v / (n * h)).ToArray(),
        };
    }

    /// <summary>LSTM: c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t).</summary>
    /// <param name="hs">(N,T,H).</param>
    /// <param name="cs">(N,T,H) cell states c_1..c_T.</param>
    /// <param name="gates">(N,T,4H) [i|f|g|o] after their activations.</param>
    /// <param name="stepGradH">(N,T,H) total ∂L/∂h_t.</param>
    /// <param name="stepGradC">(N,T,H) total ∂L/∂c_t (including the path through h_t).</param>
    /// <param name="wh">(H,4H).</param>
    /// <param name="c0">(N,H) initial cell state (null = zeros).</param>
    /// <param name="upstream">(N,T,H) the dhs given to Backward, optional.</param>
    /// <param name="dh0">(N,H) ∂L/∂h_0, optional.</param>
    /// <param name="dc0">(N,H) ∂L/∂c_0, optional.</param>
    /// <remarks>
    /// StepGain is the gain of the whole recurrent state: ‖(dh_{t−1} from step t, f_t ⊙ dc_t)‖ / ‖(dh_t, dc_t from step t+1)‖,
    /// where "dc_t from step t+1" = dc_t − dh_t ⊙ o_t ⊙ (1 − tanh² c_t) is the part that arrived along the cell path.
    /// </remarks>
    public GradientFlowRecord RecordLstm(Tensor<T> hs, Tensor<T> cs, Tensor<T> gates, Tensor<T> stepGradH, Tensor<T> stepGradC, Tensor<T> wh,
                                         Tensor<T>? c0 = null, Tensor<T>? upstream = null, Tensor<T>? dh0 = null, Tensor<T>? dc0 = null)
    {
        var (n, t, h) = Dims(hs, stepGradH, wh, 4, upstream, dh0);
        Same("cs", cs, hs); Same("stepGradC", stepGradC, hs);
        if (!gates.HasShape([n, t, 4 * h])) throw new ArgumentException($"GradientFlowRecorder: gates has shape {gates.ShapeString}, expected ({n}, {t}, {4 * h}).");
        if (c0 is not null && !c0.HasShape([n, h])) throw new ArgumentException($"GradientFlowRecorder: c0 has shape {c0.ShapeString}, expected ({n}, {h}).");
        int len = n * t * h, h4 = 4 * h;
        var da = Ensure(ref _da, n * t * h4);
        var p = Ensure(ref _p, len);
        var w = LoadW(wh);
        var cS = cs.Span; var gS = gates.Span; var dhS = stepGradH.Span; var dcS = stepGradC.Span;
        var ssDh = new double[t]; var ssDc = new double[t]; var ssCell = new double[t]; var ssDcFromNext = new double[t];
        var perSample = new double[t]; var sat = new double[t]; var deriv = new double[t]; var fMean = new double[t];
        for (int b = 0; b < n; b++)
            for (int s = 0; s < t; s++)
            {
                int o = (b * t + s) * h, og = (b * t + s) * h4;
                double sd = 0, sc = 0, scell = 0, snext = 0, dsum = 0, fsum = 0; int satCount = 0;
                for (int j = 0; j < h; j++)
                {
                    double ig = D(gS[og + j]), fg = D(gS[og + h + j]), gg = D(gS[og + 2 * h + j]), og_ = D(gS[og + 3 * h + j]);
                    double c = D(cS[o + j]);
                    double cprev = s > 0 ? D(cS[o - h + j]) : c0 is null ? 0 : D(c0[b, j]);
                    double tc = Math.Tanh(c);
                    double dh = D(dhS[o + j]), dc = D(dcS[o + j]);
                    // the gate pre-activation gradients that step t sends into W_h
                    da[og + j] = dc * gg * ig * (1 - ig);                 // inverts c = f⊙c_prev + i⊙g, i = σ(a_i)
                    da[og + h + j] = dc * cprev * fg * (1 - fg);          // f = σ(a_f)
                    da[og + 2 * h + j] = dc * ig * (1 - gg * gg);         // g = tanh(a_g)
                    da[og + 3 * h + j] = dh * tc * og_ * (1 - og_);       // h = o⊙tanh(c), o = σ(a_o)
                    double fromNext = dc - dh * og_ * (1 - tc * tc);      // part of dc_t that came along the cell path
                    sd += dh * dh; sc += dc * dc; scell += dc * fg * dc * fg; snext += fromNext * fromNext;
                    dsum += 1 - tc * tc; fsum += fg;
                    if (Math.Abs(tc) > SaturationThreshold) satCount++;
                }
                ssDh[s] += sd; ssDc[s] += sc; ssCell[s] += scell; ssDcFromNext[s] += snext;
                perSample[s] += Math.Sqrt(sd); sat[s] += satCount; deriv[s] += dsum; fMean[s] += fsum;
            }
        // dh_{t−1} ← da_t · W_hᵀ (the four gate blocks at once)
        Gemm.Run<double>(false, true, n * t, h, h4, 1.0, da.AsSpan(0, n * t * h4), h4, w, h4, 0.0, p.AsSpan(0, len), h);
        var ssP = new double[t];
        SumSquaresPerStep(p, n, t, h, ssP);
        var cellGain = new double[t]; var hidGain = new double[t]; var gain = new double[t];
        for (int s = 0; s < t; s++)
        {
            cellGain[s] = Ratio(ssCell[s], ssDc[s]);
            hidGain[s] = Ratio(ssP[s], ssDh[s]);
            gain[s] = Ratio(ssP[s] + ssCell[s], ssDh[s] + ssDcFromNext[s]);
        }
        double[]? measured = null;
        if (upstream is not null)
        {
            // the layer's own gradients: dh_{t−1} from step t = ∂L/∂h_{t−1} − upstream_{t−1}; dc_{t−1} from step t = ∂L/∂c_{t−1} − (that via h_{t−1})
            var ssH = ThroughTimeSumSquares(stepGradH, upstream, dh0, n, t, h);
            measured = new double[t];
            for (int s = 0; s < t; s++)
            {
                double ssC = s == 0 ? (dc0 is null ? double.NaN : Sq(dc0.Norm())) : ssDcFromNext[s - 1];
                measured[s] = Ratio(ssH[s] + ssC, ssDh[s] + ssDcFromNext[s]);
            }
        }
        double[]? jacL = h <= JacobianMaxH && JacobianSamples > 0 ? LstmJacobianSigmaMax(cs, gates, c0, w, n, t, h) : null;
        return new GradientFlowRecord
        {
            Cell = "lstm", N = n, T = t, H = h,
            JacobianSigmaMax = jacL,
            GradNorm = ssDh.Select(Math.Sqrt).ToArray(),
            GradNormPerSample = perSample.Select(v => v / n).ToArray(),
            DH0Norm = dh0 is null ? double.NaN : D(dh0.Norm()),
            StepGain = gain, MeasuredStepGain = measured,
            CellGradNorm = ssDc.Select(Math.Sqrt).ToArray(),
            CellPathGain = cellGain, HiddenPathGain = hidGain,
            ForgetGateMean = fMean.Select(v => v / (n * h)).ToArray(),
            SaturatedFraction = sat.Select(v => v / (n * h)).ToArray(),
            MeanDerivative = deriv.Select(v => v / (n * h)).ToArray(),
        };
    }

    /// <summary>GRU (PyTorch form): h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}, n = tanh(x W_xn + b_n + r ⊙ (h_{t−1} W_hn + bh_n)).</summary>
    /// <param name="hs">(N,T,H).</param>
    /// <param name="h0">(N,H) the initial state used.</param>
    /// <param name="gates">(N,T,3H) [r|z|n] after their activations.</param>
    /// <param name="stepGradH">(N,T,H) total ∂L/∂h_t.</param>
    /// <param name="wh">(H,3H).</param>
    /// <param name="bhN">(H) the hidden-side bias of the candidate.</param>
    /// <param name="upstream">(N,T,H) the dhs given to Backward, optional.</param>
    /// <param name="dh0">(N,H) ∂L/∂h_0, optional.</param>
    public GradientFlowRecord RecordGru(Tensor<T> hs, Tensor<T> h0, Tensor<T> gates, Tensor<T> stepGradH, Tensor<T> wh, Tensor<T> bhN,
                                        Tensor<T>? upstream = null, Tensor<T>? dh0 = null)
    {
        var (n, t, h) = Dims(hs, stepGradH, wh, 3, upstream, dh0);
        int len = n * t * h, h3 = 3 * h;
        if (!gates.HasShape([n, t, h3])) throw new ArgumentException($"GradientFlowRecorder: gates has shape {gates.ShapeString}, expected ({n}, {t}, {h3}).");
        if (!h0.HasShape([n, h])) throw new ArgumentException($"GradientFlowRecorder: h0 has shape {h0.ShapeString}, expected ({n}, {h}).");
        if (bhN.Length != h) throw new ArgumentException($"GradientFlowRecorder: bhN has shape {bhN.ShapeString}, expected ({h}).");
        var w = LoadW(wh);
        var hprev = Ensure(ref _hprev, len);
        var hn = Ensure(ref _hn, len);
        var da = Ensure(ref _da, n * t * h3);
        var p = Ensure(ref _p, len);
        var carry = Ensure(ref _dh, len);
        var hsS = hs.Span; var gS = gates.Span; var dhS = stepGradH.Span;
        for (int b = 0; b < n; b++)
            for (int s = 0; s < t; s++)
                for (int j = 0; j < h; j++)
                    hprev[(b * t + s) * h + j] = s > 0 ? D(hsS[(b * t + s - 1) * h + j]) : D(h0[b, j]);
        // recompute h_{t−1}·W_hn + bh_n (the candidate's hidden term that r multiplies; not cached by the layer)
        Gemm.Run<double>(false, false, n * t, h, h, 1.0, hprev.AsSpan(0, len), h, w.AsSpan(2 * h), h3, 0.0, hn.AsSpan(0, len), h);
        var bh = bhN.Span;
        for (int r = 0; r < n * t; r++) for (int j = 0; j < h; j++) hn[r * h + j] += D(bh[j]);

        var ssDh = new double[t]; var ssCarry = new double[t];
        var perSample = new double[t]; var sat = new double[t]; var deriv = new double[t]; var zMean = new double[t];
        for (int b = 0; b < n; b++)
            for (int s = 0; s < t; s++)
            {
                int o = (b * t + s) * h, og = (b * t + s) * h3;
                double sd = 0, scar = 0, dsum = 0, zsum = 0; int satCount = 0;
                for (int j = 0; j < h; j++)
                {
                    double r = D(gS[og + j]), z = D(gS[og + h + j]), nn = D(gS[og + 2 * h + j]);
                    double dh = D(dhS[o + j]);
                    double dan = dh * (1 - z) * (1 - nn * nn);             // inverts h = (1−z)⊙n + …, n = tanh(a_n)
                    double daz = dh * (hprev[o + j] - nn) * z * (1 - z);    // h = … + z⊙(h_prev − n) form, z = σ(a_z)
                    double dar = dan * hn[o + j] * r * (1 - r);             // a_n = … + r⊙(h_prev W_hn + bh_n), r = σ(a_r)
                    da[og + j] = dar; da[og + h + j] = daz; da[og + 2 * h + j] = dan * r;
                    double cj = dh * z;                                      // the carry z ⊙ h_prev
                    carry[o + j] = cj;
                    sd += dh * dh; scar += cj * cj; dsum += 1 - nn * nn; zsum += z;
                    if (Math.Abs(nn) > SaturationThreshold) satCount++;
                }
                ssDh[s] += sd; ssCarry[s] += scar; perSample[s] += Math.Sqrt(sd);
                sat[s] += satCount; deriv[s] += dsum; zMean[s] += zsum;
            }
        // dh_{t−1} through W_h ← [da_r | da_z | da_n ⊙ r] · W_hᵀ
        Gemm.Run<double>(false, true, n * t, h, h3, 1.0, da.AsSpan(0, n * t * h3), h3, w, h3, 0.0, p.AsSpan(0, len), h);
        var ssP = new double[t]; var ssTot = new double[t];
        SumSquaresPerStep(p, n, t, h, ssP);
        for (int i = 0; i < len; i++) carry[i] += p[i];
        SumSquaresPerStep(carry, n, t, h, ssTot);
        var carryGain = new double[t]; var whGain = new double[t]; var gain = new double[t];
        for (int s = 0; s < t; s++)
        {
            carryGain[s] = Ratio(ssCarry[s], ssDh[s]);
            whGain[s] = Ratio(ssP[s], ssDh[s]);
            gain[s] = Ratio(ssTot[s], ssDh[s]);
        }
        double[]? jacG = h <= JacobianMaxH && JacobianSamples > 0 ? GruJacobianSigmaMax(gates, hprev, hn, w, n, t, h) : null;
        return new GradientFlowRecord
        {
            Cell = "gru", N = n, T = t, H = h,
            JacobianSigmaMax = jacG,
            GradNorm = ssDh.Select(Math.Sqrt).ToArray(),
            GradNormPerSample = perSample.Select(v => v / n).ToArray(),
            DH0Norm = dh0 is null ? double.NaN : D(dh0.Norm()),
            StepGain = gain,
            MeasuredStepGain = upstream is null ? null : MeasuredHidden(stepGradH, upstream, dh0, ssDh, n, t, h),
            CarryPathGain = carryGain, WhPathGain = whGain,
            UpdateGateMean = zMean.Select(v => v / (n * h)).ToArray(),
            SaturatedFraction = sat.Select(v => v / (n * h)).ToArray(),
            MeanDerivative = deriv.Select(v => v / (n * h)).ToArray(),
        };
    }

    /// <summary>Mean over the first samples of σ_max(diag(f′(a_t))·W_hᵀ), the per-step Jacobian of dh_{t−1} w.r.t. dh_t (MathNet SVD).</summary>
    private double[] JacobianSigmaMax(Tensor<T> hs, double[] w, bool relu, int n, int t, int h)
    {
        int samples = Math.Min(n, JacobianSamples);
        var r = new double[t];
        var m = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(h, h);
        var hsS = hs.Span;
        for (int s = 0; s < t; s++)
        {
            for (int b = 0; b < samples; b++)
            {
                int o = (b * t + s) * h;
                for (int i = 0; i < h; i++)
                {
                    double y = D(hsS[o + i]);
                    double fp = relu ? (y > 0 ? 1 : 0) : 1 - y * y;
                    for (int j = 0; j < h; j++) m[i, j] = fp * w[j * h + i];     // row i: f′_i · (W_hᵀ)[i, j]
                }
                r[s] += WhSpectrum.SigmaMaxOf(m);
            }
            r[s] /= samples;
        }
        return r;
    }

    /// <summary>
    /// LSTM: mean over the first samples of σ_max of the step's linear map on the state gradient,
    /// (∂L/∂h_t, ∂L/∂c_t holding h_t) ↦ (∂L/∂h_{t−1}, ∂L/∂c_{t−1}) from step t — the transpose of the 2H×2H Jacobian
    /// ∂(h_t, c_t)/∂(h_{t−1}, c_{t−1}) — built by applying the step's backward to the 2H basis vectors.
    /// </summary>
    private double[] LstmJacobianSigmaMax(Tensor<T> cs, Tensor<T> gates, Tensor<T>? c0, double[] w, int n, int t, int h)
    {
        int samples = Math.Min(n, JacobianSamples), h4 = 4 * h, S = 2 * h;
        var r = new double[t];
        var m = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(S, S);
        var da = new double[h4];
        var cS = cs.Span; var gS = gates.Span;
        for (int s = 0; s < t; s++)
        {
            for (int b = 0; b < samples; b++)
            {
                int o = (b * t + s) * h, og = (b * t + s) * h4;
                for (int e = 0; e < S; e++)                    // basis vector e: gh = e (e < H) or gc = e (e ≥ H)
                {
                    Array.Clear(da);
                    for (int j = 0; j < h; j++)
                    {
                        double gh = e == j ? 1 : 0, gc = e == h + j ? 1 : 0;
                        if (gh == 0 && gc == 0) continue;
                        double ig = D(gS[og + j]), fg = D(gS[og + h + j]), gg = D(gS[og + 2 * h + j]), og_ = D(gS[og + 3 * h + j]);
                        double c = D(cS[o + j]), tc = Math.Tanh(c);
                        double cprev = s > 0 ? D(cS[o - h + j]) : c0 is null ? 0 : D(c0[b, j]);
                        double dc = gc + gh * og_ * (1 - tc * tc);
                        da[j] = dc * gg * ig * (1 - ig);
                        da[h + j] = dc * cprev * fg * (1 - fg);
                        da[2 * h + j] = dc * ig * (1 - gg * gg);
                        da[3 * h + j] = gh * tc * og_ * (1 - og_);
                        m[e, h + j] = dc * fg;                    // ∂L/∂c_{t−1} along the cell path
                        for (int q = 0; q < h; q++) if (q != j) m[e, h + q] = 0;
                    }
                    for (int q = 0; q < h; q++)                    // ∂L/∂h_{t−1} = da · W_hᵀ
                    {
                        double acc = 0;
                        for (int col = 0; col < h4; col++) acc += da[col] * w[q * h4 + col];
                        m[e, q] = acc;
                    }
                }
                r[s] += WhSpectrum.SigmaMaxOf(m);
            }
            r[s] /= samples;
        }
        return r;
    }

    /// <summary>
    /// GRU: mean over the first samples of σ_max of the step's map ∂L/∂h_t ↦ ∂L/∂h_{t−1} (the transposed H×H step
    /// Jacobian), built by applying the step's backward (z-carry plus the W_h path) to the H basis vectors.
    /// </summary>
    private double[] GruJacobianSigmaMax(Tensor<T> gates, double[] hprev, double[] hn, double[] w, int n, int t, int h)
    {
        int samples = Math.Min(n, JacobianSamples), h3 = 3 * h;
        var r = new double[t];
        var m = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(h, h);
        var gS = gates.Span;
        for (int s = 0; s < t; s++)
        {
            for (int b = 0; b < samples; b++)
            {
                int o = (b * t + s) * h, og = (b * t + s) * h3;
                for (int e = 0; e < h; e++)
                {
                    double rr = D(gS[og + e]), z = D(gS[og + h + e]), nn = D(gS[og + 2 * h + e]);
                    double dan = (1 - z) * (1 - nn * nn);
                    double daz = (hprev[o + e] - nn) * z * (1 - z);
                    double dar = dan * hn[o + e] * rr * (1 - rr);
                    for (int q = 0; q < h; q++)
                        m[e, q] = (q == e ? z : 0) + dar * w[q * h3 + e] + daz * w[q * h3 + h + e] + dan * rr * w[q * h3 + 2 * h + e];
                }
                r[s] += WhSpectrum.SigmaMaxOf(m);
            }
            r[s] /= samples;
        }
        return r;
    }

    private static double D(T v) => double.CreateTruncating(v);
    private static double Sq(T v) { double d = D(v); return d * d; }
    private static double Ratio(double ssNum, double ssDen) => ssDen == 0 ? double.NaN : Math.Sqrt(ssNum / ssDen);

    private static double[] Ensure(ref double[] buf, int len)
    {
        if (buf.Length < len) buf = new double[len];
        return buf;
    }

    private double[] LoadW(Tensor<T> wh)
    {
        var w = Ensure(ref _w, wh.Length);
        var s = wh.Span;
        for (int i = 0; i < s.Length; i++) w[i] = D(s[i]);
        return w;
    }

    private static void SumSquaresPerStep(double[] x, int n, int t, int h, double[] ss)
    {
        for (int b = 0; b < n; b++)
            for (int s = 0; s < t; s++)
            {
                var row = x.AsSpan((b * t + s) * h, h);
                ss[s] += System.Numerics.Tensors.TensorPrimitives.Dot<double>(row, row);
            }
    }

    /// <summary>Σ‖∂L/∂h_{t−1} − upstream_{t−1}‖² per step t (index t−1); for t = 1 from ∂L/∂h_0 (NaN if not given).</summary>
    private static double[] ThroughTimeSumSquares(Tensor<T> stepGradH, Tensor<T> upstream, Tensor<T>? dh0, int n, int t, int h)
    {
        var ss = new double[t];
        var g = stepGradH.Span; var u = upstream.Span;
        for (int b = 0; b < n; b++)
            for (int s = 1; s < t; s++)
            {
                int o = (b * t + s - 1) * h;
                double acc = 0;
                for (int j = 0; j < h; j++) { double v = D(g[o + j]) - D(u[o + j]); acc += v * v; }
                ss[s] += acc;
            }
        ss[0] = dh0 is null ? double.NaN : Sq(dh0.Norm());
        return ss;
    }

    private static double[] MeasuredHidden(Tensor<T> stepGradH, Tensor<T> upstream, Tensor<T>? dh0, double[] ssDh, int n, int t, int h)
    {
        var ss = ThroughTimeSumSquares(stepGradH, upstream, dh0, n, t, h);
        var r = new double[t];
        for (int s = 0; s < t; s++) r[s] = Ratio(ss[s], ssDh[s]);
        return r;
    }

    private static (int N, int T, int H) Dims(Tensor<T> hs, Tensor<T> stepGradH, Tensor<T> wh, int k, Tensor<T>? upstream, Tensor<T>? dh0)
    {
        if (hs.Rank != 3) throw new ArgumentException($"GradientFlowRecorder: hs must be (N,T,H), got {hs.ShapeString}.");
        int n = hs.Dim(0), t = hs.Dim(1), h = hs.Dim(2);
        Same("stepGradH", stepGradH, hs);
        if (!wh.HasShape([h, k * h])) throw new ArgumentException($"GradientFlowRecorder: W_h has shape {wh.ShapeString}, expected ({h}, {k * h}).");
        if (upstream is not null) Same("upstream", upstream, hs);
        if (dh0 is not null && !dh0.HasShape([n, h])) throw new ArgumentException($"GradientFlowRecorder: dh0 has shape {dh0.ShapeString}, expected ({n}, {h}).");
        if (n == 0 || t == 0 || h == 0) throw new ArgumentException($"GradientFlowRecorder: empty sequence {hs.ShapeString}.");
        return (n, t, h);
    }

    private static void Same(string name, Tensor<T> a, Tensor<T> hs)
    {
        if (!a.SameShape(hs)) throw new ArgumentException($"GradientFlowRecorder: {name} has shape {a.ShapeString} but hs has shape {hs.ShapeString}.");
    }
}
