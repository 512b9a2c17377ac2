using System.Globalization;
using System.Text;
using Unroll.Flow;
using Unroll.IO;
using Unroll.Tasks;

namespace Unroll.Demo;

/// <summary>One line of the console summary: section, setting, what was measured, verdict.</summary>
public sealed record SummaryRow(string Section, string Setting, string Measured, string Verdict);

/// <summary>
/// Turns a <see cref="DemoResult"/> into the demo's files, all queued in one <see cref="OutputSet"/> (nothing touches
/// the disk until it is committed; <c>report.html</c> is queued last, so a report on disk means every other file is
/// there too): <c>report.html</c> (self-contained: sections a/b/c, inline SVG plots, tables, generated sentences), every
/// plot as PNG and SVG, the data as CSV and <c>demo.json</c>, and <c>summary.md</c>. Every number in the report's
/// tables and sentences is formatted with <see cref="Fmt.G3"/> from a value that is also in the CSV/JSON.
/// </summary>
public static class DemoOutputs
{
    public const string ReportName = "report.html", JsonName = "demo.json", SummaryName = "summary.md";
    public const string SeedCsv = "seed.csv", CellsCsv = "cells.csv", ClipCsv = "clip.csv", CompareCsv = "compare.csv";
    public const string SectionSeed = "section-seed", SectionCells = "section-cells", SectionRemedies = "section-remedies";

    /// <summary>Plot ids in the report; each is also written as <c>{id without "plot-"}.png</c> and <c>.svg</c>.</summary>
    public static readonly string[] PlotIds =
        ["plot-seed-wh", "plot-seed-tanh", "plot-seed-factors", "plot-cells-init", "plot-cells-trained", "plot-cells-factors",
         "plot-clip-norm", "plot-clip-loss", "plot-compare"];

    /// <summary>The file name (without extension) of a plot id.</summary>
    public static string PlotFile(string id) => id["plot-".Length..];

    /// <summary>The report page (also queued by <see cref="Build"/>).</summary>
    public sealed record Built(OutputSet Files, HtmlReport Report, IReadOnlyList<SummaryRow> Summary);

