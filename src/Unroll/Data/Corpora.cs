using System.Text;

namespace Unroll.Data;

/// <summary>
/// A word-level corpus in the Penn Treebank layout: a directory with <c>ptb.train.txt</c>, <c>ptb.valid.txt</c>,
/// <c>ptb.test.txt</c>. Tokens are split on whitespace and every line end becomes <c>&lt;eos&gt;</c>. One vocabulary
/// is grown over train, then valid, then test, in first-seen order, so ids are stable for a given directory.
/// </summary>
public sealed class WordCorpus
{
    public const string Eos = "<eos>";
    public static readonly string[] FileNames = ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"];

    public required Vocabulary Vocab { get; init; }
    public required int[] Train { get; init; }
    public required int[] Valid { get; init; }
    public required int[] Test { get; init; }

    /// <summary>Loads a PTB-layout directory (clear errors for a missing directory/file, empty, binary or non-UTF-8 file).</summary>
    public static WordCorpus Load(string dir)
    {
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException(File.Exists(dir)
                ? $"--data must be a directory with {string.Join(", ", FileNames)}; {dir} is a file."
                : $"Data directory not found: {dir}");
        foreach (var f in FileNames)
            if (!File.Exists(Path.Combine(dir, f)))
                throw new FileNotFoundException($"{Path.Combine(dir, f)} is missing (a PTB-layout directory has {string.Join(", ", FileNames)}).");
        var vocab = new Vocabulary();
        var splits = FileNames.Select(f => Tokenize(TextFiles.ReadUtf8(Path.Combine(dir, f)), vocab, Path.Combine(dir, f))).ToArray();
        return new WordCorpus { Vocab = vocab, Train = splits[0], Valid = splits[1], Test = splits[2] };
    }

    /// <summary>Whitespace tokens with <c>&lt;eos&gt;</c> after every line, ids from (and added to) <paramref name="vocab"/>.</summary>
    public static int[] Tokenize(string text, Vocabulary vocab, string what = "text")
    {
        var ids = new List<int>(text.Length / 4);
        var lines = text.Split('\n');
        int n = lines.Length;
        if (n > 0 && lines[^1].Length == 0) n--;                      // the final newline ends the last line
        for (int i = 0; i < n; i++)
        {
            foreach (var w in lines[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
                ids.Add(vocab.GetOrAdd(w));
            ids.Add(vocab.GetOrAdd(Eos));
        }
        if (ids.Count == 0) throw new InvalidDataException($"{what} has no tokens.");
        return ids.ToArray();
    }

    /// <summary>Ids of <paramref name="text"/> under a fixed vocabulary (e.g. a checkpoint's); unknown words map to &lt;unk&gt; if present, else throw.</summary>
    public static int[] Encode(string text, Vocabulary vocab)
    {
        var ids = new List<int>();
        bool hasUnk = vocab.TryGetId("<unk>", out int unk);
        foreach (var w in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            if (vocab.TryGetId(w, out int id)) ids.Add(id);
            else if (hasUnk) ids.Add(unk);
            else throw new ArgumentException($"Word '{w}' is not in the model's vocabulary.");
        }
        return ids.ToArray();
    }
}

/// <summary>
/// A character-level corpus from any UTF-8 text: tokens are Unicode scalar values (so 'é' or an emoji is one
/// token); vocabulary = the distinct characters sorted by code point; the last <c>validFraction</c> of the
/// text is the validation split.
/// </summary>
public sealed class CharCorpus
{
    public required Vocabulary Vocab { get; init; }
    public required int[] Train { get; init; }
    public required int[] Valid { get; init; }

    /// <summary>Loads a text file (clear errors for missing, empty, binary or non-UTF-8 files).</summary>
    public static CharCorpus Load(string path, double validFraction = 0.1) => FromText(TextFiles.ReadUtf8(path), validFraction, path);

    public static CharCorpus FromText(string text, double validFraction = 0.1, string what = "text")
    {
        if (!(validFraction > 0 && validFraction < 1))
            throw new ArgumentException($"--valid-fraction must be in (0, 1), got {validFraction}.");
        var chars = Runes(text);
        if (chars.Count < 2) throw new InvalidDataException($"{what} has fewer than 2 characters.");
        var vocab = new Vocabulary(chars.Distinct(StringComparer.Ordinal).Order(CodePointComparer.Instance));
        var ids = chars.Select(c => { vocab.TryGetId(c, out int id); return id; }).ToArray();
        int nValid = (int)Math.Round(ids.Length * validFraction);
        if (nValid < 2 || ids.Length - nValid < 2)
            throw new InvalidDataException($"{what}: {ids.Length} characters are too few to split off a validation fraction of {validFraction}.");
        return new CharCorpus { Vocab = vocab, Train = ids[..^nValid], Valid = ids[^nValid..] };
    }

    /// <summary>The text as a list of one-character strings (one per Unicode scalar value).</summary>
    public static List<string> Runes(string text)
    {
        var list = new List<string>(text.Length);
        foreach (var r in text.EnumerateRunes()) list.Add(r.ToString());
        return list;
    }

    /// <summary>Ids of <paramref name="text"/> under a fixed vocabulary; a character outside it is an error.</summary>
    public static int[] Encode(string text, Vocabulary vocab)
    {
        var ids = new List<int>();
        foreach (var c in Runes(text))
        {
            if (!vocab.TryGetId(c, out int id))
                throw new ArgumentException($"Character '{c}' (U+{char.ConvertToUtf32(c, 0):X4}) is not in the model's vocabulary.");
            ids.Add(id);
        }
        return ids.ToArray();
    }

    private sealed class CodePointComparer : IComparer<string>
    {
        public static readonly CodePointComparer Instance = new();
        public int Compare(string? a, string? b) => char.ConvertToUtf32(a!, 0).CompareTo(char.ConvertToUtf32(b!, 0));
    }
}
