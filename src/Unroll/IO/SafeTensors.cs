using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Unroll.Tensors;

namespace Unroll.IO;

/// <summary>A safetensors file that is malformed or does not match what was asked for. Always one clear line.
/// (A <see cref="FormatException"/>: <see cref="InvalidDataException"/> is sealed.)</summary>
public sealed class SafeTensorsFormatException(string message) : FormatException(message);

/// <summary>One tensor's header entry: dtype, shape and byte range [Begin, End) within the data section.</summary>
public sealed record SafeTensorInfo(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// The safetensors format (https://github.com/huggingface/safetensors): 8 bytes little-endian u64 header length N,
/// N bytes of UTF-8 JSON <c>{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}</c>,
/// then the data section; offsets are relative to the data section, little-endian, row-major.
/// <para>The reader is safe on hostile input: it checks the header length against the file and a 100 MB cap, parses
/// the JSON strictly (no duplicate names, only known keys and dtypes), checks every shape × dtype size equals its byte
/// range, that ranges are in bounds, sorted by offset they tile the data section exactly (no overlap, no gap, no
/// trailing bytes — as the reference implementation requires), and reports anything else as a
/// <see cref="SafeTensorsFormatException"/>.</para>
/// </summary>
public sealed class SafeTensorsFile
{
    /// <summary>Header cap, as in the reference implementation.</summary>
    public const long MaxHeaderSize = 100_000_000;

    private static readonly Dictionary<string, int> DTypeSizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E4M3"] = 1, ["F8_E5M2"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8,
    };

    private readonly byte[] _bytes;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _byName;

    private SafeTensorsFile(byte[] bytes, long dataStart, List<SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        _bytes = bytes; _dataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>Tensors in header order.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }
    /// <summary>The <c>__metadata__</c> map (empty if absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public bool Contains(string name) => _byName.ContainsKey(name);
    public SafeTensorInfo Info(string name) => _byName.TryGetValue(name, out var i) ? i : throw new SafeTensorsFormatException($"safetensors: no tensor named '{name}'.");

    /// <summary>Reads and validates a file.</summary>
    public static SafeTensorsFile Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"File not found: {path}", path);
        long len = new FileInfo(path).Length;
        if (len > Array.MaxLength) throw new SafeTensorsFormatException($"{path}: {len} bytes is larger than this reader supports.");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Validates <paramref name="bytes"/> (the whole file); <paramref name="what"/> names it in errors.</summary>
    public static SafeTensorsFile Parse(byte[] bytes, string what = "safetensors")
    {
        SafeTensorsFormatException Bad(string msg) => new($"{what}: {msg}");
        if (bytes.Length < 8) throw Bad($"truncated: {bytes.Length} bytes, shorter than the 8-byte header length.");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (n < 2) throw Bad($"header length {n} is too small.");
        if (n > MaxHeaderSize) throw Bad($"header length {n} exceeds the {MaxHeaderSize}-byte limit.");
        if (n > (ulong)(bytes.Length - 8)) throw Bad($"header length {n} is larger than the {bytes.Length - 8} bytes after it (truncated file?).");
        int hlen = (int)n;
        var header = new ReadOnlyMemory<byte>(bytes, 8, hlen);
        if (header.Span[0] != (byte)'{') throw Bad("header does not start with '{'.");
        long dataStart = 8 + hlen, dataLen = bytes.Length - dataStart;

        var tensors = new List<SafeTensorInfo>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("header is not a JSON object.");
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!names.Add(prop.Name)) throw Bad($"duplicate entry '{prop.Name}' in the header.");
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad("__metadata__ is not an object.");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Bad($"__metadata__ value '{m.Name}' is not a string.");
                        if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw Bad($"duplicate __metadata__ key '{m.Name}'.");
                    }
                    continue;
                }
                tensors.Add(ParseEntry(prop, dataLen, Bad));
            }
        }
        catch (JsonException e) { throw Bad($"header is not valid JSON ({e.Message.Split('\n')[0]})"); }
        catch (InvalidOperationException e) { throw Bad($"header is not valid JSON ({e.Message})"); }
        catch (ArgumentException e) { throw Bad($"header is not valid UTF-8 JSON ({e.Message})"); }

        // Sorted by offset, the ranges must tile [0, dataLen) exactly.
        var sorted = tensors.OrderBy(t => t.Begin).ThenBy(t => t.End).ToList();
        long expect = 0;
        foreach (var t in sorted)
        {
            if (t.Begin < expect) throw Bad($"tensor '{t.Name}' bytes [{t.Begin}, {t.End}) overlap the previous tensor (ending at {expect}).");
            if (t.Begin > expect) throw Bad($"gap before tensor '{t.Name}': bytes [{expect}, {t.Begin}) belong to no tensor.");
            expect = t.End;
        }
        if (expect != dataLen) throw Bad($"data section has {dataLen} bytes but the tensors cover {expect}.");
        return new SafeTensorsFile(bytes, dataStart, tensors, metadata);
    }

    private static SafeTensorInfo ParseEntry(JsonProperty prop, long dataLen, Func<string, SafeTensorsFormatException> Bad)
    {
        string name = prop.Name;
        if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad($"entry '{name}' is not an object.");
        string? dtype = null; long[]? shape = null; long[]? offs = null;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in prop.Value.EnumerateObject())
        {
            if (!keys.Add(f.Name)) throw Bad($"tensor '{name}' has a duplicate key '{f.Name}'.");
            switch (f.Name)
            {
                case "dtype":
                    if (f.Value.ValueKind != JsonValueKind.String) throw Bad($"tensor '{name}': dtype is not a string.");
                    dtype = f.Value.GetString()!;
                    if (!DTypeSizes.ContainsKey(dtype)) throw Bad($"tensor '{name}': unknown dtype '{dtype}'.");
                    break;
                case "shape": shape = Ints(f.Value, name, "shape", Bad); break;
                case "data_offsets":
                    offs = Ints(f.Value, name, "data_offsets", Bad);
                    if (offs.Length != 2) throw Bad($"tensor '{name}': data_offsets must have 2 numbers, has {offs.Length}.");
                    break;
                default: throw Bad($"tensor '{name}': unknown key '{f.Name}'.");
            }
        }
        if (dtype is null || shape is null || offs is null) throw Bad($"tensor '{name}' lacks {(dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets")}.");
        long begin = offs[0], end = offs[1];
        if (begin > end) throw Bad($"tensor '{name}': data_offsets [{begin}, {end}) run backwards.");
        if (end > dataLen) throw Bad($"tensor '{name}': bytes [{begin}, {end}) lie outside the {dataLen}-byte data section.");
        long bytes = DTypeSizes[dtype];
        foreach (var d in shape)
        {
            if (d != 0 && bytes > long.MaxValue / d) throw Bad($"tensor '{name}': shape [{string.Join(", ", shape)}] is too large.");
            bytes *= d;
        }
        if (bytes != end - begin) throw Bad($"tensor '{name}': shape [{string.Join(", ", shape)}] × {dtype} is {bytes} bytes but its range [{begin}, {end}) holds {end - begin}.");
        return new SafeTensorInfo(name, dtype, shape, begin, end);
    }

    private static long[] Ints(JsonElement e, string name, string key, Func<string, SafeTensorsFormatException> Bad)
    {
        if (e.ValueKind != JsonValueKind.Array) throw Bad($"tensor '{name}': {key} is not an array.");
        int count = e.GetArrayLength();
        if (count > 64) throw Bad($"tensor '{name}': {key} has {count} entries.");
        var r = new long[count];
        int i = 0;
        foreach (var x in e.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt64(out long v) || v < 0)
                throw Bad($"tensor '{name}': {key} must hold non-negative integers.");
            r[i++] = v;
        }
        return r;
    }

    /// <summary>The raw little-endian bytes of a tensor.</summary>
    public ReadOnlySpan<byte> Bytes(SafeTensorInfo t) => new(_bytes, (int)(_dataStart + t.Begin), (int)(t.End - t.Begin));

    /// <summary>
    /// The tensor <paramref name="name"/> as <typeparamref name="T"/> (F64, F32, F16 and BF16 are converted; other
    /// dtypes are an error). <paramref name="expectShape"/>, when given, must match exactly.
    /// </summary>
    public Tensor<T> GetTensor<T>(string name, ReadOnlySpan<int> expectShape = default) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var info = Info(name);
        if (info.Shape.Any(d => d > int.MaxValue) || info.ElementCount > Array.MaxLength)
            throw new SafeTensorsFormatException($"safetensors: tensor '{name}' is too large to load.");
        var shape = info.Shape.Select(d => (int)d).ToArray();
        if (!expectShape.IsEmpty && !expectShape.SequenceEqual(shape))
            throw new SafeTensorsFormatException($"safetensors: tensor '{name}' has shape {Tensor<T>.Format(shape)}, expected {Tensor<T>.Format(expectShape)}.");
        var t = new Tensor<T>(shape);
        var dst = t.Span;
        var src = Bytes(info);
        switch (info.DType)
        {
            case "F32": for (int i = 0; i < dst.Length; i++) dst[i] = T.CreateTruncating(BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..])); break;
            case "F64": for (int i = 0; i < dst.Length; i++) dst[i] = T.CreateTruncating(BinaryPrimitives.ReadDoubleLittleEndian(src[(8 * i)..])); break;
            case "F16": for (int i = 0; i < dst.Length; i++) dst[i] = T.CreateTruncating((float)BinaryPrimitives.ReadHalfLittleEndian(src[(2 * i)..])); break;
            case "BF16": for (int i = 0; i < dst.Length; i++) dst[i] = T.CreateTruncating(BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]) << 16)); break;
            default: throw new SafeTensorsFormatException($"safetensors: tensor '{name}' has dtype {info.DType}, expected a floating-point dtype.");
        }
        return t;
    }
}