    public static Built Build(DemoResult r)
    {
        var files = new OutputSet();
        var report = new HtmlReport("Unroll demo: vanishing and exploding gradients, measured");
        var md = new StringBuilder();
        var summary = new List<SummaryRow>();
        var o = r.Options;
        report.Intro.Add($"Measured by unroll demo --seed {o.Seed} in {r.Seconds.ToString("0.0", CultureInfo.InvariantCulture)} s on {o.Threads} thread(s). " +
                         "Every number, plot and sentence below comes from this run; the data are in the CSV and JSON files beside this page.");
        md.AppendLine("# Unroll demo — summary").AppendLine().AppendLine(report.Intro[0]).AppendLine();

        void AddPlot(HtmlReport.Section s, string id, string caption, ScottPlot.Plot plot)
        {
            Plots.AddPngAndSvg(files, PlotFile(id), plot);
            s.Plot(id, caption, Plots.Svg(plot));
            md.AppendLine($"![{caption}]({PlotFile(id)}.png)").AppendLine();
        }
        void AddTable(HtmlReport.Section s, string caption, string[] header, List<string[]> rows)
        {
            s.Table(caption, header, rows);
            md.AppendLine($"**{caption}**").AppendLine();
            md.AppendLine("| " + string.Join(" | ", header) + " |");
            md.AppendLine("|" + string.Concat(header.Select(_ => "---|")));
            foreach (var row in rows) md.AppendLine("| " + string.Join(" | ", row.Select(c => c.Replace("|", "\\|"))) + " |");
            md.AppendLine();
        }
        void AddText(HtmlReport.Section s, string sentence) { s.Text(sentence); md.AppendLine(sentence).AppendLine(); }
        HtmlReport.Section Begin(string id, string heading) { md.AppendLine($"## {heading}").AppendLine(); return report.AddSection(id, heading); }

        // ---- a. seed experiment
        var a = Begin(SectionSeed, "a. The seed experiment: W_h alone, then through the tanh node");
        var seed = r.Seed;
        int T = o.SeedT;
        foreach (var c in seed.WhOnly)
        {
            AddText(a, $"With W_h = randn({o.SeedH},{o.SeedH})·{G(c.Scale)} (σ_max {G(c.Spectrum.SigmaMax)}) and no activation, ‖dh‖/N went from {G(c.Norms[0])} " +
                       $"to {G(c.Norms[^1])} in {c.Norms.Length - 1} backward steps, ×{G(c.Verdict.StepGain)} per step: {Kind(c.Verdict)}{(c.Condition is { } pmb ? $" ({pmb.Describe()})" : "")}.");
            summary.Add(new SummaryRow("a", $"W_h only, scale {G(c.Scale)}", $"‖dh‖/N {G(c.Norms[0])} → {G(c.Norms[^1])} in {c.Norms.Length - 1} steps", Kind(c.Verdict)));
        }
        foreach (var c in seed.Tanh)
        {
            var w = seed.WhOnly.First(x => x.Scale == c.Scale);
            double pa = Product(c.ActivationFactors), pm = Product(c.MatrixFactors);
            double ga = SeedExperiment.GeometricMean(c.ActivationFactors), gm = SeedExperiment.GeometricMean(c.MatrixFactors);
            var sb = new StringBuilder($"Through a real tanh RNN with the same W_h·{G(c.Scale)}, ‖dh‖/N after {c.Norms.Length - 1} steps is {G(c.Norms[^1])} " +
                                       $"(W_h alone: {G(w.Norms[^1])}); over the steps the tanh factor multiplied the gradient by {G(pa)} ({G(ga)} per step) " +
                                       $"and the W_hᵀ factor by {G(pm)} ({G(gm)} per step).");
            if (ga < 1 && gm < 1 && double.IsFinite(ga) && double.IsFinite(gm))
                sb.Append($" Both shrink it: the tanh node accounts for {G(100 * Math.Log(ga) / Math.Log(ga * gm))}% of the decay (in log terms), W_h for the rest.");
            else if (ga < 1 && gm > 1 && ga * gm < 1)
                sb.Append(" W_hᵀ alone would grow it, but the tanh factor shrinks it more, so the product vanishes.");
            else if (ga < 1 && gm > 1)
                sb.Append(" W_hᵀ grows it faster than the tanh factor shrinks it.");
            AddText(a, sb.ToString());
            summary.Add(new SummaryRow("a", $"tanh rnn, scale {G(c.Scale)}", $"‖dh‖/N → {G(c.Norms[^1])}; tanh ×{G(ga)}/step, W_hᵀ ×{G(gm)}/step", Kind(c.Verdict)));
        }
        AddPlot(a, "plot-seed-wh", $"‖dh‖/N against backward steps, W_h only (dh ← dh·W_hᵀ from dh = ones({o.SeedN},{o.SeedH})), log scale.",
            Plots.LogY("Seed experiment: W_h only", "backward steps k", "‖dh‖ / N (log scale)",
                seed.WhOnly.Select(c => new PlotSeries($"W_h×{G(c.Scale)}", Steps(c.Norms.Length, 0), c.Norms))));
        AddPlot(a, "plot-seed-tanh", "The same W_h with the tanh node: a real TimeRNN on random inputs (open squares) against W_h alone (solid).",
            Plots.LogY("Seed experiment: W_h only vs. through tanh", "backward steps k", "‖dh‖ / N (log scale)",
                seed.WhOnly.Select(c => new PlotSeries($"W_h×{G(c.Scale)} only", Steps(c.Norms.Length, 0), c.Norms))
                    .Concat(seed.Tanh.Select(c => new PlotSeries($"tanh rnn, W_h×{G(c.Scale)}", Steps(c.Norms.Length, 0), c.Norms) { Secondary = true }))));
        AddPlot(a, "plot-seed-factors", "The two factors of each backward step through the tanh RNN: tanh factor ‖dh⊙(1−h²)‖/‖dh‖ and W_hᵀ factor; their product is the step gain (dotted: 1).",
            Plots.Linear("Per-step factors through the tanh RNN", "backward step k", "factor",
                seed.Tanh.SelectMany(c => new[]
                {
                    new PlotSeries($"W_hᵀ factor, ×{G(c.Scale)}", Steps(T, 1), c.MatrixFactors ?? []),
                    new PlotSeries($"tanh factor, ×{G(c.Scale)}", Steps(T, 1), c.ActivationFactors ?? []) { Secondary = true },
                }), referenceY: 1.0));
        AddTable(a, "Seed experiment, per setting", ["setting", "σ_max(W_h)", "ρ(W_h)", "‖dh‖/N at k=0", $"‖dh‖/N at k={T}", "gain per step", "tanh factor / step", "W_hᵀ factor / step", "verdict"],
            seed.WhOnly.Concat(seed.Tanh).Select(c => new[]
            {
                c.Label, G(c.Spectrum.SigmaMax), G(c.Spectrum.SpectralRadius), G(c.Norms[0]), G(c.Norms[^1]), G(c.Verdict.StepGain),
                c.ActivationFactors is null ? "—" : G(SeedExperiment.GeometricMean(c.ActivationFactors)),
                c.MatrixFactors is null ? "—" : G(SeedExperiment.GeometricMean(c.MatrixFactors)), Kind(c.Verdict),
            }).ToList());
        files.AddText(SeedCsv, GradientFlowReport.Csv([.. seed.WhOnly, .. seed.Tanh]));

        // ---- b. cells
        var cells = r.Cells;
        var b = Begin(SectionCells, $"b. tanh RNN vs LSTM vs GRU on the adding problem (T = {cells.Length})");
        foreach (var run in cells.Runs)
        {
            var sb = new StringBuilder($"{run.Cell}: at initialisation a gradient sent back from the last step keeps {G(run.InitSummary.PropagationGain)} of its norm at the first step " +
                                       $"(σ_max(W_h) {G(run.InitSummary.SigmaMax)}); after {cells.Steps} Adam steps it keeps {G(run.TrainedSummary.PropagationGain)} " +
                                       $"(σ_max {G(run.TrainedSummary.SigmaMax)}): {Kind(run.TrainedSummary.Verdict)}.");
            if (run.TrainedSummary.MeanActivationFactor is { } af && run.TrainedSummary.MeanMatrixFactor is { } mf)
                sb.Append($" Per step the tanh factor averages {G(af)} and the W_hᵀ factor {G(mf)}.");
            if (run.TrainedSummary.MeanCellPathGain is { } cg)
                sb.Append($" The cell path passes {G(cg)} per step (mean forget gate {G(run.TrainedSummary.MeanForgetGate ?? double.NaN)}).");
            if (run.TrainedSummary.MeanCarryGain is { } zg)
                sb.Append($" The z-carry path passes {G(zg)} per step.");
            sb.Append($" Test MSE {G(run.InitMse)} → {G(run.FinalMse)} (always predicting 1: {G(cells.BaselineMse)}; solved: ≤ 0.01).");
            AddText(b, sb.ToString());
            summary.Add(new SummaryRow("b", $"{run.Cell}, T={cells.Length}", $"gradient kept over T: {G(run.InitSummary.PropagationGain)} → {G(run.TrainedSummary.PropagationGain)}; test MSE {G(run.FinalMse)}",
                                       Kind(run.TrainedSummary.Verdict)));
        }
        var finite = cells.Runs.Where(x => double.IsFinite(x.TrainedSummary.PropagationGain)).ToList();
        var bestMse = cells.Runs.Where(x => double.IsFinite(x.FinalMse)).OrderBy(x => x.FinalMse).FirstOrDefault();
        if (finite.Count > 1 && bestMse is not null)
        {
            var most = finite.MaxBy(x => x.TrainedSummary.PropagationGain)!;
            AddText(b, $"After training, {most.Cell} keeps the most of the gradient across the {cells.Length} steps ({G(most.TrainedSummary.PropagationGain)}), " +
                       $"and {bestMse.Cell} reaches the lowest test MSE ({G(bestMse.FinalMse)}).");
        }
        AddPlot(b, "plot-cells-init", "‖∂L/∂h_t‖ relative to the last step, at initialisation (only the loss at the last step is back-propagated), log scale.",
            Plots.LogY($"At initialisation (adding, T={cells.Length})", "time step t", "‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ (log scale)",
                cells.Runs.Select(x => new PlotSeries(x.Cell, Steps(x.Init.T, 1), Relative(x.Init.GradNorm)))));
        AddPlot(b, "plot-cells-trained", $"The same after {cells.Steps} Adam steps on the adding problem.",
            Plots.LogY($"After {cells.Steps} training steps", "time step t", "‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ (log scale)",
                cells.Runs.Select(x => new PlotSeries(x.Cell, Steps(x.Trained.T, 1), Relative(x.Trained.GradNorm)))));
        var fac = new List<PlotSeries>();
        foreach (var x in cells.Runs)
        {
            if (x.Trained.ActivationFactor is { } af) fac.Add(new PlotSeries($"{x.Cell}: tanh factor", Steps(x.Trained.T, 1), af) { Secondary = true });
            if (x.Trained.MatrixFactor is { } mf) fac.Add(new PlotSeries($"{x.Cell}: W_hᵀ factor", Steps(x.Trained.T, 1), mf));
            if (x.Trained.CellPathGain is { } cp) fac.Add(new PlotSeries($"{x.Cell}: cell path", Steps(x.Trained.T, 1), cp));
            if (x.Trained.CarryPathGain is { } zp) fac.Add(new PlotSeries($"{x.Cell}: z-carry path", Steps(x.Trained.T, 1), zp));
        }
        AddPlot(b, "plot-cells-factors", "After training: the tanh RNN's two factors per step, the LSTM's cell path gain and the GRU's z-carry gain (dotted: 1).",
            Plots.Linear("Per-step factors after training", "time step t", "factor", fac, referenceY: 1.0));
        AddTable(b, "Gradient flow at initialisation and after training (geometric means per step)",
            ["cell", "phase", "σ_max(W_h)", "kept over T", "gain / step", "tanh factor", "W_hᵀ factor", "cell path", "forget gate", "z-carry", "saturated", "test MSE", "verdict"],
            cells.Runs.SelectMany(x => new[] { ("init", x.InitSummary, x.InitMse), ("trained", x.TrainedSummary, x.FinalMse) }
                .Select(p => new[]
                {
                    x.Cell, p.Item1, G(p.Item2.SigmaMax), G(p.Item2.PropagationGain), G(p.Item2.MeanStepGain), Opt(p.Item2.MeanActivationFactor),
                    Opt(p.Item2.MeanMatrixFactor), Opt(p.Item2.MeanCellPathGain), Opt(p.Item2.MeanForgetGate), Opt(p.Item2.MeanCarryGain),
                    G(p.Item2.Saturation), G(p.Item3), Kind(p.Item2.Verdict),
                })).ToList());
        files.AddText(CellsCsv, CellsCsvText(cells));

        // ---- c. remedies
        var clip = r.Remedies.Clip;
        var c3 = Begin(SectionRemedies, "c. Remedies: gradient clipping, and which cells learn as T grows");
        {
            var wo = clip.Without; var wi = clip.With;
            string endWo = wo.Diverged ? $"training diverged (non-finite loss or gradient) at iteration {wo.Loss.Length}"
                                       : $"the final test MSE is {G(clip.FinalMseWithout)} (always predicting 1: {G(1.0 / 6)})";
            AddText(c3, $"A tanh RNN with W_h multiplied by {G(clip.WhScale)} after initialisation (σ_max {G(clip.SigmaMaxInit)}), trained by SGD (learning rate {G(clip.LearningRate)}) " +
                        $"on the adding problem (T = {clip.Length}): without clipping the global gradient norm peaked at {G(Max(wo.GradNorm))} (median {G(Median(wo.GradNorm))}) and {endWo}.");
            string endWi = wi.Diverged ? $"training still diverged at iteration {wi.Loss.Length}" : $"the final test MSE is {G(clip.FinalMseWith)} (always predicting 1: {G(1.0 / 6)})";
            AddText(c3, $"With the same start and batches but the global norm clipped to {G(clip.MaxNorm)}, clipping fired on {wi.ClipCount} of {wi.GradNorm.Length} iterations " +
                        $"(pre-clip peak {G(Max(wi.GradNorm))}) and {endWi}.");
            summary.Add(new SummaryRow("c", $"clipping, tanh rnn W_h×{G(clip.WhScale)}",
                $"no clip: peak norm {G(Max(wo.GradNorm))}, {(wo.Diverged ? "diverged" : $"MSE {G(clip.FinalMseWithout)}")}; clip {G(clip.MaxNorm)}: fired {wi.ClipCount}/{wi.GradNorm.Length}, {(wi.Diverged ? "diverged" : $"MSE {G(clip.FinalMseWith)}")}",
                wo.Diverged && !wi.Diverged ? "clipping kept it finite" : wo.Diverged ? "both diverged" : wi.Diverged ? "clipped run diverged" : "neither diverged"));
            AddPlot(c3, "plot-clip-norm", $"Global gradient norm per iteration (before clipping), without and with clipping at {G(clip.MaxNorm)} (the threshold drawn flat), log scale.",
                Plots.LogY("Exploding tanh RNN: global gradient norm", "iteration", "global norm (log scale)",
                [
                    new PlotSeries("no clipping", Steps(wo.GradNorm.Length, 1), wo.GradNorm),
                    new PlotSeries($"clip at {G(clip.MaxNorm)} (pre-clip norm)", Steps(wi.GradNorm.Length, 1), wi.GradNorm) { Secondary = true },
                    new PlotSeries("threshold", [1, Math.Max(2, Math.Max(wo.GradNorm.Length, wi.GradNorm.Length))], [clip.MaxNorm, clip.MaxNorm]),
                ]));
            AddPlot(c3, "plot-clip-loss", "Training loss (MSE of the batch) per iteration, without and with clipping, log scale.",
                Plots.LogY("Exploding tanh RNN: training loss", "iteration", "batch MSE (log scale)",
                [
                    new PlotSeries("no clipping", Steps(wo.Loss.Length, 1), wo.Loss),
                    new PlotSeries($"clip at {G(clip.MaxNorm)}", Steps(wi.Loss.Length, 1), wi.Loss) { Secondary = true },
                ]));
            AddTable(c3, "Clipping", ["run", "iterations", "peak norm", "median norm", "clipped", "last batch loss", "test MSE"],
            [
                ["no clipping", wo.Loss.Length.ToString(CultureInfo.InvariantCulture), G(Max(wo.GradNorm)), G(Median(wo.GradNorm)), "0", G(wo.Loss[^1]), G(clip.FinalMseWithout)],
                [$"clip {G(clip.MaxNorm)}", wi.Loss.Length.ToString(CultureInfo.InvariantCulture), G(Max(wi.GradNorm)), G(Median(wi.GradNorm)), wi.ClipCount.ToString(CultureInfo.InvariantCulture), G(wi.Loss[^1]), G(clip.FinalMseWith)],
            ]);
        }
        var cmp = r.Remedies.Compare;
        var models = o.CompareModels; var lengths = o.CompareLengths;
        {
            var solvedBy = models.Select(m => (m, ls: cmp.Where(x => x.Config.Model == m && x.Solved).Select(x => x.Config.Length).OrderBy(l => l).ToList())).ToList();
            AddText(c3, $"Short comparison, {o.CompareSteps} Adam steps each (learning rate {G(o.CompareLearningRate)}, clipping at 1, H = {o.Hidden}, batch {o.Batch}): solved (test MSE ≤ 0.01) — " +
                        string.Join("; ", solvedBy.Select(s => $"{s.m}: {(s.ls.Count == 0 ? "none" : "T = " + string.Join(", ", s.ls))}")) + ".");
            int longest = lengths.Max();
            var atLongest = cmp.Where(x => x.Config.Length == longest && double.IsFinite(x.FinalMetric)).OrderBy(x => x.FinalMetric).ToList();
            if (atLongest.Count > 0)
                AddText(c3, $"At T = {longest} the lowest test MSE is {atLongest[0].Config.Model}'s ({G(atLongest[0].FinalMetric)}), against {G(atLongest[0].BaselineLoss)} for always predicting 1" +
                            (atLongest.Count > 1 ? $"; the highest is {atLongest[^1].Config.Model}'s ({G(atLongest[^1].FinalMetric)})." : "."));
            foreach (var s in solvedBy)
                summary.Add(new SummaryRow("c", $"compare {s.m}", "test MSE " + string.Join(", ", lengths.Select(l => $"T={l}: {G(cmp.First(x => x.Config.Model == s.m && x.Config.Length == l).FinalMetric)}")),
                                           s.ls.Count == 0 ? "solved none" : $"solved T ≤ {s.ls.Max()}"));
            var series = models.Select(m => new PlotSeries(m, lengths.Select(l => (double)l).ToArray(),
                lengths.Select(l => cmp.First(x => x.Config.Model == m && x.Config.Length == l).FinalMetric).ToArray())).ToList();
            double[] xs = [lengths.Min(), lengths.Max()];
            series.Add(new PlotSeries("predict 1 (1/6)", xs, [1.0 / 6, 1.0 / 6]) { Secondary = true });
            series.Add(new PlotSeries("solved (0.01)", xs, [0.01, 0.01]) { Secondary = true });
            AddPlot(c3, "plot-compare", $"Held-out test MSE after {o.CompareSteps} steps against the length T of the adding problem, log scale.",
                Plots.LogY("Adding problem: test MSE by model and length", "T (sequence length)", "test MSE (log scale)", series));
            AddTable(c3, "Compare (adding problem)", ["model", "T", "steps", "test MSE", "solved", "first solved at", "kept over T at init", "kept over T at end", "diverged"],
                cmp.Select(x => new[]
                {
                    x.Config.Model, x.Config.Length.ToString(CultureInfo.InvariantCulture), x.StepsDone.ToString(CultureInfo.InvariantCulture), G(x.FinalMetric),
                    x.Solved ? "yes" : "no", x.FirstSolvedStep?.ToString(CultureInfo.InvariantCulture) ?? "—", G(x.FlowInit.Gain), G(x.FlowEnd.Gain), x.Diverged ? "yes" : "no",
                }).ToList());
        }
        files.AddText(ClipCsv, ClipCsvText(clip));
        files.AddText(CompareCsv, CompareCsvText(cmp));
        files.AddText(JsonName, Json(r));
        files.AddText(SummaryName, md.ToString());
        files.AddText(ReportName, report.Render());   // last: a report on disk means every other file was written
        return new Built(files, report, summary);
    }

