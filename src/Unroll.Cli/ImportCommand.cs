using System.CommandLine;
using System.Text.Json.Nodes;
using Unroll.IO;

namespace Unroll.Cli;

/// <summary>
/// <c>unroll import</c>: a safetensors file in PyTorch's layout (written by <c>unroll export</c> or by PyTorch's
/// safetensors from a word_language_model-style state_dict) into an Unroll checkpoint.
/// </summary>
public static class ImportCommand
{
    public const string CheckpointFile = "checkpoint.safetensors";

    public static Command Build()
    {
        var from = new Option<string>("--from") { Description = "The weights: a .safetensors file with PyTorch's names (encoder.weight, rnn.weight_ih_l0, ..., decoder.bias).", Required = true };
        var config = new Option<string?>("--config") { Description = "The JSON sidecar (cell, vocab_size, embed_size, hidden_size, num_layers, tied). Default: config.json beside --from if present, else inferred from names and shapes (a ReLU RNN needs the sidecar)." };
        var vocab = new Option<string?>("--vocab") { Description = "Vocabulary: vocab.json ({\"kind\", \"tokens\"} or a JSON array of tokens). Default: vocab.json beside --from if present, else placeholder tokens <0>, <1>, ..." };
        var cmd = new Command("import",
            "Import PyTorch-layout safetensors weights (Embedding → RNN/LSTM/GRU × L → Linear) into an Unroll checkpoint " +
            $"(--out DIR/{CheckpointFile}), usable by 'unroll generate', 'unroll eval' and the gradient-flow tools. " +
            "b_ih + b_hh are folded into Unroll's bias; the GRU's b_hh_n stays separate (PyTorch's form). Missing, extra or " +
            "wrongly shaped tensors are rejected with the tensor's name.\n\n" +
            "Examples:\n" +
            "  unroll import --from exported/model.safetensors --out imported\n" +
            "  unroll import --from torch_lm.safetensors --config torch_lm.json --vocab vocab.json --out imported");
        foreach (var o in new Option[] { from, config, vocab }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            string src = parse.GetValue(from)!;
            string dir = Path.GetDirectoryName(Path.GetFullPath(src)) ?? ".";
            string? cfgPath = parse.GetValue(config) ?? (File.Exists(Path.Combine(dir, PyTorchLayout.ConfigFile)) ? Path.Combine(dir, PyTorchLayout.ConfigFile) : null);
            string? vocabPath = parse.GetValue(vocab) ?? (File.Exists(Path.Combine(dir, ExportVocab.FileName)) ? Path.Combine(dir, ExportVocab.FileName) : null);
            string outDir = parse.GetValue(GlobalOptions.Out) ?? Path.Combine(".", "unroll-import");
            string outPath = Path.Combine(outDir, CheckpointFile);
            if (File.Exists(outDir)) throw new UsageException($"--out {outDir} is a file; expected a directory.");

            LmConfig? cfg = cfgPath is null ? null : PyTorchLayout.ReadConfig(cfgPath);
            var w = PyTorchLayout.ReadSafeTensors<float>(src, cfg);
            var v = vocabPath is null ? null : ExportVocab.Read(vocabPath);
            if (v is not null && v.Tokens.Length != w.Config.VocabSize)
                throw new UsageException($"{vocabPath} has {v.Tokens.Length} tokens but the weights have vocab_size {w.Config.VocabSize}.");
            v ??= new ExportVocab("word", Enumerable.Range(0, w.Config.VocabSize).Select(i => $"<{i}>").ToArray());
            var model = LmModelBridge.ToModel(w);
            Directory.CreateDirectory(outDir);
            LmCheckpoints.Save(outPath, model, v);

            var c = w.Config;
            if (vocabPath is null && !parse.GetValue(GlobalOptions.Quiet))
                stderr.WriteLine($"unroll: no vocabulary given; tokens are named <0> ... <{c.VocabSize - 1}> (pass --vocab).");
            if (parse.GetValue(GlobalOptions.Json))
                stdout.WriteLine(new JsonObject
                {
                    ["from"] = src, ["config"] = cfgPath, ["config_inferred"] = cfgPath is null, ["vocab"] = vocabPath,
                    ["model"] = model.Config.Model, ["cell"] = model.Config.Cell, ["vocab_size"] = c.VocabSize, ["embed_size"] = c.EmbedSize,
                    ["hidden_size"] = c.HiddenSize, ["num_layers"] = c.Layers, ["tied"] = model.Config.Tie, ["checkpoint"] = Path.GetFullPath(outPath),
                }.ToJsonString());
            else if (!parse.GetValue(GlobalOptions.Quiet))
                stdout.WriteLine($"imported {c.Layers}-layer {c.Cell} (V={c.VocabSize}, E={c.EmbedSize}, H={c.HiddenSize}{(c.Tied ? ", tied" : "")}" +
                                 $"{(cfgPath is null ? ", configuration inferred" : "")}) as {model.Config.Model}: {Path.GetFullPath(outPath)}");
            return CliApp.ExitOk;
        });
        return cmd;
    }
}
