using System.Text;

namespace Unroll.Data;

/// <summary>Token ↔ id map; ids are dense 0..Count−1 in insertion order.</summary>
public sealed class Vocabulary
{
    private readonly List<string> _tokens = [];
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);

    public Vocabulary() { }

    /// <summary>A vocabulary with exactly these tokens, in this order (duplicates rejected).</summary>
    public Vocabulary(IEnumerable<string> tokens)
    {
        foreach (var t in tokens)
            if (!_ids.TryAdd(t, _tokens.Count)) throw new InvalidDataException($"Vocabulary: token '{t}' appears twice.");
            else _tokens.Add(t);
    }

    public int Count => _tokens.Count;
    public IReadOnlyList<string> Tokens => _tokens;
    public string this[int id] => _tokens[id];

    /// <summary>The id of <paramref name="token"/>, adding it if new.</summary>
    public int GetOrAdd(string token)
    {
        if (_ids.TryGetValue(token, out int id)) return id;
        _ids[token] = _tokens.Count;
        _tokens.Add(token);
        return _tokens.Count - 1;
    }

    public bool TryGetId(string token, out int id) => _ids.TryGetValue(token, out id);

    /// <summary>True when both have the same tokens in the same order.</summary>
    public bool SameAs(Vocabulary other) => _tokens.SequenceEqual(other._tokens, StringComparer.Ordinal);
}

/// <summary>Reads text files with the checks every corpus needs: exists, non-empty, not binary, valid UTF-8.</summary>
public static class TextFiles
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The file's text (a UTF-8 byte-order mark is dropped). Throws FileNotFoundException / InvalidDataException with one clear line.</summary>
    public static string ReadUtf8(string path)
    {
        if (Directory.Exists(path)) throw new InvalidDataException($"{path} is a directory, expected a text file.");
        if (!File.Exists(path)) throw new FileNotFoundException($"File not found: {path}", path);
        byte[] bytes = File.ReadAllBytes(path);
        return DecodeUtf8(bytes, path);
    }

    /// <summary>Decodes <paramref name="bytes"/> strictly; <paramref name="what"/> names the source in errors.</summary>
    public static string DecodeUtf8(ReadOnlySpan<byte> bytes, string what)
    {
        if (bytes.Length == 0) throw new InvalidDataException($"{what} is empty.");
        int nul = bytes.IndexOf((byte)0);
        if (nul >= 0) throw new InvalidDataException($"{what} looks like a binary file (NUL byte at offset {nul}), expected UTF-8 text.");
        if (bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) bytes = bytes[3..];
        try { return Strict.GetString(bytes); }
        catch (DecoderFallbackException e)
        {
            string at = e.Index >= 0 ? $" at byte offset {e.Index}" : "";
            throw new InvalidDataException($"{what} is not valid UTF-8{at}.");
        }
    }
}