    /// <summary>All numbers of the run as one JSON document.</summary>
    public static string Json(DemoResult r) => JsonOutput.Serialize(new
    {
        options = r.Options,
        seconds = r.Seconds,
        seed = new { whOnly = r.Seed.WhOnly.Select(GradientFlowReport.ToJson).ToArray(), tanh = r.Seed.Tanh.Select(GradientFlowReport.ToJson).ToArray() },
        cells = new
        {
            length = r.Cells.Length, steps = r.Cells.Steps, baselineMse = r.Cells.BaselineMse,
            runs = r.Cells.Runs.Select(x => new
            {
                cell = x.Cell, initMse = x.InitMse, finalMse = x.FinalMse,
                init = new { summary = x.InitSummary, record = x.Init },
                trained = new { summary = x.TrainedSummary, record = x.Trained },
                trainLoss = x.Trace.Loss, gradNorm = x.Trace.GradNorm, diverged = x.Trace.Diverged,
            }).ToArray(),
        },
        clipping = r.Remedies.Clip,
        compare = r.Remedies.Compare,
    });

    private static string CellsCsvText(CellsSection cells)
    {
        var csv = new CsvBuilder("cell", "phase", "t", "grad_norm", "grad_norm_relative", "step_gain", "activation_factor", "matrix_factor",
                                 "cell_path_gain", "forget_gate", "carry_path_gain", "saturated_fraction");
        foreach (var x in cells.Runs)
            foreach (var (phase, rec) in new[] { ("init", x.Init), ("trained", x.Trained) })
            {
                var rel = Relative(rec.GradNorm);
                for (int t = 0; t < rec.T; t++)
                    csv.Row(x.Cell, phase, t + 1, rec.GradNorm[t], rel[t], rec.StepGain[t], rec.ActivationFactor?[t], rec.MatrixFactor?[t],
                            rec.CellPathGain?[t], rec.ForgetGateMean?[t], rec.CarryPathGain?[t], rec.SaturatedFraction[t]);
            }
        return csv.ToString();
    }

