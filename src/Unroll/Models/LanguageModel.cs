using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Unroll.Init;
using Unroll.Layers;
using Unroll.Tensors;

namespace Unroll.Models;

/// <summary>
/// The configuration of a language model (stored in checkpoints). <see cref="Model"/> is "rnnlm" (one recurrent
/// layer, no dropout) or "better-rnnlm" (≥ 2 layers, dropout, optional tying).
/// </summary>
public sealed record LanguageModelConfig
{
    public string Model { get; init; } = "rnnlm";
    /// <summary>rnn, rnn-relu, lstm or gru.</summary>
    public string Cell { get; init; } = "lstm";
    public int Vocab { get; init; }
    public int Embed { get; init; } = 100;
    public int Hidden { get; init; } = 100;
    public int Layers { get; init; } = 1;
    public double Dropout { get; init; }
    public bool Tie { get; init; }
    /// <summary>Recurrent-matrix initialisation: xavier (textbook), gaussian, orthogonal, identity.</summary>
    public string Init { get; init; } = "xavier";
    /// <summary>Standard deviation of the embedding initialisation (textbook: 1/100; PyTorch's nn.Embedding: 1).</summary>
    public double EmbedInitStd { get; init; } = 0.01;
    /// <summary>Scale (gain, or std for gaussian) of the recurrent-matrix initialisation.</summary>
    public double InitScale { get; init; } = 1.0;

    public static readonly string[] Cells = ["rnn", "rnn-relu", "lstm", "gru"];
    public static readonly string[] Inits = ["xavier", "gaussian", "orthogonal", "identity"];

    [System.Text.Json.Serialization.JsonIgnore]
    public CellType CellType => Cell switch
    {
        "rnn" => CellType.Rnn, "rnn-relu" => CellType.RnnRelu, "lstm" => CellType.Lstm, "gru" => CellType.Gru,
        _ => throw new ArgumentException($"Unknown --cell '{Cell}' (expected {string.Join(", ", Cells)})."),
    };

    [System.Text.Json.Serialization.JsonIgnore]
    public WeightInit RecurrentInit => Init switch
    {
        "xavier" => WeightInit.Xavier, "gaussian" => WeightInit.Gaussian, "orthogonal" => WeightInit.Orthogonal, "identity" => WeightInit.Identity,
        _ => throw new ArgumentException($"Unknown --init '{Init}' (expected {string.Join(", ", Inits)})."),
    };

    /// <summary>Checks every value and combination; throws ArgumentException with one clear line.</summary>
    public void Validate()
    {
        _ = CellType; _ = RecurrentInit;
        if (Model is not ("rnnlm" or "better-rnnlm")) throw new ArgumentException($"Unknown model '{Model}' (expected rnnlm or better-rnnlm).");
        if (Vocab < 2) throw new ArgumentException($"Vocabulary size must be ≥ 2, got {Vocab}.");
        if (Embed < 1 || Hidden < 1) throw new ArgumentException($"--embed and --hidden must be ≥ 1, got {Embed} and {Hidden}.");
        if (Model == "rnnlm" && Layers != 1) throw new ArgumentException($"rnnlm has exactly 1 recurrent layer (got --layers {Layers}); use --preset better-rnnlm for more.");
        if (Model == "better-rnnlm" && Layers < 2) throw new ArgumentException($"better-rnnlm needs --layers ≥ 2, got {Layers}.");
        if (!(EmbedInitStd > 0) || double.IsInfinity(EmbedInitStd)) throw new ArgumentException($"--embed-init-std must be > 0, got {EmbedInitStd}.");
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentException($"--dropout must be in [0, 1), got {Dropout}.");
        if (Model == "rnnlm" && Dropout != 0) throw new ArgumentException("rnnlm has no dropout; use --preset better-rnnlm for --dropout.");
        if (Tie && Model == "rnnlm") throw new ArgumentException("--tie needs --preset better-rnnlm.");
        if (Tie && Embed != Hidden) throw new ArgumentException($"--tie needs --embed equal to --hidden (got embed {Embed}, hidden {Hidden}): the output weight is the embedding matrix transposed.");
    }

