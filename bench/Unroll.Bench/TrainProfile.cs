using System.Diagnostics;
using System.Globalization;
using Unroll.Data;
using Unroll.Layers;
using Unroll.Models;
using Unroll.Nodes;
using Unroll.Optim;
using Unroll.Tensors;

namespace Unroll.Bench;

/// <summary>
/// Time per named phase, accumulated over iterations (no allocation per mark once a phase exists): wall clock, or with
/// <c>cpuClock</c> the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID; meaningful with --threads 1, where all
/// work runs on this thread, and robust when other processes share the cores).
/// </summary>
internal sealed unsafe class PhaseTimer(bool cpuClock)
{
    private readonly Dictionary<string, long> _ticks = [];
    private readonly List<string> _order = [];
    private long _last;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, long* ts);

    private long Now()
    {
        if (!cpuClock) return Stopwatch.GetTimestamp();
        long* ts = stackalloc long[2];
        ClockGetTime(3 /* CLOCK_THREAD_CPUTIME_ID */, ts);
        return (ts[0] * 1_000_000_000 + ts[1]) * Stopwatch.Frequency / 1_000_000_000;
    }

    public string Clock => cpuClock ? "thread CPU time" : "wall clock";

    /// <summary>Starts timing the next phase from now.</summary>
    public void Start() => _last = Now();

    /// <summary>Charges the time since the last mark to <paramref name="phase"/>.</summary>
    public void Mark(string phase)
    {
        long now = Now();
        if (!_ticks.TryGetValue(phase, out long t)) _order.Add(phase);
        _ticks[phase] = t + (now - _last);
        _last = now;
    }

    public void Reset()
    {
        foreach (var k in _order) _ticks[k] = 0;
    }

    public Dictionary<string, double> PerIteration(int iters) =>
        _order.ToDictionary(k => k, k => Math.Round(_ticks[k] * 1e3 / Stopwatch.Frequency / iters, 3));

    public void Print(int iters, double medianMs)
    {
        var per = PerIteration(iters);
        double total = per.Values.Sum();
        Console.WriteLine($"# profile ({Clock}): mean ms per iteration by phase over {iters} iterations (sum {total:F1} ms; median iteration {medianMs:F1} ms wall)");
        foreach (var (k, v) in per)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"#   {k,-14} {v,9:F2} ms  {100 * v / total,5:F1} %"));
    }
}

/// <summary>
/// The profiled form of an LM update: the model's own recurrent layers and parameters, composed in the same order as
/// <see cref="Rnnlm{T}"/> / <see cref="BetterRnnlm{T}"/> (embedding → [dropout] → layers [→ dropout] → output affine
/// → fused softmax-CE-gradient) with the same node classes, and a <see cref="PhaseTimer"/> mark after every phase.
/// </summary>
internal sealed class ProfiledLm
{
    private readonly PhaseTimer _timer;
    private readonly TimeEmbedding<float> _embed;
    private readonly IReadOnlyList<IRecurrentLayer<float>> _layers;
    private readonly TimeDropout<float>[] _drops;
    private readonly TimeAffine<float> _out;
    private readonly TimeSoftmaxWithLoss<float> _loss = new();
    private readonly string[] _fwdNames, _bwdNames;

    public ProfiledLm(ILanguageModel<float> model, PhaseTimer timer)
    {
        _timer = timer;
        var c = model.Config;
        var byName = model.Parameters.ToDictionary(p => p.Name);
        var embedW = byName["embed.W"];
        _embed = new TimeEmbedding<float>(embedW);
        _layers = model.Recurrent;
        _out = c.Tie ? new TimeAffine<float>(embedW, byName["out.b"], transposeW: true) : new TimeAffine<float>(byName["out.W"], byName["out.b"]);
        _drops = c.Model == "better-rnnlm" ? [.. Enumerable.Range(0, c.Layers + 1).Select(_ => new TimeDropout<float>(c.Dropout, model.Rng))] : [];
        _fwdNames = [.. Enumerable.Range(0, _layers.Count).Select(k => $"rnn{k}.fwd")];
        _bwdNames = [.. Enumerable.Range(0, _layers.Count).Select(k => $"rnn{k}.bwd")];
    }

    public double Step(BpttBatcher batcher, int k, int[] xs, int[] ts, int n, int t, List<Parameter<float>> ps, Sgd<float> opt)
    {
        var tm = _timer;
        tm.Start();
        batcher.Fill(k, xs, ts); tm.Mark("fill");
        ParameterSweep.Zero(ps); tm.Mark("zero_grad");                              // = the model's ZeroGrad
        var x = _embed.Forward(xs, n, t); tm.Mark("embed.fwd");
        if (_drops.Length > 0) { x = _drops[0].Forward(x); tm.Mark("dropout.fwd"); }
        for (int l = 0; l < _layers.Count; l++)
        {
            x = _layers[l].Forward(x); tm.Mark(_fwdNames[l]);
            if (_drops.Length > 0) { x = _drops[l + 1].Forward(x); tm.Mark("dropout.fwd"); }
        }
        var logits = _out.Forward(x); tm.Mark("out.fwd");
        float loss = _loss.ForwardBackward(logits, ts, 1f, out var dlogits, inPlace: true); tm.Mark("softmax_ce");   // as the models
        var d = _out.Backward(dlogits); tm.Mark("out.bwd");
        for (int l = _layers.Count - 1; l >= 0; l--)
        {
            if (_drops.Length > 0) { d = _drops[l + 1].Backward(d); tm.Mark("dropout.bwd"); }
            d = _layers[l].Backward(d); tm.Mark(_bwdNames[l]);
        }
        if (_drops.Length > 0) { d = _drops[0].Backward(d); tm.Mark("dropout.bwd"); }
        _embed.Backward(d); tm.Mark("embed.bwd");
        double norm = GradClip.GlobalNorm(ps); tm.Mark("grad_norm");                 // as Trainer.DoStep:
        opt.Step(ps, GradClip.ClipCoefficient(norm, 0.25)); tm.Mark("clip+sgd");      // the clip scale inside the SGD pass
        return loss;
    }
}