    private static string ClipCsvText(ClipSection c)
    {
        var csv = new CsvBuilder("iteration", "loss_no_clip", "grad_norm_no_clip", "loss_clip", "grad_norm_clip", "clipped");
        int n = Math.Max(c.Without.Loss.Length, c.With.Loss.Length);
        for (int i = 0; i < n; i++)
            csv.Row(i + 1, At(c.Without.Loss, i), At(c.Without.GradNorm, i), At(c.With.Loss, i), At(c.With.GradNorm, i),
                    i < c.With.Clipped.Length ? (c.With.Clipped[i] ? 1 : 0) : null);
        return csv.ToString();
        static double? At(double[] a, int i) => i < a.Length ? a[i] : null;
    }

    private static string CompareCsvText(IReadOnlyList<RunResult> runs)
    {
        var csv = new CsvBuilder("model", "length", "steps_done", "test_mse", "solved", "first_solved_step", "diverged", "gain_init", "gain_end", "sigma_max_init", "sigma_max_end", "seconds");
        foreach (var x in runs)
            csv.Row(x.Config.Model, x.Config.Length, x.StepsDone, x.FinalMetric, x.Solved ? 1 : 0, x.FirstSolvedStep, x.Diverged ? 1 : 0,
                    x.FlowInit.Gain, x.FlowEnd.Gain, x.FlowInit.SigmaMaxWh, x.FlowEnd.SigmaMaxWh, x.Seconds);
        return csv.ToString();
    }

    /// <summary>The number format of every report number (3 significant digits, see <see cref="Fmt.G3"/>).</summary>
    public static string G(double v) => Fmt.G3(v);
    private static string Opt(double? v) => v is { } x ? G(x) : "—";
    private static string Kind(FlowVerdict v) => v.Kind.ToString().ToLowerInvariant();
    private static double[] Steps(int count, int first) => Enumerable.Range(first, count).Select(i => (double)i).ToArray();
    private static double[] Relative(double[] norms) => norms.Select(v => norms[^1] == 0 ? double.NaN : v / norms[^1]).ToArray();
    private static double Product(double[]? xs) => xs is null ? double.NaN : xs.Aggregate(1.0, (p, x) => p * x);
    private static double Max(double[] xs) => xs.Length == 0 ? double.NaN : xs.Max();
    private static double Median(double[] xs)
    {
        var f = xs.Where(double.IsFinite).OrderBy(x => x).ToArray();
        return f.Length == 0 ? double.NaN : f.Length % 2 == 1 ? f[f.Length / 2] : (f[f.Length / 2 - 1] + f[f.Length / 2]) / 2;
    }
}
