using System.Globalization;
using System.Text;
using Unroll.IO;

namespace Unroll.Flow;

/// <summary>
/// Turns measured <see cref="FlowCurve"/>s into the outputs every gradient-flow consumer shares (the
/// <c>gradient-flow</c> command, the demo report, the trainer): a console table, a long-format CSV, a JSON
/// document, and two plots (PNG + SVG): log-scale ‖dh‖/N per backward step with one curve per setting, and the
/// per-step factors.
/// </summary>
public static class GradientFlowReport
{
    /// <summary>File names written by <see cref="AddOutputs"/>.</summary>
    public const string CsvName = "gradient-flow.csv", JsonName = "gradient-flow.json", NormsPlot = "norms", FactorsPlot = "factors";

    /// <summary>Queues CSV, JSON and both plots (PNG and SVG) for <paramref name="curves"/> into <paramref name="output"/>.</summary>
    /// <param name="output">Where the files are queued.</param>
    /// <param name="curves">The measured settings.</param>
    /// <param name="config">Anything serialisable that describes the run (written as "config" in the JSON).</param>
    public static void AddOutputs(OutputSet output, IReadOnlyList<FlowCurve> curves, object config)
    {
        output.AddText(CsvName, Csv(curves));
        output.AddText(JsonName, Json(curves, config));
        Plots.AddPngAndSvg(output, NormsPlot, NormsPlotOf(curves));
        Plots.AddPngAndSvg(output, FactorsPlot, FactorsPlotOf(curves));
    }

    /// <summary>
    /// Long format, one row per setting and backward step k: section, label, scale, k, steps_back_to (T−k),
    /// norm_per_sample, and the factors of step k (empty at k = 0 or where they do not apply).
    /// </summary>
    public static string Csv(IReadOnlyList<FlowCurve> curves)
    {
        var extras = curves.SelectMany(c => c.Extra.Keys).Distinct().ToList();
        var header = new List<string> { "section", "label", "scale", "k", "t", "norm_per_sample", "activation_factor", "matrix_factor" };
        header.AddRange(extras.Select(e => e.Replace(' ', '_')));
        var csv = new CsvBuilder([.. header]);
        foreach (var c in curves)
        {
            int T = c.Norms.Length - 1;
            for (int k = 0; k <= T; k++)
            {
                var row = new List<object?> { c.Section, c.Label, c.Scale, k, T - k, c.Norms[k],
                    k > 0 ? c.ActivationFactors?[k - 1] : null, k > 0 ? c.MatrixFactors?[k - 1] : null };
                foreach (var e in extras) row.Add(k > 0 && c.Extra.TryGetValue(e, out var v) ? v[k - 1] : null);
                csv.Row([.. row]);
            }
        }
        return csv.ToString();
    }

    /// <summary>The JSON document: config plus, per setting, spectrum, regime, verdict and all series.</summary>
    public static string Json(IReadOnlyList<FlowCurve> curves, object config) => JsonOutput.Serialize(new
    {
        config,
        settings = curves.Select(ToJson).ToArray(),
    });

    /// <summary>A JSON-friendly view of one curve.</summary>
    public static object ToJson(FlowCurve c) => new
    {
        section = c.Section,
        label = c.Label,
        scale = c.Scale,
        spectrum = new
        {
            sigmaMax = c.Spectrum.SigmaMax,
            sigmaMin = c.Spectrum.SigmaMin,
            spectralRadius = c.Spectrum.SpectralRadius,
            singularValues = c.Spectrum.SingularValues,
            blocks = c.BlockSpectra.Select(b => new { gate = b.Gate, sigmaMax = b.Spectrum.SigmaMax, spectralRadius = b.Spectrum.SpectralRadius }).ToArray(),
        },
        regime = c.Condition is { } cond ? new { gamma = cond.Gamma, bound = cond.Bound, regime = cond.Regime, text = cond.Describe() } : null,
        verdict = new { kind = c.Verdict.Kind, totalGain = c.Verdict.TotalGain, stepGain = c.Verdict.StepGain, evidence = c.Verdict.Evidence },
        saturation = c.Saturation,
        normsPerSample = c.Norms,
        activationFactors = c.ActivationFactors,
        matrixFactors = c.MatrixFactors,
        extra = c.Extra,
        wh = c.Wh is null ? null : Rows(c.Wh),
    };

    /// <summary>Log-scale ‖dh‖/N against backward steps k, one curve per setting (layer runs drawn with open markers).</summary>
    public static ScottPlot.Plot NormsPlotOf(IReadOnlyList<FlowCurve> curves) =>
        Plots.LogY("Gradient norm through time", "backward steps k (gradient reaching h[T−k])", "‖dh‖ / N (log scale)",
            curves.Select(c => new PlotSeries(c.Label, Steps(c.Norms.Length, 0), c.Norms) { Secondary = c.Section == FlowCurve.LayerSection }));

