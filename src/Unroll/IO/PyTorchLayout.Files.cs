using System.Numerics;
using Unroll.Tensors;

namespace Unroll.IO;

public static partial class PyTorchLayout
{
    /// <summary>The file name of the weights in an export directory.</summary>
    public const string WeightsFile = "model.safetensors";
    /// <summary>The file name of the configuration sidecar in an export directory.</summary>
    public const string ConfigFile = "config.json";

    /// <summary>
    /// The safetensors bytes of <paramref name="w"/> in PyTorch's layout: float32, tensors in ordinal name order,
    /// metadata <c>{"format": "pt"}</c> (what PyTorch's own safetensors writer records). Deterministic: the same
    /// weights give the same bytes.
    /// </summary>
    public static byte[] ToSafeTensors<T>(LmWeights<T> w) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var entries = Export(w).Select(kv => SafeTensorsWriter.FromTensor(kv.Key, kv.Value)).ToList();
        return SafeTensorsWriter.Serialize(entries, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>Writes <see cref="WeightsFile"/> and <see cref="ConfigFile"/> into <paramref name="dir"/> (created if
    /// missing), each atomically.</summary>
    public static void WriteDirectory<T>(LmWeights<T> w, string dir) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var bytes = ToSafeTensors(w);
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllBytes(Path.Combine(dir, WeightsFile), bytes);
        AtomicFile.WriteAllText(Path.Combine(dir, ConfigFile), w.Config.ToJson());
    }

    /// <summary>
    /// Reads a safetensors file in PyTorch's layout (any float dtype the reader converts: F32, F64, F16, BF16).
    /// The file is validated by <see cref="SafeTensorsFile"/> (a malformed file → <see cref="SafeTensorsFormatException"/>);
    /// <paramref name="config"/> null → inferred from names and shapes (<see cref="InferConfig"/>); then
    /// <see cref="Import{T}"/> (missing/extra/wrong-shape tensors → <see cref="InteropFormatException"/>).
    /// </summary>
    public static LmWeights<T> ReadSafeTensors<T>(string path, LmConfig? config = null) where T : unmanaged, IFloatingPointIeee754<T>
        => FromSafeTensors<T>(SafeTensorsFile.Read(path), config);

    /// <summary>As <see cref="ReadSafeTensors{T}"/>, from an already parsed file.</summary>
    public static LmWeights<T> FromSafeTensors<T>(SafeTensorsFile file, LmConfig? config = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var tensors = new Dictionary<string, Tensor<float>>(StringComparer.Ordinal);
        IReadOnlyDictionary<string, int[]>? expected = config is null ? null : Shapes(config.Validate());
        foreach (var info in file.Tensors)
        {
            // an unexpected tensor is reported by name (by Import) whatever its dtype; an expected one must be float
            if (expected is not null && !expected.ContainsKey(info.Name))
            {
                tensors[info.Name] = new Tensor<float>(0);
                continue;
            }
            tensors[info.Name] = file.GetTensor<float>(info.Name);
        }
        var c = config ?? InferConfig(tensors);
        return Import<T>(c, tensors);
    }

    /// <summary>Reads a sidecar written by <see cref="WriteDirectory{T}"/> (or by hand).</summary>
    public static LmConfig ReadConfig(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Config sidecar not found: {path}", path);
        return LmConfig.FromJson(File.ReadAllText(path));
    }
}
