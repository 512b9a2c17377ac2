using Unroll.Init;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Flow;

/// <summary>
/// The seed experiment through a real recurrent layer (float64): random inputs xs ~ N(0,1) of shape (N,T,D=H)
/// go forward through a <see cref="TimeRNN{T}"/> (tanh or ReLU), <see cref="TimeLSTM{T}"/> or <see cref="TimeGRU{T}"/>
/// whose W_h is given, then the layer's ordinary backward runs with <c>dhs = ones(N,H)</c> at the last step and zeros
/// elsewhere, and <see cref="GradientFlowRecorder{T}"/> reads off ‖∂L/∂h_t‖/N per step and the per-step factors —
/// so the activation's share of the decay is visible next to the W_h-only curve.
/// </summary>
public static class LayerExperiment
{
    /// <summary>The CLI name of a cell: rnn, rnn-relu, lstm, gru.</summary>
    public static string CellName(CellType cell) => cell switch
    {
        CellType.Rnn => "rnn", CellType.RnnRelu => "rnn-relu", CellType.Lstm => "lstm", CellType.Gru => "gru",
        _ => cell.ToString(),
    };

    /// <summary>Gate names of W_h's blocks, in the shared gate order.</summary>
    public static string[] GateNames(CellType cell) => cell switch
    {
        CellType.Lstm => ["i", "f", "g", "o"],
        CellType.Gru => ["r", "z", "n"],
        _ => [""],
    };

    /// <summary>
    /// The initial W_h for an experiment, before scaling: H×kH, filled per gate block with <paramref name="init"/> at
    /// gain 1 (Gaussian: N(0,1) entries, the textbook's randn(H,H); Xavier: N(0,1)/√H; orthogonal; identity).
    /// </summary>
    public static double[,] InitialWh(CellType cell, WeightInit init, int h, Rng rng)
    {
        int k = TimeRecurrentBase<double>.GatesOf(cell);
        var w = new Tensor<double>(h, k * h);
        Initializers.FillBlocks(init, w, k, rng, 1.0);
        return WhSpectrum.ToArray(w);
    }

    /// <summary>Runs the experiment for one (already scaled) W_h.</summary>
    /// <param name="cell">The cell.</param>
    /// <param name="wh">W_h (H × kH).</param>
    /// <param name="n">Batch size.</param>
    /// <param name="t">Sequence length.</param>
    /// <param name="scale">The scale W_h was multiplied by (recorded only).</param>
    /// <param name="label">The setting's label.</param>
    /// <param name="rng">Draws W_x (Xavier, N(0,1)/√H) and then the inputs.</param>
    /// <param name="thresholds">Verdict thresholds.</param>
    public static FlowCurve Run(CellType cell, double[,] wh, int n, int t, double scale, string label, Rng rng, FlowThresholds? thresholds = null)
    {
        if (n <= 0) throw new ArgumentException($"LayerExperiment: N must be positive, got {n}.");
        if (t <= 0) throw new ArgumentException($"LayerExperiment: T must be positive, got {t}.");
        int h = wh.GetLength(0), k = TimeRecurrentBase<double>.GatesOf(cell);
        if (h == 0 || wh.GetLength(1) != k * h)
            throw new ArgumentException($"LayerExperiment: W_h of a {CellName(cell)} cell must be H×{k}H, got {wh.GetLength(0)}×{wh.GetLength(1)}.");
        var layer = RecurrentLayers.Create<double>(cell, h, h, rng, new RecurrentInit { Recurrent = WeightInit.Identity }, name: CellName(cell));
        var whT = layer.Wh.Value;
        for (int i = 0; i < h; i++) for (int j = 0; j < k * h; j++) whT[i, j] = wh[i, j];
        var xs = new Tensor<double>(n, t, h);
        Initializers.Gaussian(xs, rng, 1.0);
        layer.Forward(xs);
        var dhs = new Tensor<double>(n, t, h);
        for (int b = 0; b < n; b++) for (int j = 0; j < h; j++) dhs[b, t - 1, j] = 1.0;    // dh = ones at the last step
        layer.Backward(dhs);
        var rec = new GradientFlowRecorder<double>().Record(layer, dhs);

        // backward step k = 1..T goes from h_{T−k+1} to h_{T−k}; record index t−1 belongs to time t
        var norms = new double[t + 1];
        for (int kk = 0; kk < t; kk++) norms[kk] = rec.GradNorm[t - 1 - kk] / n;
        norms[t] = rec.DH0Norm / n;
        double[]? Backward(double[]? perTime) => perTime is null ? null : Enumerable.Range(1, t).Select(kk => perTime[t - kk]).ToArray();

        var spectrum = WhSpectrum.Of(wh);
        var blocks = k == 1 ? [] : WhSpectrum.OfBlocks(wh, k).Select((s, g) => (GateNames(cell)[g], s)).ToList();
        PmbCondition? cond = k == 1 ? new PmbCondition(spectrum.SigmaMax, PmbCondition.GammaTanh) { SpectralRadius = spectrum.SpectralRadius } : null;
        var extra = new Dictionary<string, double[]>();
        if (cell == CellType.Lstm)
        {
            extra["cell path gain"] = Backward(rec.CellPathGain)!;
            extra["hidden path gain"] = Backward(rec.HiddenPathGain)!;
            extra["mean forget gate"] = Backward(rec.ForgetGateMean)!;
        }
        else if (cell == CellType.Gru)
        {
            extra["z-carry path gain"] = Backward(rec.CarryPathGain)!;
            extra["W_h path gain"] = Backward(rec.WhPathGain)!;
            extra["mean update gate"] = Backward(rec.UpdateGateMean)!;
        }
        double sat = rec.SaturatedFraction.Average();
        var act = Backward(rec.ActivationFactor);
        var mat = Backward(rec.MatrixFactor);
        var others = extra.Where(e => !e.Key.StartsWith("mean", StringComparison.Ordinal))
                          .Select(e => (e.Key, SeedExperiment.GeometricMean(e.Value))).ToList();
        if (cell == CellType.Lstm) others.Add(("forget gate", rec.ForgetGateMean!.Average()));
        if (cell == CellType.Gru) others.Add(("update gate", rec.UpdateGateMean!.Average()));
        var evidence = new FlowEvidence(norms, t)
        {
            ActivationFactor = act is null ? null : SeedExperiment.GeometricMean(act),
            ActivationName = cell == CellType.RnnRelu ? "ReLU factor" : "tanh factor",
            MatrixFactor = mat is null ? null : SeedExperiment.GeometricMean(mat),
            OtherFactors = others,
            Condition = cond,
            Saturation = sat,
        };
        return new FlowCurve(FlowCurve.LayerSection, label, scale, norms, spectrum, cond, FlowVerdict.Judge(evidence, thresholds))
        {
            Wh = wh, ActivationFactors = act, MatrixFactors = mat, Extra = extra, BlockSpectra = blocks, Saturation = sat,
        };
    }
}
