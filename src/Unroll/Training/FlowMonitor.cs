using System.Numerics;
using Unroll.Flow;
using Unroll.IO;
using Unroll.Models;
using Unroll.Tensors;

namespace Unroll.Training;

/// <summary>
/// Attaches the gradient-flow recorder to a language model during ordinary training: every <see cref="Every"/>
/// updates (right after the backward pass, before clipping) it summarises each recurrent layer — gain from the last
/// to the first step, mean per-step factors, σ_max(W_h), saturation, verdict — and appends one row per layer to
/// <c>gradient-flow.csv</c> / <c>gradient-flow.jsonl</c>. Hook it with <c>trainer.AfterBackward = monitor.AfterBackward</c>.
/// </summary>
/// <remarks>
/// Cost: nothing between recordings (the recorder only reads the layers' per-step caches when called). One recording
/// costs well under one forward+backward (see docs/gradient-flow.md), so every 100 updates it is below 1 %.
/// </remarks>
public sealed class FlowMonitor<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Columns of gradient-flow.csv (flow quantities that do not apply to a cell are left empty).</summary>
    public static readonly string[] Columns =
    [
        "step", "layer", "cell", "verdict", "grad_first_over_last", "propagation_gain", "step_gain", "activation_factor",
        "matrix_factor", "cell_path_gain", "forget_gate", "carry_gain", "wh_path_gain", "sigma_max", "saturation", "mean_derivative",
    ];

    private readonly ILanguageModel<T> _model;
    private readonly MetricsLog? _log;
    private readonly GradientFlowRecorder<T> _recorder = new();
    private readonly FlowThresholds _thresholds;

    /// <param name="model">The model whose <see cref="ILanguageModel{T}.Recurrent"/> layers are recorded.</param>
    /// <param name="every">Record every this many updates (must be positive).</param>
    /// <param name="outDir">Where gradient-flow.csv/.jsonl go (null: keep the summaries in memory only).</param>
    /// <param name="append">Append to existing files (resume).</param>
    /// <param name="thresholds">Verdict thresholds (null: <see cref="FlowThresholds.Default"/>).</param>
    public FlowMonitor(ILanguageModel<T> model, long every, string? outDir, bool append, FlowThresholds? thresholds = null)
    {
        if (every <= 0) throw new ArgumentException($"FlowMonitor: every must be positive, got {every}.");
        _model = model;
        Every = every;
        _thresholds = thresholds ?? FlowThresholds.Default;
        if (outDir is not null) _log = new MetricsLog(outDir, Columns, append, baseName: "gradient-flow");
    }

    /// <summary>Recording interval in updates.</summary>
    public long Every { get; }
    /// <summary>Every recording made: (update, layer index, summary).</summary>
    public List<(long Step, int Layer, GradientFlowSummary Summary)> History { get; } = [];
    /// <summary>Path of gradient-flow.csv (null without an output directory).</summary>
    public string? CsvPath => _log?.CsvPath;

    /// <summary>The trainer's after-backward hook: records on updates 0, Every, 2·Every, …</summary>
    public void AfterBackward(long step, IReadOnlyList<Parameter<T>> parameters)
    {
        if (step % Every != 0) return;
        var layers = _model.Recurrent;
        for (int k = 0; k < layers.Count; k++)
        {
            var s = _recorder.Summarize(layers[k], thresholds: _thresholds);
            History.Add((step, k, s));
            if (_log is null) continue;
            var row = new Dictionary<string, object?>
            {
                ["step"] = step, ["layer"] = k, ["cell"] = s.Cell, ["verdict"] = s.Verdict.Kind.ToString().ToLowerInvariant(),
            };
            foreach (var (name, v) in s.ToMetrics(prefix: "")) if (name != "verdict") row[name] = v;
            _log.Write(row);
        }
    }

    /// <summary>The entries of the latest recording (one per layer; empty before the first).</summary>
    public IEnumerable<(long Step, int Layer, GradientFlowSummary Summary)> Latest =>
        History.Count == 0 ? [] : History.Where(h => h.Step == History[^1].Step);

    /// <summary>One line per layer on the latest recording, e.g. for the console at the end of training.</summary>
    public IEnumerable<string> LatestLines()
    {
        foreach (var (step, layer, s) in Latest)
            yield return $"gradient flow at update {step}, layer {layer} ({s.Cell}): {s.Verdict.Kind.ToString().ToLowerInvariant()} — "
                       + $"gain last→first step {Fmt.G3(s.PropagationGain)} over T={s.T}, {Fmt.G3(s.MeanStepGain)} per step, σ_max(W_h) {Fmt.G3(s.SigmaMax)}";
    }

    public void Dispose() => _log?.Dispose();
}
