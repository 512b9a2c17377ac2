using System.Text;
using Unroll.Data;

namespace Unroll.Tests;

public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("unroll-test-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}

public class DataTests
{
    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    private static void WritePtb(string dir, string train, string valid, string test)
    {
        File.WriteAllText(Path.Combine(dir, "ptb.train.txt"), train);
        File.WriteAllText(Path.Combine(dir, "ptb.valid.txt"), valid);
        File.WriteAllText(Path.Combine(dir, "ptb.test.txt"), test);
    }

    [Fact]
    public void WordCorpusEosAndFirstSeenVocabularyAcrossSplits()
    {
        using var d = new TempDir();
        WritePtb(d.Path, " a b\n b  c \n", "d a\n", "e\n\nf");
        var c = WordCorpus.Load(d.Path);
        Assert.Equal(["a", "b", "<eos>", "c", "d", "e", "f"], c.Vocab.Tokens);
        Assert.Equal([0, 1, 2, 1, 3, 2], c.Train);
        Assert.Equal([4, 0, 2], c.Valid);
        Assert.Equal([5, 2, 2, 6, 2], c.Test);                       // empty line → <eos>; last line without newline still ends
    }

    [Fact]
    public void WordFixtureLoads()
    {
        var c = WordCorpus.Load(Fixture("ptb-mini"));
        Assert.True(c.Train.Length > 1000);
        Assert.Equal("<eos>", c.Vocab[c.Train[^1]]);
        Assert.All(c.Test, id => Assert.InRange(id, 0, c.Vocab.Count - 1));
    }

    [Fact]
    public void WordCorpusBadInputsGiveClearErrors()
    {
        using var d = new TempDir();
        Assert.Contains("not found", Assert.Throws<DirectoryNotFoundException>(() => WordCorpus.Load(d.File("nope"))).Message);
        WritePtb(d.Path, "a\n", "b\n", "c\n");
        File.Delete(d.File("ptb.valid.txt"));
        Assert.Contains("ptb.valid.txt is missing", Assert.Throws<FileNotFoundException>(() => WordCorpus.Load(d.Path)).Message);
        File.WriteAllText(d.File("ptb.valid.txt"), "");
        Assert.Contains("ptb.valid.txt is empty", Assert.Throws<InvalidDataException>(() => WordCorpus.Load(d.Path)).Message);
        File.WriteAllBytes(d.File("ptb.valid.txt"), [0x61, 0x20, 0xC3, 0x28, 0x0A]);
        Assert.Contains("not valid UTF-8 at byte offset 2", Assert.Throws<InvalidDataException>(() => WordCorpus.Load(d.Path)).Message);
        File.WriteAllBytes(d.File("ptb.valid.txt"), [0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x00, 0x00]);
        Assert.Contains("binary", Assert.Throws<InvalidDataException>(() => WordCorpus.Load(d.Path)).Message);
        File.WriteAllText(d.File("ptb.valid.txt"), "   \t ");
        Assert.Contains("<eos>", string.Join(",", WordCorpus.Load(d.Path).Vocab.Tokens));   // whitespace-only line is one <eos>
    }

    [Fact]
    public void CharCorpusSortedVocabularyAndSplitFromEnd()
    {
        var c = CharCorpus.FromText("hello, wörld 🙂!", 0.25);
        var tokens = c.Vocab.Tokens;
        Assert.Equal(tokens.OrderBy(t => char.ConvertToUtf32(t, 0)).ToArray(), tokens);
        Assert.Contains("🙂", tokens);                              // a non-BMP character is one token
        Assert.Equal(15, c.Train.Length + c.Valid.Length);
        Assert.Equal(4, c.Valid.Length);                             // round(15 · 0.25)
        Assert.Equal("d 🙂!", string.Concat(c.Valid.Select(i => c.Vocab[i])));
    }

    [Fact]
    public void CharFixtureLoads()
    {
        var c = CharCorpus.Load(Fixture("chars-mini.txt"), 0.1);
        Assert.Contains("é", c.Vocab.Tokens);
        Assert.Equal("\n", c.Vocab[0]);
        Assert.InRange(c.Valid.Length, 100, 400);
    }

    [Fact]
    public void CharCorpusBadInputsGiveClearErrors()
    {
        using var d = new TempDir();
        Assert.Throws<FileNotFoundException>(() => CharCorpus.Load(d.File("missing.txt")));
        Assert.Contains("directory", Assert.Throws<InvalidDataException>(() => CharCorpus.Load(d.Path)).Message);
        File.WriteAllBytes(d.File("bad.txt"), [0x68, 0x69, 0xFF, 0xFE]);
        Assert.Contains("not valid UTF-8", Assert.Throws<InvalidDataException>(() => CharCorpus.Load(d.File("bad.txt"))).Message);
        var bin = new byte[256]; new Random(1).NextBytes(bin); bin[10] = 0;
        File.WriteAllBytes(d.File("bin.dat"), bin);
        Assert.Contains("binary", Assert.Throws<InvalidDataException>(() => CharCorpus.Load(d.File("bin.dat"))).Message);
        File.WriteAllText(d.File("empty.txt"), "");
        Assert.Contains("empty", Assert.Throws<InvalidDataException>(() => CharCorpus.Load(d.File("empty.txt"))).Message);
        Assert.Throws<ArgumentException>(() => CharCorpus.FromText("abcdef", 1.5));
    }

    [Fact]
    public void CharEncodeRejectsUnknownCharacter()
    {
        var c = CharCorpus.FromText("abcabcabcabcabcabcabc");
        Assert.Equal([0, 1, 2], CharCorpus.Encode("abc", c.Vocab));
        Assert.Contains("'z'", Assert.Throws<ArgumentException>(() => CharCorpus.Encode("az", c.Vocab)).Message);
    }

    [Fact]
    public void BatcherMatchesTextbookOffsets()
    {
        int[] corpus = Enumerable.Range(100, 21).ToArray();          // L = 20 input positions
        var b = new BpttBatcher(corpus, batch: 2, bptt: 3);          // jump = 10, 3 iterations
        Assert.Equal(3, b.IterationsPerEpoch);
        var xs = new int[6]; var ts = new int[6];
        b.Fill(0, xs, ts);
        Assert.Equal([100, 101, 102, 110, 111, 112], xs);
        Assert.Equal([101, 102, 103, 111, 112, 113], ts);
        b.Fill(1, xs, ts);                                           // streams continue where they stopped
        Assert.Equal([103, 104, 105, 113, 114, 115], xs);
        b.Fill(3, xs, ts);                                           // wraps modulo L as the textbook's get_batch
        Assert.Equal([109, 110, 111, 119, 100, 101], xs);
        Assert.Equal([110, 111, 112, 120, 101, 102], ts);
    }

    [Fact]
    public void BatcherRejectsSequenceLongerThanCorpus()
    {
        var ex = Assert.Throws<ArgumentException>(() => new BpttBatcher(new int[50], 4, 35, "training split"));
        Assert.Contains("training split has 50 tokens", ex.Message);
        Assert.Contains("--bptt", ex.Message);
    }
}