/// <summary>Writes safetensors files (header padded with spaces to a multiple of 8, as the reference writer does).</summary>
public static class SafeTensorsWriter
{
    /// <summary>One tensor to write: name, dtype string, shape and its little-endian bytes.</summary>
    public readonly record struct Entry(string Name, string DType, long[] Shape, byte[] Data);

    /// <summary>An entry for a float/double tensor (F32/F64).</summary>
    public static Entry FromTensor<T>(string name, Tensor<T> t) where T : unmanaged, IFloatingPointIeee754<T>
    {
        string dtype = typeof(T) == typeof(float) ? "F32" : typeof(T) == typeof(double) ? "F64" : typeof(T) == typeof(Half) ? "F16"
            : throw new ArgumentException($"safetensors: no dtype for {typeof(T).Name}.");
        var bytes = MemoryMarshal.AsBytes(t.Span).ToArray();
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors writer assumes a little-endian machine.");
        return new Entry(name, dtype, t.Shape.ToArray().Select(d => (long)d).ToArray(), bytes);
    }

    /// <summary>The whole file as bytes. Tensors are laid out in the given order.</summary>
    public static byte[] Serialize(IReadOnlyList<Entry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            var seen = new HashSet<string>(StringComparer.Ordinal);
            long off = 0;
            foreach (var e in entries)
            {
                if (e.Name == "__metadata__" || !seen.Add(e.Name)) throw new ArgumentException($"safetensors: tensor name '{e.Name}' is reserved or repeated.");
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", e.DType);
                w.WriteStartArray("shape"); foreach (var d in e.Shape) w.WriteNumberValue(d); w.WriteEndArray();
                w.WriteStartArray("data_offsets"); w.WriteNumberValue(off); w.WriteNumberValue(off + e.Data.Length); w.WriteEndArray();
                w.WriteEndObject();
                off += e.Data.Length;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        var header = ms.ToArray();
        var outp = new MemoryStream();
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
        outp.Write(len);
        outp.Write(header);
        foreach (var e in entries) outp.Write(e.Data);
        return outp.ToArray();
    }

    /// <summary>Writes atomically (temporary file, flush to disk, rename).</summary>
    public static void Write(string path, IReadOnlyList<Entry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var bytes = Serialize(entries, metadata);
        AtomicFile.Write(path, s => s.Write(bytes));
    }
}
