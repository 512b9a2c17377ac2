using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Unroll.Optim;
using Unroll.Tensors;

namespace Unroll.IO;

/// <summary>
/// The JSON part of a checkpoint: configuration, vocabulary, progress, randomness and optimizer/schedule scalars.
/// (The tensors — weights, optimizer slots, carried recurrent state — are safetensors entries.)
/// </summary>
public sealed class CheckpointMeta
{
    /// <summary>Format version of this layout.</summary>
    public int Format { get; set; } = 1;
    /// <summary>The model configuration (owned by the model that wrote it).</summary>
    public JsonObject Config { get; set; } = [];
    /// <summary>"word" or "char".</summary>
    public string VocabKind { get; set; } = "word";
    /// <summary>Tokens in id order.</summary>
    public string[] Vocab { get; set; } = [];
    /// <summary>Updates attempted so far (the next iteration's 0-based index).</summary>
    public long Step { get; set; }
    /// <summary>Current epoch (0-based) and the next iteration within it.</summary>
    public int Epoch { get; set; }
    public int Iteration { get; set; }
    /// <summary>State of the model's randomness (dropout masks), from <see cref="Rng.GetState"/>.</summary>
    public ulong[]? ModelRng { get; set; }
    public string OptimizerKind { get; set; } = "sgd";
    public double LearningRate { get; set; }
    public long OptimizerSteps { get; set; }
    public Dictionary<string, double> OptimizerHyper { get; set; } = [];
    public string ScheduleKind { get; set; } = "constant";
    public Dictionary<string, double> ScheduleState { get; set; } = [];
    /// <summary>Training settings (batch, bptt, clip, ... ) so a resume continues with the same ones.</summary>
    public JsonObject Training { get; set; } = [];
    /// <summary>Best validation score so far (+∞ if none) and counters.</summary>
    public double BestValid { get; set; } = double.PositiveInfinity;
    public long SkippedSteps { get; set; }
}

/// <summary>
/// Checkpoints as ONE safetensors file (readable by PyTorch's <c>safetensors</c>): model weights under their
/// parameter names, optimizer slots as <c>optim/{slot}:{param}</c>, carried recurrent state as <c>state/{name}</c>,
/// and in <c>__metadata__</c>: <c>unroll.checkpoint</c> = the <see cref="CheckpointMeta"/> JSON and
/// <c>unroll.sha256</c> = SHA-256 of that JSON followed by the data section (so a flipped bit anywhere is detected).
/// Written atomically (temporary file, flush to disk, rename): a crash never leaves a half-written checkpoint.
/// </summary>
public static class Checkpoint
{
    public const string OptimPrefix = "optim/", StatePrefix = "state/";
    private const string MetaKey = "unroll.checkpoint", HashKey = "unroll.sha256";

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes a checkpoint atomically.</summary>
    public static void Save<T>(string path, CheckpointMeta meta, IReadOnlyList<Parameter<T>> parameters,
                               OptimizerState<T>? optimizer, IEnumerable<(string Name, Tensor<T> Value)> states)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var entries = new List<SafeTensorsWriter.Entry>();
        var seen = new HashSet<Parameter<T>>(ReferenceEqualityComparer.Instance);
        foreach (var p in parameters)
            if (seen.Add(p)) entries.Add(SafeTensorsWriter.FromTensor(p.Name, p.Value));
        if (optimizer is not null)
        {
            meta.OptimizerKind = optimizer.Kind;
            meta.LearningRate = optimizer.LearningRate;
            meta.OptimizerSteps = optimizer.Steps;
            meta.OptimizerHyper = optimizer.Hyperparameters;
            foreach (var (k, v) in optimizer.Slots) entries.Add(SafeTensorsWriter.FromTensor(OptimPrefix + k, v));
        }
        foreach (var (name, v) in states) entries.Add(SafeTensorsWriter.FromTensor(StatePrefix + name, v));

