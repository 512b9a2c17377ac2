using System.Globalization;
using System.Text.Json;
using Unroll.Tensors;

namespace Unroll.Tests;

/// <summary>
/// One tensor of a PyTorch fixture: its shape and its flat row-major data, either float32 (<see cref="Data"/>) or
/// int64 (<see cref="Ints"/>; token ids and targets).
/// </summary>
public sealed class FixtureTensor
{
    public required string Name { get; init; }
    public required int[] Shape { get; init; }
    public float[]? Data { get; init; }
    public long[]? Ints { get; init; }

    public int Length => Data?.Length ?? Ints!.Length;

    /// <summary>The float data as a tensor of <typeparamref name="T"/> with the fixture's shape (a copy).</summary>
    public Tensor<T> ToTensor<T>() where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var d = Floats;
        var t = new Tensor<T>(Shape.Length == 0 ? [1] : Shape);
        var s = t.Span;
        for (int i = 0; i < d.Length; i++) s[i] = T.CreateTruncating(d[i]);
        return t;
    }

    /// <summary>
    /// A rank-2 tensor transposed (a copy): PyTorch stores weights as (out × in), Unroll as (in × out).
    /// </summary>
    public Tensor<T> Transposed<T>() where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (Shape.Length != 2) throw new InvalidOperationException($"{Name}: cannot transpose shape {Tensor<float>.Format(Shape)}.");
        int r = Shape[0], c = Shape[1];
        var d = Floats;
        var t = new Tensor<T>(c, r);
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++)
                t[j, i] = T.CreateTruncating(d[i * c + j]);
        return t;
    }

    /// <summary>The float data (throws for an integer tensor).</summary>
    public float[] Floats => Data ?? throw new InvalidOperationException($"{Name} is an int64 tensor.");

    /// <summary>The integer data as int (token ids, targets).</summary>
    public int[] IntArray => Ints is null
        ? throw new InvalidOperationException($"{Name} is a float32 tensor.")
        : Array.ConvertAll(Ints, v => checked((int)v));

    /// <summary>The single value of a scalar (shape []) tensor.</summary>
    public float Scalar => Floats.Length == 1 ? Floats[0] : throw new InvalidOperationException($"{Name} is not a scalar.");
}

/// <summary>
/// Loader for the "unroll-torch-fixture" JSON files written by <c>bench/reference/make_parity_fixtures.py</c>
/// (format documented at the top of that script): <c>config</c> plus four groups of named tensors —
/// <c>params</c> (PyTorch state_dict names and layouts), <c>inputs</c>, <c>outputs</c>, <c>grads</c>
/// (d loss / d input-or-param, same names). float32 numbers are parsed directly as float32, which gives back
/// PyTorch's exact bits.
/// </summary>
public sealed class TorchFixture
{
    public const string FormatName = "unroll-torch-fixture";

    public required string Name { get; init; }
    public required string Path { get; init; }
    /// <summary>The configuration object (PyTorch argument names, plus N, T, gate_order, ...).</summary>
    public required JsonElement Config { get; init; }
    public required IReadOnlyDictionary<string, FixtureTensor> Params { get; init; }
    public required IReadOnlyDictionary<string, FixtureTensor> Inputs { get; init; }
    public required IReadOnlyDictionary<string, FixtureTensor> Outputs { get; init; }
    public required IReadOnlyDictionary<string, FixtureTensor> Grads { get; init; }

    /// <summary>The directory holding the fixtures of <paramref name="group"/> in the test output dir.</summary>
    public static string Directory(string group) => System.IO.Path.Combine(AppContext.BaseDirectory, "Fixtures", group);

    /// <summary>Loads <c>Fixtures/&lt;group&gt;/&lt;name&gt;.json</c> from the test output directory.</summary>
    public static TorchFixture Load(string group, string name) => LoadFile(System.IO.Path.Combine(Directory(group), name + ".json"));

    /// <summary>The fixture names (file names without .json) of a group, sorted.</summary>
    public static IEnumerable<string> Names(string group) =>
        System.IO.Directory.GetFiles(Directory(group), "*.json").Select(p => System.IO.Path.GetFileNameWithoutExtension(p)!).Order(StringComparer.Ordinal);

