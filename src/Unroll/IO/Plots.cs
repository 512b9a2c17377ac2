using System.Globalization;
using ScottPlot;

namespace Unroll.IO;

/// <summary>One curve: a label and its (x, y) points. Points with a non-finite y (or y ≤ 0 on a log axis) are skipped.</summary>
public sealed record PlotSeries(string Label, double[] X, double[] Y)
{
    /// <summary>Draw as a secondary curve: thinner line and open square markers (dash patterns are avoided because
    /// Skia's SVG backend cannot render them).</summary>
    public bool Secondary { get; init; }
}

/// <summary>
/// Reusable plotting helpers on ScottPlot 5 (headless: rendering goes through SkiaSharp's bundled native library).
/// Every helper returns a <see cref="Plot"/>; <see cref="AddPngAndSvg"/> renders one to PNG bytes and SVG text and
/// queues both in an <see cref="OutputSet"/> (nothing touches the disk until the set is committed).
/// </summary>
public static class Plots
{
    /// <summary>Default image size in pixels.</summary>
    public const int DefaultWidth = 1000, DefaultHeight = 560;

    /// <summary>
    /// Lines with a base-10 logarithmic y axis (the data are plotted as log10(y); tick labels show y itself,
    /// with minor ticks at 2..9 × 10^k). Use for gradient norms that shrink or grow geometrically.
    /// </summary>
    public static Plot LogY(string title, string xLabel, string yLabel, IEnumerable<PlotSeries> series)
    {
        var plt = NewPlot(title, xLabel, yLabel);
        int plotted = 0;
        foreach (var s in series)
        {
            var (xs, ys) = Finite(s, log: true);
            if (xs.Length == 0) continue;
            AddLine(plt, s, xs, ys);
            plotted++;
        }
        var ticks = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => Pow10Label(y),
        };
        plt.Axes.Left.TickGenerator = ticks;
        FinishLegend(plt, plotted);
        return plt;
    }

    /// <summary>Lines on linear axes.</summary>
    /// <param name="title">Plot title.</param>
    /// <param name="xLabel">x-axis label.</param>
    /// <param name="yLabel">y-axis label.</param>
    /// <param name="series">The curves.</param>
    /// <param name="referenceY">If set, a thin grey horizontal line at this y (e.g. 1 for per-step factors).</param>
    public static Plot Linear(string title, string xLabel, string yLabel, IEnumerable<PlotSeries> series, double? referenceY = null)
    {
        var plt = NewPlot(title, xLabel, yLabel);
        int plotted = 0;
        foreach (var s in series)
        {
            var (xs, ys) = Finite(s, log: false);
            if (xs.Length == 0) continue;
            AddLine(plt, s, xs, ys);
            plotted++;
        }
        if (referenceY is { } r) { var line = plt.Add.HorizontalLine(r); line.LineWidth = 1; line.Color = Colors.Gray; }
        FinishLegend(plt, plotted);
        return plt;
    }

    /// <summary>Renders <paramref name="plot"/> as PNG bytes.</summary>
    public static byte[] Png(Plot plot, int width = DefaultWidth, int height = DefaultHeight) =>
        plot.GetImageBytes(width, height, ImageFormat.Png);

    /// <summary>Renders <paramref name="plot"/> as an SVG document (suitable for inlining into HTML).</summary>
    public static string Svg(Plot plot, int width = DefaultWidth, int height = DefaultHeight) =>
        plot.GetSvgXml(width, height);

    /// <summary>Queues <c>baseName.png</c> and <c>baseName.svg</c> into <paramref name="output"/>.</summary>
    public static void AddPngAndSvg(OutputSet output, string baseName, Plot plot, int width = DefaultWidth, int height = DefaultHeight)
    {
        output.Add(baseName + ".png", Png(plot, width, height));
        output.AddText(baseName + ".svg", Svg(plot, width, height));
    }

    /// <summary>"1e-3"-style label for a log10 tick value (exact powers of ten only when integral).</summary>
    public static string Pow10Label(double log10Value)
    {
        double v = Math.Pow(10, log10Value);
        if (log10Value >= -2 && log10Value <= 3) return v.ToString("G4", CultureInfo.InvariantCulture);
        return v.ToString("0e0", CultureInfo.InvariantCulture);
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plt = new Plot();
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        return plt;
    }

    private static void AddLine(Plot plt, PlotSeries s, double[] xs, double[] ys)
    {
        var sc = plt.Add.Scatter(xs, ys);
        sc.LegendText = s.Label;
        sc.MarkerSize = xs.Length <= 60 ? 5 : 0;
        sc.LineWidth = 2;
        if (s.Secondary) { sc.LineWidth = 1.5f; sc.MarkerShape = MarkerShape.OpenSquare; }
    }

    private static void FinishLegend(Plot plt, int plotted)
    {
        if (plotted > 0) plt.ShowLegend(Edge.Right);
    }

    private static (double[] X, double[] Y) Finite(PlotSeries s, bool log)
    {
        if (s.X.Length != s.Y.Length) throw new ArgumentException($"Plots: series '{s.Label}' has {s.X.Length} x values and {s.Y.Length} y values.");
        var xs = new List<double>(s.X.Length);
        var ys = new List<double>(s.Y.Length);
        for (int i = 0; i < s.X.Length; i++)
        {
            double y = s.Y[i];
            if (!double.IsFinite(s.X[i]) || !double.IsFinite(y) || (log && y <= 0)) continue;
            xs.Add(s.X[i]);
            ys.Add(log ? Math.Log10(y) : y);
        }
        return (xs.ToArray(), ys.ToArray());
    }
}