        string json = JsonSerializer.Serialize(meta, Json);
        var dataOnly = SafeTensorsWriter.Serialize(entries);                // to hash the data section
        int dataStart = 8 + (int)BitConverter.ToUInt64(dataOnly, 0);
        string hash = Hash(json, dataOnly.AsSpan(dataStart));
        var bytes = SafeTensorsWriter.Serialize(entries, new Dictionary<string, string> { ["format"] = "pt", [MetaKey] = json, [HashKey] = hash });
        AtomicFile.Write(path, s => s.Write(bytes));
    }

    private static string Hash(string json, ReadOnlySpan<byte> data)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(Encoding.UTF8.GetBytes(json));
        h.AppendData(data);
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    /// <summary>Reads and verifies a checkpoint; anything wrong is one <see cref="InvalidDataException"/> line naming the file.</summary>
    public static LoadedCheckpoint Load(string path)
    {
        if (Directory.Exists(path)) throw new InvalidDataException($"{path} is a directory, expected a checkpoint file.");
        if (!File.Exists(path)) throw new FileNotFoundException($"Checkpoint not found: {path}", path);
        byte[] bytes = File.ReadAllBytes(path);
        SafeTensorsFile f;
        try { f = SafeTensorsFile.Parse(bytes, path); }
        catch (SafeTensorsFormatException e) { throw new InvalidDataException($"{path} is not a valid checkpoint (corrupt or truncated): {StripPrefix(e.Message, path)}"); }
        if (!f.Metadata.TryGetValue(MetaKey, out var json) || !f.Metadata.TryGetValue(HashKey, out var hash))
            throw new InvalidDataException($"{path} is a safetensors file but not an Unroll checkpoint (no '{MetaKey}' metadata).");
        int dataStart = 8 + (int)BitConverter.ToUInt64(bytes, 0);
        if (!string.Equals(Hash(json, bytes.AsSpan(dataStart)), hash, StringComparison.Ordinal))
            throw new InvalidDataException($"{path} is corrupt: its SHA-256 checksum does not match the contents.");
        CheckpointMeta meta;
        try { meta = JsonSerializer.Deserialize<CheckpointMeta>(json, Json) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: checkpoint metadata is not valid ({e.Message.Split('\n')[0]})."); }
        if (meta.Format != 1) throw new InvalidDataException($"{path}: checkpoint format {meta.Format} is not supported (expected 1).");
        return new LoadedCheckpoint(path, meta, f);
    }

    private static string StripPrefix(string msg, string path) => msg.StartsWith(path + ": ", StringComparison.Ordinal) ? msg[(path.Length + 2)..] : msg;
}

/// <summary>A verified checkpoint: metadata plus typed access to its tensors.</summary>
public sealed class LoadedCheckpoint(string path, CheckpointMeta meta, SafeTensorsFile file)
{
    public string Path { get; } = path;
    public CheckpointMeta Meta { get; } = meta;
    public SafeTensorsFile File { get; } = file;

    /// <summary>Copies every parameter's value from the checkpoint (names and shapes must match; extra or missing → error).</summary>
    public void LoadParameters<T>(IReadOnlyList<Parameter<T>> parameters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in parameters)
        {
            if (!names.Add(p.Name)) continue;
            if (!File.Contains(p.Name)) throw new InvalidDataException($"{Path}: checkpoint has no weight '{p.Name}' (was it written by a different model?).");
            Tensor<T> t;
            try { t = File.GetTensor<T>(p.Name, p.Value.Shape); }
            catch (SafeTensorsFormatException e) { throw new InvalidDataException($"{Path}: {e.Message.Replace("safetensors: ", "")}"); }
            p.Value.CopyFrom(t);
        }
        var extra = File.Tensors.Select(t => t.Name).Where(n => !n.StartsWith(Checkpoint.OptimPrefix, StringComparison.Ordinal)
            && !n.StartsWith(Checkpoint.StatePrefix, StringComparison.Ordinal) && !names.Contains(n)).ToList();
        if (extra.Count > 0) throw new InvalidDataException($"{Path}: checkpoint has weights the model does not: {string.Join(", ", extra.Take(5))}.");
    }

    /// <summary>The optimizer state stored in the checkpoint.</summary>
    public OptimizerState<T> OptimizerState<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var slots = new Dictionary<string, Tensor<T>>();
        foreach (var t in File.Tensors)
            if (t.Name.StartsWith(Checkpoint.OptimPrefix, StringComparison.Ordinal))
                slots[t.Name[Checkpoint.OptimPrefix.Length..]] = File.GetTensor<T>(t.Name);
        return new OptimizerState<T> { Kind = Meta.OptimizerKind, LearningRate = Meta.LearningRate, Steps = Meta.OptimizerSteps, Hyperparameters = Meta.OptimizerHyper, Slots = slots };
    }

    /// <summary>A carried-state tensor, or null if the checkpoint has none under that name.</summary>
    public Tensor<T>? State<T>(string name) where T : unmanaged, IFloatingPointIeee754<T>
        => File.Contains(Checkpoint.StatePrefix + name) ? File.GetTensor<T>(Checkpoint.StatePrefix + name) : null;
}
