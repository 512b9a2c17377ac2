using System.CommandLine;
using System.Globalization;
using Unroll.Flow;
using Unroll.Init;
using Unroll.IO;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Cli;

/// <summary>
/// <c>unroll gradient-flow</c>: the textbook experiment on vanishing and exploding gradients, measured. Runs
/// <c>dh ← dh·W_hᵀ</c> from <c>dh = ones(N, H)</c> for T steps for every scale, prints ‖dh‖/N per step with
/// σ_max, ρ and a verdict per setting, and writes CSV, JSON and plots (PNG + SVG) into the output directory.
/// All inputs are validated before anything is computed or written.
/// </summary>
public static class GradientFlowCommand
{
    public static readonly string[] Cells = ["rnn", "rnn-relu", "lstm", "gru", "all"];
    /// <summary>Largest H accepted (W_h's SVD and the per-step caches grow with H²).</summary>
    public const int MaxHidden = 2048;
    /// <summary>Largest N·T·4H accepted (float64 caches of the layer run).</summary>
    public const long MaxElements = 32_000_000;

    public static readonly string[] Inits = ["gaussian", "xavier", "orthogonal", "identity"];

    public static Command Build()
    {
        var n = new Option<int>("--n") { Description = "Batch size N (rows of dh).", DefaultValueFactory = _ => 2 };
        var h = new Option<int?>("--h") { Description = "Hidden size H (default 3, or taken from --wh)." };
        var t = new Option<int>("--t") { Description = "Number of time steps T (backward steps).", DefaultValueFactory = _ => 20 };
        var scale = new Option<string[]>("--scale")
        {
            Description = "Scale(s) of W_h, a list: '--scale 1.0,0.5' or '--scale 1 --scale 0.5' (default 1.0,0.5; with --wh: 1.0).",
            AllowMultipleArgumentsPerToken = true,
        };
        var cell = new Option<string>("--cell") { Description = "Cell: rnn (tanh), rnn-relu, lstm, gru, or all (rnn, lstm and gru side by side).", DefaultValueFactory = _ => "rnn" };
        var init = new Option<string>("--init") { Description = "Initialisation of W_h (per gate block) before scaling: gaussian (N(0,1) entries, the textbook's randn), xavier (N(0,1)/√H), orthogonal, identity.", DefaultValueFactory = _ => "gaussian" };
        var wh = new Option<string?>("--wh") { Description = "Use this W_h instead of a random one: a CSV file (one row per line) or a NumPy .npy (float32/float64, C order). H×H for rnn/rnn-relu, H×4H for lstm ([i|f|g|o]), H×3H for gru ([r|z|n])." };

        var cmd = new Command("gradient-flow",
            "Measure how the gradient shrinks or grows as it flows back through time. For rnn/rnn-relu: the textbook experiment " +
            "dh ← dh·W_hᵀ from dh = ones(N,H) for T steps (W_h only, float64), then the same through a real recurrent layer " +
            "(random inputs, the activation included) with the activation and W_hᵀ factors of every step; for lstm/gru the layer " +
            "run with the cell-path / carry-path gains. Per W_h scale: singular values of W_h, the Pascanu–Mikolov–Bengio regime " +
            "(σ_max vs 1/γ) and a verdict (vanishing / exploding / healthy) with its evidence. " +
            "Writes gradient-flow.csv, gradient-flow.json, norms.png/.svg and factors.png/.svg into --out (default ./unroll-gradient-flow).\n\n" +
            "Examples:\n" +
            "  unroll gradient-flow                            # scale 1.0 vs 0.5: W_h only, then through a tanh RNN (N=2 H=3 T=20)\n" +
            "  unroll gradient-flow --scale 1.0,0.8,0.5 --t 50 --seed 7\n" +
            "  unroll gradient-flow --cell lstm --init orthogonal --t 100 --h 16\n" +
            "  unroll gradient-flow --cell all --t 50          # W_h only, tanh RNN, LSTM and GRU on one plot\n" +
            "  unroll gradient-flow --wh wh.npy --t 30 --json  # an explicit W_h, compare with other tools\n" +
            "  unroll gradient-flow --h 64 --out flow64 --quiet");
        foreach (var o in new Option[] { n, h, t, scale, cell, init, wh }) cmd.Options.Add(o);

        cmd.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var settings = new Settings(
                N: parse.GetValue(n), H: parse.GetValue(h), T: parse.GetValue(t),
                Scales: ParseScales(parse.GetValue(scale)), Cell: parse.GetValue(cell) ?? "rnn",
                Init: parse.GetValue(init) ?? "gaussian", WhFile: parse.GetValue(wh),
                Seed: parse.GetValue(GlobalOptions.Seed));
            string outDir = parse.GetValue(GlobalOptions.Out) ?? Path.Combine(".", "unroll-gradient-flow");
            var result = Run(settings);

            var output = new OutputSet();
            GradientFlowReport.AddOutputs(output, result.Curves, result.Config);
            var written = output.Commit(outDir);

            if (parse.GetValue(GlobalOptions.Json)) stdout.WriteLine(GradientFlowReport.Json(result.Curves, result.Config));
            else
            {
                stdout.Write(GradientFlowReport.Table(result.Curves, result.Title));
                if (!parse.GetValue(GlobalOptions.Quiet))
                {
                    stdout.WriteLine();
                    stdout.WriteLine($"wrote {string.Join(", ", written.Select(Path.GetFileName))} to {Path.GetFullPath(outDir)}");
                }
            }
            return CliApp.ExitOk;
        });
        return cmd;
    }

    /// <summary>The validated inputs of one run.</summary>
    public sealed record Settings(int N, int? H, int T, double[]? Scales, string Cell, string Init, string? WhFile, int Seed);

    /// <summary>What a run measured.</summary>
    public sealed record Result(string Title, IReadOnlyList<FlowCurve> Curves, object Config);

    /// <summary>Validates <paramref name="s"/> (throws <see cref="UsageException"/>) and runs the experiments. Writes nothing.</summary>
    public static Result Run(Settings s)
    {
        if (s.N <= 0) throw new UsageException($"--n must be a positive integer, got {s.N}.");
        if (s.T <= 0) throw new UsageException($"--t must be a positive integer, got {s.T}.");
        if (s.H is <= 0) throw new UsageException($"--h must be a positive integer, got {s.H}.");
        string cell = s.Cell.Trim().ToLowerInvariant();
        if (!Cells.Contains(cell)) throw new UsageException($"unknown --cell '{s.Cell}' (expected one of: {string.Join(", ", Cells)}).");
        string init = s.Init.Trim().ToLowerInvariant();
        if (!Inits.Contains(init)) throw new UsageException($"unknown --init '{s.Init}' (expected one of: {string.Join(", ", Inits)}).");
        var initKind = init switch { "gaussian" => WeightInit.Gaussian, "xavier" => WeightInit.Xavier, "orthogonal" => WeightInit.Orthogonal, _ => WeightInit.Identity };
        CellType[] cellTypes = cell switch
        {
            "rnn" => [CellType.Rnn], "rnn-relu" => [CellType.RnnRelu], "lstm" => [CellType.Lstm], "gru" => [CellType.Gru],
            _ => [CellType.Rnn, CellType.Lstm, CellType.Gru],
        };
        if (cell == "all" && s.WhFile is not null) throw new UsageException("--wh cannot be combined with --cell all (W_h's shape depends on the cell).");

        double[,]? fileWh = null;
        int hidden = s.H ?? 3;
        if (s.WhFile is { } file)
        {
            fileWh = MatrixFile.Read(file);
            int rows = fileWh.GetLength(0), cols = fileWh.GetLength(1), k = TimeRecurrentBase<double>.GatesOf(cellTypes[0]);
            if (cols != k * rows)
                throw new UsageException(k == 1
                    ? $"--wh '{file}' is {rows}×{cols}; W_h of a {cell} cell must be square (H×H)."
                    : $"--wh '{file}' is {rows}×{cols}; W_h of a {cell} cell must be H×{k}H.");
            if (s.H is { } hh && hh != rows) throw new UsageException($"--wh '{file}' is {rows}×{cols} but --h is {hh}.");
            hidden = rows;
        }
        if (hidden > MaxHidden) throw new UsageException($"--h {hidden} is larger than this experiment allows ({MaxHidden}).");
        long elements = (long)s.N * s.T * hidden * 4;
        if (elements > MaxElements)
            throw new UsageException($"N·T·H = {s.N}·{s.T}·{hidden} is too large for this experiment (N·T·4H must stay ≤ {MaxElements:N0}).");
        var scales = s.Scales ?? (s.WhFile is null ? [1.0, 0.5] : [1.0]);
        if (fileWh is not null)
            foreach (var sc in scales) CheckFinite(fileWh, sc);

        var whOnly = new List<FlowCurve>();
        var layers = new List<FlowCurve>();
        foreach (var cellType in cellTypes)
        {
            // every cell starts from the same seed, so W_h's first gate block is the RNN's W_h and each cell's curves
            // equal those of a single-cell run
            var master = new Rng((ulong)s.Seed);
            var baseWh = fileWh ?? LayerExperiment.InitialWh(cellType, initKind, hidden, master);
            foreach (var sc in scales) CheckFinite(baseWh, sc);
            ulong layerSeed = master.NextUInt64();   // the same W_x and inputs for every scale
            if (TimeRecurrentBase<double>.GatesOf(cellType) == 1 && whOnly.Count == 0)
                foreach (var sc in scales)
                    whOnly.Add(SeedExperiment.Run(SeedExperiment.Scaled(baseWh, sc), s.N, s.T, sc, $"W_h only scale={Fmt.G3(sc)}"));
            string layerName = cellType switch { CellType.Rnn => "tanh rnn", CellType.RnnRelu => "relu rnn", _ => LayerExperiment.CellName(cellType) };
            foreach (var sc in scales)
                layers.Add(LayerExperiment.Run(cellType, SeedExperiment.Scaled(baseWh, sc), s.N, s.T, sc, $"{layerName} scale={Fmt.G3(sc)}", new Rng(layerSeed)));
        }

        string source = s.WhFile is null ? $"init={init} seed={s.Seed}" : $"W_h from {s.WhFile}";
        string title = $"unroll gradient-flow — N={s.N} H={hidden} T={s.T} cell={cell} {source}";
        var config = new { n = s.N, h = hidden, t = s.T, scales, cell, init, whFile = s.WhFile, seed = s.Seed };
        return new Result(title, [.. whOnly, .. layers], config);
    }

    private static void CheckFinite(double[,] w, double scale)
    {
        double maxAbs = 0;
        foreach (var v in w) maxAbs = Math.Max(maxAbs, Math.Abs(v));
        if (!double.IsFinite(maxAbs * scale))
            throw new UsageException($"--scale {scale.ToString("R", CultureInfo.InvariantCulture)} makes W_h non-finite (its largest entry is {maxAbs.ToString("G4", CultureInfo.InvariantCulture)} before scaling).");
    }

    /// <summary>Parses "1.0,0.5" / repeated values into finite positive-or-zero doubles; null when not given.</summary>
    public static double[]? ParseScales(string[]? raw)
    {
        if (raw is null || raw.Length == 0) return null;
        var list = new List<double>();
        foreach (var token in raw.SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
                throw new UsageException($"--scale: '{token}' is not a finite number.");
            list.Add(v);
        }
        if (list.Count == 0) throw new UsageException("--scale: no values given.");
        return [.. list];
    }
}
