using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;
using Unroll.Data;
using Unroll.IO;
using Unroll.Models;
using Unroll.Tensors;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary><c>unroll generate</c>: sample text from a checkpoint, deterministic for a fixed --seed.</summary>
public static class GenerateCommand
{
    public static Command Build()
    {
        var checkpoint = new Option<string?>("--checkpoint") { Description = "The model (a train run's checkpoint.safetensors or best.safetensors)." };
        var prime = new Option<string?>("--prime") { Description = "Text to start from (characters, or words for a word model). Default: a line start." };
        var length = new Option<int>("--length") { Description = "Tokens to generate (characters or words).", DefaultValueFactory = _ => 500 };
        var temperature = new Option<double>("--temperature") { Description = "Softmax temperature (< 1 more conservative, > 1 more random).", DefaultValueFactory = _ => 1.0 };
        var topK = new Option<int>("--top-k") { Description = "Sample only among the k most likely tokens (0 = all).", DefaultValueFactory = _ => 0 };
        var cmd = new Command("generate",
            "Generate text from a trained language model; the same --seed gives the same text.\n\nExamples:\n" +
            "  unroll generate --checkpoint unroll-train/checkpoint.safetensors --prime \"ROMEO:\" --length 500 --temperature 0.8 --top-k 40 --seed 1\n" +
            "  unroll generate --checkpoint ptb-run/best.safetensors --prime \"the company said\" --length 50 --json");
        foreach (var o in new Option[] { checkpoint, prime, length, temperature, topK }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            string ckPath = parse.GetValue(checkpoint) ?? throw new UsageException("--checkpoint FILE is required.");
            var ck = Checkpoint.Load(ckPath);
            var vocab = new Vocabulary(ck.Meta.Vocab);
            bool chars = ck.Meta.VocabKind == "char";
            string p = parse.GetValue(prime) ?? "";
            int[] primeIds = p.Length == 0
                ? [vocab.TryGetId(chars ? "\n" : WordCorpus.Eos, out int start) ? start : 0]
                : chars ? CharCorpus.Encode(p, vocab) : WordCorpus.Encode(p, vocab);
            if (primeIds.Length == 0) throw new UsageException("--prime has no tokens.");
            var cfg = LanguageModelConfig.FromJson(ck.Meta.Config);
            var model = LanguageModels.Create<float>(cfg, new Rng(0));
            ck.LoadParameters(model.DistinctParameters());
            var ids = Generator.Sample(model, primeIds, parse.GetValue(length), parse.GetValue(temperature), parse.GetValue(topK),
                                       new Rng((ulong)parse.GetValue(GlobalOptions.Seed)));
            string textOut = Render(p, ids, vocab, chars);
            if (parse.GetValue(GlobalOptions.Json)) stdout.WriteLine(new JsonObject { ["prime"] = p, ["text"] = textOut, ["tokens"] = ids.Length, ["seed"] = parse.GetValue(GlobalOptions.Seed) }.ToJsonString());
            else stdout.WriteLine(textOut);
            if (parse.GetValue(GlobalOptions.Out) is { } outDir)
            {
                var o = new OutputSet();
                o.AddText("generated.txt", textOut + "\n");
                o.Commit(outDir);
            }
            return CliApp.ExitOk;
        });
        return cmd;
    }

    /// <summary>The prime followed by the generated tokens (words joined by spaces, &lt;eos&gt; as a line break).</summary>
    internal static string Render(string prime, int[] ids, Vocabulary vocab, bool chars)
    {
        var sb = new StringBuilder(prime);
        foreach (var id in ids)
        {
            string tok = vocab[id];
            if (chars) sb.Append(tok);
            else if (tok == WordCorpus.Eos) sb.Append('\n');
            else { if (sb.Length > 0 && sb[^1] != '\n') sb.Append(' '); sb.Append(tok); }
        }
        return sb.ToString();
    }
}
