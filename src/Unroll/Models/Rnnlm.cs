using System.Numerics;
using Unroll.Init;
using Unroll.Layers;
using Unroll.Nodes;
using Unroll.Tensors;

namespace Unroll.Models;

/// <summary>
/// The textbook's Rnnlm (ch. 6): TimeEmbedding (V,D) → one stateful recurrent layer (rnn, rnn-relu, lstm or gru;
/// D→H) → TimeAffine (H,V) → TimeSoftmaxWithLoss. Shapes: ids (N,T) → embeddings (N,T,D) → hs (N,T,H) → logits (N,T,V).
/// Initialisation as the textbook: embedding N(0,1)/100 (<see cref="LanguageModelConfig.EmbedInitStd"/>), recurrent weights by <see cref="LanguageModelConfig.Init"/> (textbook
/// N(0,1)/√fan_in), output weight N(0,1)/√H, biases 0.
/// Parameters: embed.W (V,D), rnn0.Wx/Wh/b (+bhN for GRU), out.W (H,V), out.b (V).
/// </summary>
public sealed class Rnnlm<T> : ILanguageModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly TimeEmbedding<T> _embed;
    private readonly IRecurrentLayer<T> _rnn;
    private readonly TimeAffine<T> _out;
    private readonly TimeSoftmaxWithLoss<T> _loss = new();
    private Tensor<T>? _dlogits;

    public Rnnlm(LanguageModelConfig config, Rng rng)
    {
        config.Validate();
        Config = config;
        _embed = new TimeEmbedding<T>(new Parameter<T>("embed.W", LmInit.Gaussian<T>(rng, config.EmbedInitStd, config.Vocab, config.Embed)));
        _rnn = RecurrentLayers.Create<T>(config.CellType, config.Embed, config.Hidden, rng,
            new RecurrentInit { Recurrent = config.RecurrentInit, RecurrentScale = config.InitScale }, stateful: true, name: "rnn0");
        _out = new TimeAffine<T>(new Parameter<T>("out.W", LmInit.Gaussian<T>(rng, 1 / Math.Sqrt(config.Hidden), config.Hidden, config.Vocab)),
                                 new Parameter<T>("out.b", new Tensor<T>(config.Vocab)));
        Rng = rng.Fork();
    }

    public LanguageModelConfig Config { get; }
    public bool Training { get; set; } = true;
    public Rng Rng { get; }
    public IReadOnlyList<IRecurrentLayer<T>> Recurrent => [_rnn];
    /// <summary>embed.W, the layer's parameters, out.W, out.b (a cached array: enumerating it allocates nothing per update).</summary>
    public IEnumerable<Parameter<T>> Parameters => _params ??= [.. _embed.Parameters, .. _rnn.Parameters, .. _out.Parameters];
    private Parameter<T>[]? _params;

    public T Forward(ReadOnlySpan<int> xs, ReadOnlySpan<int> ts, int n, int t, bool withGrad = true)
    {
        var logits = Logits(xs, n, t);
        if (!withGrad) { _dlogits = null; return _loss.Forward(logits, ts); }
        // Loss and dlogits in one pass, written over the logits (the output layer's workspace; nothing reads the
        // logits after this): one N·T·V buffer and its memory traffic less.
        return _loss.ForwardBackward(logits, ts, T.One, out _dlogits, inPlace: true);
    }

    public Tensor<T> Logits(ReadOnlySpan<int> xs, int n, int t)
    {
        var e = _embed.Forward(xs, n, t);                                       // (N,T,D)
        var hs = _rnn.Forward(e);                                               // (N,T,H)
        return _out.Forward(hs);                                                // (N,T,V)
    }

    public void Backward()
    {
        var dl = _dlogits ?? throw new InvalidOperationException("Rnnlm.Backward needs a Forward with withGrad first.");
        var dhs = _out.Backward(dl);                                            // inverts logits = hs·W + b
        var de = _rnn.Backward(dhs);                                            // inverts hs = rnn(e)
        _embed.Backward(de);                                                    // inverts e = W[xs]
        _dlogits = null;
    }

    public void ResetState() => _rnn.ResetState();
}