    /// <summary>The two factors of every backward step (their product is the step gain), with a grey line at 1.</summary>
    public static ScottPlot.Plot FactorsPlotOf(IReadOnlyList<FlowCurve> curves)
    {
        var series = new List<PlotSeries>();
        foreach (var c in curves)
        {
            if (c.MatrixFactors is { } m) series.Add(new PlotSeries($"{c.Label}: W_hᵀ factor", Steps(m.Length, 1), m));
            if (c.ActivationFactors is { } a) series.Add(new PlotSeries($"{c.Label}: activation factor", Steps(a.Length, 1), a) { Secondary = true });
            foreach (var (name, v) in c.Extra) series.Add(new PlotSeries($"{c.Label}: {name}", Steps(v.Length, 1), v) { Secondary = true });
        }
        string title = curves.Any(c => c.Extra.Count > 0)
            ? "Per-step factors, path gains and gate means"
            : "Per-step factors (RNN: activation × W_hᵀ = step gain)";
        return Plots.Linear(title, "backward step k", "factor", series, referenceY: 1.0);
    }

    /// <summary>
    /// The console table: ‖dh‖/N per backward step, one column per setting, then one summary line per setting
    /// (σ_max, ρ, regime, verdict with evidence).
    /// </summary>
    public static string Table(IReadOnlyList<FlowCurve> curves, string title)
    {
        var sb = new StringBuilder();
        sb.AppendLine(title);
        foreach (var group in curves.GroupBy(c => c.Section))
        {
            var cs = group.ToList();
            sb.AppendLine();
            sb.AppendLine(group.Key == FlowCurve.WhOnlySection
                ? "W_h only (dh ← dh·W_hᵀ, no activation): ‖dh‖/N after k backward steps"
                : "Through the recurrent layer (random inputs, dh = ones at the last step): ‖dh‖/N after k backward steps");
            int w = Math.Max(12, cs.Max(c => c.Label.Length) + 2);
            sb.Append("   k   t");
            foreach (var c in cs) sb.Append(c.Label.PadLeft(w));
            sb.AppendLine();
            int rows = cs.Max(c => c.Norms.Length);
            for (int k = 0; k < rows; k++)
            {
                sb.Append(k.ToString(CultureInfo.InvariantCulture).PadLeft(4))
                  .Append((cs[0].Norms.Length - 1 - k).ToString(CultureInfo.InvariantCulture).PadLeft(4));
                foreach (var c in cs) sb.Append((k < c.Norms.Length ? Num(c.Norms[k]) : "").PadLeft(w));
                sb.AppendLine();
            }
            sb.AppendLine();
            foreach (var c in cs)
            {
                sb.Append(CultureInfo.InvariantCulture, $"  {c.Label}: σ_max(W_h) {Fmt.G3(c.Spectrum.SigmaMax)}");
                if (double.IsFinite(c.Spectrum.SpectralRadius)) sb.Append(CultureInfo.InvariantCulture, $", ρ(W_h) {Fmt.G3(c.Spectrum.SpectralRadius)}");
                foreach (var (gate, s) in c.BlockSpectra) sb.Append(CultureInfo.InvariantCulture, $", σ_max(W_h{gate}) {Fmt.G3(s.SigmaMax)}");
                sb.AppendLine();
                sb.AppendLine($"    {c.Verdict}");
            }
        }
        return sb.ToString();
    }

    /// <summary>
    /// Fills a section of the self-contained HTML report: one generated sentence per setting (its verdict and
    /// evidence), the norms plot and the factors plot (inline SVG, ids <c>{idPrefix}-norms</c> and
    /// <c>{idPrefix}-factors</c>), and a table of σ_max, ρ, regime, gain and verdict per setting.
    /// </summary>
    public static void AddToSection(HtmlReport.Section section, IReadOnlyList<FlowCurve> curves, string idPrefix)
    {
        foreach (var c in curves) section.Text($"{c.Label}: {c.Verdict.Kind.ToString().ToLowerInvariant()} — {c.Verdict.Evidence}.");
        section.Plot($"{idPrefix}-norms", "‖dh‖/N against backward steps k (log scale); open markers: through the recurrent layer.", Plots.Svg(NormsPlotOf(curves)));
        if (curves.Any(c => c.MatrixFactors is not null || c.ActivationFactors is not null || c.Extra.Count > 0))
            section.Plot($"{idPrefix}-factors", "Per-step factors of the backward pass; their product is the step gain (grey line: 1).", Plots.Svg(FactorsPlotOf(curves)));
        section.Table("Per setting", ["setting", "σ_max(W_h)", "ρ(W_h)", "regime", "total gain", "gain per step", "verdict"],
            curves.Select(c => new[]
            {
                c.Label, Fmt.G3(c.Spectrum.SigmaMax), Fmt.G3(c.Spectrum.SpectralRadius), c.Condition?.Regime.ToString() ?? "—",
                Fmt.G3(c.Verdict.TotalGain), Fmt.G3(c.Verdict.StepGain), c.Verdict.Kind.ToString().ToLowerInvariant(),
            }));
    }

    private static string Num(double v) => double.IsFinite(v) ? v.ToString("0.0000e+00", CultureInfo.InvariantCulture) : Fmt.G3(v);

    private static double[] Steps(int count, int first) => Enumerable.Range(first, count).Select(i => (double)i).ToArray();

    private static double[][] Rows(double[,] m) =>
        Enumerable.Range(0, m.GetLength(0)).Select(i => Enumerable.Range(0, m.GetLength(1)).Select(j => m[i, j]).ToArray()).ToArray();
}