    public JsonObject ToJson() => (JsonObject)JsonSerializer.SerializeToNode(this)!;
    public static LanguageModelConfig FromJson(JsonObject o)
    {
        try { return o.Deserialize<LanguageModelConfig>() ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new InvalidDataException($"Model configuration is not valid: {e.Message.Split('\n')[0]}"); }
    }
}

/// <summary>
/// A next-token language model over integer ids, trained by truncated BPTT: the recurrent layers are stateful,
/// so consecutive <see cref="Forward"/> calls continue the same streams until <see cref="ResetState"/>.
/// </summary>
public interface ILanguageModel<T> : IModule<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    LanguageModelConfig Config { get; }
    /// <summary>Dropout on (training) or off (evaluation, generation).</summary>
    bool Training { get; set; }
    /// <summary>The model's own randomness (dropout masks); its state is saved in checkpoints.</summary>
    Rng Rng { get; }
    /// <summary>The recurrent layers, bottom to top (for carried state and the gradient-flow instrument).</summary>
    IReadOnlyList<IRecurrentLayer<T>> Recurrent { get; }

    /// <summary>
    /// Mean cross-entropy of predicting <paramref name="ts"/> from <paramref name="xs"/> (both N·T ids, row-major
    /// (N,T)). With <paramref name="withGrad"/>, also prepares <see cref="Backward"/>.
    /// </summary>
    T Forward(ReadOnlySpan<int> xs, ReadOnlySpan<int> ts, int n, int t, bool withGrad = true);
    /// <summary>Adds ∂loss/∂θ of the last Forward (withGrad) into every parameter's Grad.</summary>
    void Backward();
    /// <summary>Logits (N,T,V) for <paramref name="xs"/> (advances the carried state; a workspace).</summary>
    Tensor<T> Logits(ReadOnlySpan<int> xs, int n, int t);
    /// <summary>Forget the carried state of every layer.</summary>
    void ResetState();
}

/// <summary>Builds models from a configuration; saves/restores the carried recurrent state.</summary>
public static class LanguageModels
{
    /// <summary>A freshly initialised model (weights from <paramref name="rng"/>; the model forks its own dropout Rng from it).</summary>
    public static ILanguageModel<T> Create<T>(LanguageModelConfig config, Rng rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        config.Validate();
        return config.Model == "rnnlm" ? new Rnnlm<T>(config, rng) : new BetterRnnlm<T>(config, rng);
    }

    /// <summary>Copies of every layer's carried state (h, and c for LSTM), or nulls where none is carried.</summary>
    public static List<(Tensor<T>? H, Tensor<T>? C)> SaveState<T>(ILanguageModel<T> model) where T : unmanaged, IFloatingPointIeee754<T>
        => model.Recurrent.Select(l => (l.State?.Clone(), l.CellState?.Clone())).ToList();

    /// <summary>Restores state from <see cref="SaveState{T}"/> (a layer with no saved h is reset).</summary>
    public static void RestoreState<T>(ILanguageModel<T> model, List<(Tensor<T>? H, Tensor<T>? C)> state) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < model.Recurrent.Count; i++)
        {
            var l = model.Recurrent[i];
            if (state[i].H is { } h) l.SetState(h, state[i].C); else l.ResetState();
        }
    }

    /// <summary>Named state tensors for a checkpoint: "{layer}.h", "{layer}.c".</summary>
    public static IEnumerable<(string Name, Tensor<T> Value)> StateTensors<T>(ILanguageModel<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < model.Recurrent.Count; i++)
        {
            var l = model.Recurrent[i];
            if (l.State is { } h) yield return ($"layer{i}.h", h.Clone());
            if (l.CellState is { } c) yield return ($"layer{i}.c", c.Clone());
        }
    }

    /// <summary>Restores named state tensors (layers without an entry are reset).</summary>
    public static void SetStateTensors<T>(ILanguageModel<T> model, Func<string, Tensor<T>?> lookup) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < model.Recurrent.Count; i++)
        {
            var l = model.Recurrent[i];
            var h = lookup($"layer{i}.h");
            if (h is null) { l.ResetState(); continue; }
            if (h.Rank != 2 || h.Dim(1) != l.HiddenSize) throw new InvalidDataException($"Carried state layer{i}.h has shape {h.ShapeString}, expected (N, {l.HiddenSize}).");
            l.SetState(h, lookup($"layer{i}.c"));
        }
    }
}
