using System.Globalization;
using Unroll.Cli;

namespace Unroll.Tests;

/// <summary>End-to-end checks of unroll train / eval / generate on the fixture corpora (in process).</summary>
public class LmCliTests
{
    private static readonly string Ptb = DataTests.Fixture("ptb-mini");
    private static readonly string Chars = DataTests.Fixture("chars-mini.txt");

    private static (int code, string stdout, string stderr) Cli(params string[] args)
    {
        var o = new StringWriter(); var e = new StringWriter();
        int code = CliApp.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    private static string[] Small(string outDir, params string[] extra) =>
        ["train", "--task", "ptb", "--data", Ptb, "--embed", "8", "--hidden", "8", "--batch", "4", "--bptt", "8", "--out", outDir, "--quiet", .. extra];

    private static double[] Losses(string dir) =>
        File.ReadAllLines(Path.Combine(dir, "metrics.csv")).Skip(1).Select(l => l.Split(',')).Where(c => c[2].Length > 0)
            .Select(c => double.Parse(c[2], CultureInfo.InvariantCulture)).ToArray();

    [Fact]
    public void TrainWritesMetricsCheckpointPlotsAndReportsTestPerplexity()
    {
        using var d = new TempDir();
        var (code, stdout, stderr) = Cli(Small(d.Path, "--preset", "rnnlm", "--epochs", "1"));
        Assert.True(code == 0, stderr);
        Assert.Contains("test   loss", stdout);
        foreach (var f in new[] { "metrics.csv", "metrics.jsonl", "checkpoint.safetensors", "loss.png", "loss.svg", "ppl.png", "ppl.svg", "train-result.json" })
            Assert.True(File.Exists(Path.Combine(d.Path, f)), f);
        Assert.Contains("\"test_ppl\"", File.ReadAllText(Path.Combine(d.Path, "train-result.json")));

        var (ec, eout, eerr) = Cli("eval", "--checkpoint", Path.Combine(d.Path, "checkpoint.safetensors"), "--task", "ptb", "--data", Ptb, "--json");
        Assert.True(ec == 0, eerr);
        Assert.Contains("\"ppl\"", eout);
    }

    [Fact]
    public void ResumeThroughTheCliContinuesTheSameLosses()
    {
        using var d = new TempDir();
        string full = Path.Combine(d.Path, "full"), part = Path.Combine(d.Path, "part");
        string[] common = ["--layers", "2", "--dropout", "0.1", "--optimizer", "adam", "--lr", "0.01", "--clip", "1", "--epochs", "2"];
        Assert.Equal(0, Cli(Small(full, common)).code);
        Assert.Equal(0, Cli(Small(part, [.. common, "--max-steps", "11"])).code);
        var (code, _, err) = Cli("train", "--task", "ptb", "--data", Ptb, "--resume", "--max-steps", "0", "--out", part, "--quiet");
        Assert.True(code == 0, err);
        Assert.Equal(Losses(full), Losses(part));                      // bit-identical: same decimal round-trip strings
    }

    [Fact]
    public void MaxStepsAloneIsTheBudget()
    {
        using var d = new TempDir();
        // 20 streams × 35 steps leave 1 update per epoch on the fixture; the preset's 4 epochs must not cap --max-steps 6
        var (code, _, err) = Cli("train", "--task", "ptb", "--data", Ptb, "--embed", "4", "--hidden", "4", "--max-steps", "6", "--flow-every", "0", "--out", d.Path, "--quiet");
        Assert.True(code == 0, err);
        Assert.Contains("\"steps\": 6", File.ReadAllText(Path.Combine(d.Path, "train-result.json")));
    }

    [Fact]
    public void GenerateIsDeterministicBySeed()
    {
        using var d = new TempDir();
        Assert.Equal(0, Cli("train", "--task", "char", "--text", Chars, "--embed", "8", "--hidden", "16", "--batch", "4", "--bptt", "16",
                            "--optimizer", "adam", "--lr", "0.01", "--clip", "5", "--max-steps", "15", "--out", d.Path, "--quiet").code);
        string ck = Path.Combine(d.Path, "checkpoint.safetensors");
        string[] g = ["generate", "--checkpoint", ck, "--length", "60", "--temperature", "0.8", "--top-k", "10"];
        var a = Cli([.. g, "--prime", "The ", "--seed", "1"]); var b = Cli([.. g, "--prime", "The ", "--seed", "1"]); var c = Cli([.. g, "--prime", "The ", "--seed", "2"]);
        Assert.Equal(0, a.code);
        Assert.StartsWith("The ", a.stdout);
        Assert.Equal(a.stdout, b.stdout);
        Assert.NotEqual(a.stdout, c.stdout);
        var bad = Cli([.. g, "--prime", "Ω"]);
        Assert.Equal(2, bad.code);
        Assert.Contains("not in the model's vocabulary", bad.stderr);
    }

    [Fact]
    public void BadInputGivesOneLineExit2AndWritesNothing()
    {
        using var d = new TempDir();
        string o = Path.Combine(d.Path, "out");
        void Bad(string expect, params string[] args)
        {
            var (code, _, err) = Cli(args);
            Assert.True(code == 2, $"{string.Join(' ', args)} → {code}: {err}");
            Assert.Contains(expect, err);
            Assert.Single(err.TrimEnd('\n').Split('\n'));
            Assert.False(Directory.Exists(o), $"{string.Join(' ', args)} created the output directory");
        }
        Bad("not found", "train", "--task", "ptb", "--data", Path.Combine(d.Path, "nope"), "--out", o);
        Bad("--task is required", "train", "--data", Ptb, "--out", o);
        Bad("--tie needs --embed equal to --hidden", "train", "--task", "ptb", "--data", Ptb, "--layers", "2", "--tie", "--embed", "8", "--hidden", "6", "--out", o);
        Bad("too short", "train", "--task", "char", "--text", Chars, "--bptt", "5000", "--out", o);
        Bad("Unknown --optimizer", "train", "--task", "ptb", "--data", Ptb, "--optimizer", "lion", "--out", o);
        var bin = Path.Combine(d.Path, "bin.txt"); File.WriteAllBytes(bin, [1, 2, 0, 4]);
        Bad("binary", "train", "--task", "char", "--text", bin, "--out", o);
        var bad8 = Path.Combine(d.Path, "bad.txt"); File.WriteAllBytes(bad8, [0x41, 0xC3, 0x28]);
        Bad("not valid UTF-8", "train", "--task", "char", "--text", bad8, "--out", o);

        // a finished run is neither overwritten nor resumed with other settings; a foreign vocabulary is refused
        string run = Path.Combine(d.Path, "run");
        Assert.Equal(0, Cli(Small(run, "--max-steps", "3")).code);
        var ck = Path.Combine(run, "checkpoint.safetensors");
        var before = File.ReadAllBytes(ck);
        var again = Cli(Small(run, "--max-steps", "3"));
        Assert.Equal(2, again.code);
        Assert.Contains("--resume", again.stderr);
        var changed = Cli("train", "--task", "ptb", "--data", Ptb, "--resume", "--hidden", "9", "--out", run);
        Assert.Equal(2, changed.code);
        Assert.Contains("--hidden", changed.stderr);
        Assert.Equal(before, File.ReadAllBytes(ck));
        var other = Path.Combine(d.Path, "other"); Directory.CreateDirectory(other);
        foreach (var f in new[] { "ptb.train.txt", "ptb.valid.txt", "ptb.test.txt" }) File.WriteAllText(Path.Combine(other, f), "zebra crossing\n");
        Bad("does not match the checkpoint", "eval", "--checkpoint", ck, "--task", "ptb", "--data", other);
        var trunc = Path.Combine(d.Path, "trunc.safetensors"); File.WriteAllBytes(trunc, before[..(before.Length / 2)]);
        Bad("corrupt or truncated", "generate", "--checkpoint", trunc);
    }
}
