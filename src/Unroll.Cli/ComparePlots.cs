using ScottPlot;
using Unroll.IO;
using Unroll.Tasks;

namespace Unroll.Cli;

/// <summary>Plots of <c>unroll compare</c> (ScottPlot 5): learning curves and gradient flow through time.</summary>
public static class ComparePlots
{
    public const int Width = 900, Height = 520;

    /// <summary>Held-out metric against training step, one line per run, one colour per model (runs at one length).</summary>
    public static Plot Curves(IReadOnlyList<RunResult> runs)
    {
        var plt = new Plot();
        bool mse = runs[0].Metric == "mse";
        var models = runs.Select(r => r.Config.Model).Distinct().ToList();
        var palette = new ScottPlot.Palettes.Category10();
        var labelled = new HashSet<string>();
        foreach (var r in runs)
        {
            var pts = r.Curve.Where(p => double.IsFinite(p.TestMetric) && (!mse || p.TestMetric > 0)).ToList();
            if (pts.Count == 0) continue;
            double[] xs = pts.Select(p => (double)p.Step).ToArray();
            double[] ys = pts.Select(p => mse ? Math.Log10(p.TestMetric) : 100 * p.TestMetric).ToArray();
            var sc = plt.Add.Scatter(xs, ys, palette.GetColor(models.IndexOf(r.Config.Model)));
            sc.MarkerSize = 0;
            sc.LineWidth = 2;
            if (labelled.Add(r.Config.Model)) sc.LegendText = r.Config.Model;
        }
        double th = runs[0].Threshold;
        var line = plt.Add.HorizontalLine(mse ? Math.Log10(th) : 100 * th);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.Gray;
        line.LegendText = mse ? $"solved (MSE ≤ {th})" : $"solved (≥ {100 * th}%)";
        if (mse)
        {
            var b = plt.Add.HorizontalLine(Math.Log10(runs[0].BaselineLoss));
            b.LinePattern = LinePattern.Dotted;
            b.Color = Colors.Black;
            b.LegendText = $"baseline (predict 1: {runs[0].BaselineLoss:G3})";
        }
        plt.Title($"{runs[0].Config.Task}, T = {runs[0].Config.Length}: held-out {(mse ? "MSE" : "accuracy")} while training");
        plt.XLabel("training step");
        plt.YLabel(mse ? "log10 held-out MSE" : "held-out accuracy of recalled symbols (%)");
        plt.ShowLegend(Alignment.UpperRight);
        return plt;
    }

    /// <summary>
    /// log10 ‖∂L/∂h_t‖ / ‖∂L/∂h_last‖ against step t for the first seed of every model: dashed at initialisation,
    /// solid at the end of training (runs at one length).
    /// </summary>
    public static Plot Flow(IReadOnlyList<RunResult> runs)
    {
        var plt = new Plot();
        var models = runs.Select(r => r.Config.Model).Distinct().ToList();
        var palette = new ScottPlot.Palettes.Category10();
        foreach (var m in models)
        {
            var r = runs.Where(x => x.Config.Model == m).OrderBy(x => x.Config.Seed).First();
            var color = palette.GetColor(models.IndexOf(m));
            Add(r.FlowInit, $"{m} at init", LinePattern.Dashed);
            Add(r.FlowEnd, $"{m} trained", LinePattern.Solid);

            void Add(FlowSummary f, string label, LinePattern pattern)
            {
                if (f.StepNorms.Length == 0 || !(f.StepNorms[^1] > 0)) return;
                double last = f.StepNorms[^1];
                var pts = Enumerable.Range(0, f.StepNorms.Length).Where(t => f.StepNorms[t] > 0 && double.IsFinite(f.StepNorms[t])).ToList();
                if (pts.Count == 0) return;
                var sc = plt.Add.Scatter(pts.Select(t => (double)t).ToArray(), pts.Select(t => Math.Log10(f.StepNorms[t] / last)).ToArray(), color);
                sc.MarkerSize = 0;
                sc.LineWidth = 2;
                sc.LinePattern = pattern;
                sc.LegendText = label;
            }
        }
        plt.Title($"{runs[0].Config.Task}, T = {runs[0].Config.Length}: gradient of the last step's loss reaching h_t");
        plt.XLabel("step t");
        plt.YLabel("log10 ‖∂L/∂h_t‖ / ‖∂L/∂h_last‖");
        plt.ShowLegend(Alignment.LowerRight);
        return plt;
    }

    /// <summary>The plot as an SVG document (for inline use in HTML reports).</summary>
    public static string Svg(Plot plt, int width = Width, int height = Height) => plt.GetSvgXml(width, height);

    /// <summary>Writes <paramref name="basePath"/>.png and .svg atomically.</summary>
    public static void Save(Plot plt, string basePath)
    {
        AtomicFile.WriteAllBytes(basePath + ".png", plt.GetImageBytes(Width, Height, ImageFormat.Png));
        AtomicFile.WriteAllBytes(basePath + ".svg", plt.GetSvgXml(Width, Height).ToUtf8());
    }
}