/// <summary>
/// The textbook's BetterRnnlm (ch. 6), generalised to L ≥ 2 layers and any cell: TimeEmbedding (V,D) → Dropout →
/// [recurrent layer → Dropout] × L → TimeAffine → TimeSoftmaxWithLoss. With <see cref="LanguageModelConfig.Tie"/> the output
/// layer uses the embedding matrix transposed (needs D = H) plus its own bias. Dropout masks come from the model's
/// own <see cref="Rng"/> and only when <see cref="Training"/>.
/// Parameters: embed.W (V,D), rnn{k}.Wx/Wh/b (+bhN), out.W (H,V) unless tied, out.b (V).
/// </summary>
public sealed class BetterRnnlm<T> : ILanguageModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly TimeEmbedding<T> _embed;
    private readonly IRecurrentLayer<T>[] _layers;
    private readonly TimeDropout<T>[] _drops;            // _drops[0] after the embedding, _drops[k+1] after layer k
    private readonly TimeAffine<T> _out;
    private readonly TimeSoftmaxWithLoss<T> _loss = new();
    private Tensor<T>? _dlogits;
    private bool _training = true;

    public BetterRnnlm(LanguageModelConfig config, Rng rng)
    {
        config.Validate();
        Config = config;
        var embedW = new Parameter<T>("embed.W", LmInit.Gaussian<T>(rng, config.EmbedInitStd, config.Vocab, config.Embed));
        _embed = new TimeEmbedding<T>(embedW);
        var init = new RecurrentInit { Recurrent = config.RecurrentInit, RecurrentScale = config.InitScale };
        _layers = new IRecurrentLayer<T>[config.Layers];
        for (int k = 0; k < config.Layers; k++)
            _layers[k] = RecurrentLayers.Create<T>(config.CellType, k == 0 ? config.Embed : config.Hidden, config.Hidden, rng, init, stateful: true, name: $"rnn{k}");
        var b = new Parameter<T>("out.b", new Tensor<T>(config.Vocab));
        _out = config.Tie
            ? new TimeAffine<T>(embedW, b, transposeW: true)
            : new TimeAffine<T>(new Parameter<T>("out.W", LmInit.Gaussian<T>(rng, 1 / Math.Sqrt(config.Hidden), config.Hidden, config.Vocab)), b);
        Rng = rng.Fork();
        _drops = new TimeDropout<T>[config.Layers + 1];
        for (int k = 0; k < _drops.Length; k++) _drops[k] = new TimeDropout<T>(config.Dropout, Rng);
    }

    public LanguageModelConfig Config { get; }
    public Rng Rng { get; }
    public IReadOnlyList<IRecurrentLayer<T>> Recurrent => _layers;

    public bool Training
    {
        get => _training;
        set { _training = value; foreach (var d in _drops) d.Training = value; }
    }

    /// <summary>Distinct parameters: a tied embedding appears once (a cached array: enumerating it allocates nothing per update).</summary>
    public IEnumerable<Parameter<T>> Parameters => _params ??=
        [.. _embed.Parameters.Concat(_layers.SelectMany(l => l.Parameters))
            .Concat(Config.Tie ? _out.Parameters.Where(p => !ReferenceEquals(p, _embed.W)) : _out.Parameters)];
    private Parameter<T>[]? _params;

    public T Forward(ReadOnlySpan<int> xs, ReadOnlySpan<int> ts, int n, int t, bool withGrad = true)
    {
        var logits = Logits(xs, n, t);
        if (!withGrad) { _dlogits = null; return _loss.Forward(logits, ts); }
        return _loss.ForwardBackward(logits, ts, T.One, out _dlogits, inPlace: true);   // over the logits, as in Rnnlm
    }

    public Tensor<T> Logits(ReadOnlySpan<int> xs, int n, int t)
    {
        var x = _drops[0].Forward(_embed.Forward(xs, n, t));                    // (N,T,D)
        for (int k = 0; k < _layers.Length; k++)
            x = _drops[k + 1].Forward(_layers[k].Forward(x));                   // (N,T,H)
        return _out.Forward(x);                                                 // (N,T,V)
    }

    public void Backward()
    {
        var d = _out.Backward(_dlogits ?? throw new InvalidOperationException("BetterRnnlm.Backward needs a Forward with withGrad first."));
        for (int k = _layers.Length - 1; k >= 0; k--)
            d = _layers[k].Backward(_drops[k + 1].Backward(d));                 // inverts x = drop(layer_k(x))
        _embed.Backward(_drops[0].Backward(d));                                 // inverts x = drop(W[xs]); tied W gets both gradients
        _dlogits = null;
    }

    public void ResetState() { foreach (var l in _layers) l.ResetState(); }
}

internal static class LmInit
{
    /// <summary>N(0, std²) from <paramref name="rng"/>, row-major.</summary>
    public static Tensor<T> Gaussian<T>(Rng rng, double std, params int[] shape) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var t = new Tensor<T>(shape);
        var s = t.Span;
        for (int i = 0; i < s.Length; i++) s[i] = T.CreateTruncating(rng.NextGaussian() * std);
        return t;
    }
}