    public static TorchFixture LoadFile(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        string format = root.GetProperty("format").GetString() ?? "";
        if (format != FormatName || root.GetProperty("version").GetInt32() != 1)
            throw new InvalidDataException($"{path}: not an {FormatName} version 1 file.");
        return new TorchFixture
        {
            Name = root.GetProperty("name").GetString()!,
            Path = path,
            Config = root.GetProperty("config").Clone(),
            Params = Group(root, "params"),
            Inputs = Group(root, "inputs"),
            Outputs = Group(root, "outputs"),
            Grads = Group(root, "grads"),
        };
    }

    /// <summary>An int from the config.</summary>
    public int ConfigInt(string key) => Config.GetProperty(key).GetInt32();
    /// <summary>A string from the config (null when JSON null).</summary>
    public string? ConfigString(string key) => Config.GetProperty(key).GetString();

    private static Dictionary<string, FixtureTensor> Group(JsonElement root, string group)
    {
        var dict = new Dictionary<string, FixtureTensor>(StringComparer.Ordinal);
        foreach (var prop in root.GetProperty(group).EnumerateObject())
            dict.Add(prop.Name, ParseTensor(group + "." + prop.Name, prop.Value));
        return dict;
    }

    private static FixtureTensor ParseTensor(string name, JsonElement e)
    {
        var shape = e.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ToArray();
        long expected = 1;
        foreach (var d in shape) expected *= d;
        var data = e.GetProperty("data");
        if (data.GetArrayLength() != expected)
            throw new InvalidDataException($"{name}: {data.GetArrayLength()} values for shape {Tensor<float>.Format(shape)}.");
        string dtype = e.GetProperty("dtype").GetString()!;
        switch (dtype)
        {
            case "float32":
            {
                var f = new float[expected];
                int i = 0;
                // Parse the decimal text straight to float32 (correctly rounded): exact PyTorch bits.
                foreach (var v in data.EnumerateArray())
                    f[i++] = float.Parse(v.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture);
                return new FixtureTensor { Name = name, Shape = shape, Data = f };
            }
            case "int64":
                return new FixtureTensor { Name = name, Shape = shape, Ints = data.EnumerateArray().Select(v => v.GetInt64()).ToArray() };
            default:
                throw new InvalidDataException($"{name}: unknown dtype '{dtype}'.");
        }
    }
}

/// <summary>Tolerance comparisons for parity tests: error relative to the reference tensor's max magnitude.</summary>
public static class Parity
{
    /// <summary>
    /// max |actual − expected| / max(max |expected|, tiny). Fails (with the tensor's name, the max abs diff, where it
    /// is, and the scale) when above <paramref name="tol"/>. Returns the relative error.
    /// </summary>
    public static double AssertClose(string name, ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double tol = 1e-5)
    {
        Assert.True(expected.Length == actual.Length, $"{name}: length {actual.Length}, expected {expected.Length}.");
        double scale = 0, maxDiff = 0;
        int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs((double)expected[i]));
            double d = Math.Abs((double)actual[i] - expected[i]);
            if (!(d <= maxDiff)) { maxDiff = d; at = i; }   // NaN counts as the worst
        }
        double rel = maxDiff / Math.Max(scale, 1e-30);
        Assert.True(rel <= tol,
            $"{name}: max diff {maxDiff:G6} at flat index {at} (got {(at >= 0 ? actual[at] : 0f):G9}, PyTorch {(at >= 0 ? expected[at] : 0f):G9}), " +
            $"max |PyTorch| {scale:G6}, relative {rel:G4} > {tol:G3}.");
        return rel;
    }

    public static double AssertClose(FixtureTensor expected, Tensor<float> actual, double tol = 1e-5)
    {
        Assert.True(actual.Length == expected.Length,
            $"{expected.Name}: Unroll shape {actual.ShapeString}, PyTorch {Tensor<float>.Format(expected.Shape)}.");
        return AssertClose(expected.Name, expected.Floats, actual.Span, tol);
    }
}
