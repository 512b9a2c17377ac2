using System.CommandLine;
using System.Text.Json.Nodes;
using Unroll.Data;
using Unroll.IO;
using Unroll.Models;
using Unroll.Tensors;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary><c>unroll eval</c>: perplexity (and bits per character) of a checkpoint on a split, state carried through it.</summary>
public static class EvalCommand
{
    public static Command Build()
    {
        var task = LmCommon.Task(); var data = LmCommon.Data(); var text = LmCommon.Text(); var vf = LmCommon.ValidFraction();
        var checkpoint = new Option<string?>("--checkpoint") { Description = "The checkpoint to evaluate (checkpoint.safetensors or best.safetensors of a train run)." };
        var split = new Option<string?>("--split") { Description = "train, valid or test (default: test for --task ptb, valid for --task char)." };
        var batch = new Option<int>("--batch") { Description = "Parallel streams for evaluation (textbook: 10).", DefaultValueFactory = _ => 10 };
        var bptt = new Option<int>("--bptt") { Description = "Time steps per window (the state is carried across windows).", DefaultValueFactory = _ => 35 };
        var cmd = new Command("eval",
            "Evaluate a trained language model: mean cross-entropy, perplexity and (characters) bits per character on a split, " +
            "the recurrent state carried through the whole split.\n\nExamples:\n" +
            "  unroll eval --checkpoint unroll-train/best.safetensors --task ptb --data ./ptb\n" +
            "  unroll eval --checkpoint unroll-train/checkpoint.safetensors --task char --text tinyshakespeare.txt --json");
        foreach (var o in new Option[] { task, data, text, vf, checkpoint, split, batch, bptt }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            string ckPath = parse.GetValue(checkpoint) ?? throw new UsageException("--checkpoint FILE is required.");
            var ck = Checkpoint.Load(ckPath);
            var d = LmCommon.Load(parse.GetValue(task), parse.GetValue(data), parse.GetValue(text), parse.GetValue(vf));
            LmCommon.CheckVocab(ck, d);
            string which = parse.GetValue(split) ?? (d.Test is not null ? "test" : "valid");
            int[] ids = which switch
            {
                "train" => d.Train, "valid" => d.Valid,
                "test" => d.Test ?? throw new UsageException("--task char has no test split (use --split valid or train)."),
                _ => throw new UsageException($"Unknown --split '{which}' (expected train, valid or test)."),
            };
            var cfg = LanguageModelConfig.FromJson(ck.Meta.Config);
            var model = LanguageModels.Create<float>(cfg, new Rng(0));
            ck.LoadParameters(model.DistinctParameters());
            int n = parse.GetValue(batch), t = parse.GetValue(bptt);
            var opts = new TrainOptions { Batch = 1, Bptt = 1, EvalBatch = n, EvalBptt = t, BitsPerChar = d.Task == "char" };
            var trainer = new Trainer<float>(model, new Optim.Sgd<float>(0), new Optim.ConstantSchedule(), opts, d.Train, null,
                new CheckpointMeta { VocabKind = d.VocabKind, Vocab = d.Vocab.Tokens.ToArray() });
            var r = trainer.Evaluate(ids, which);
            if (parse.GetValue(GlobalOptions.Json))
                stdout.WriteLine(new JsonObject { ["split"] = which, ["loss"] = r.Loss, ["ppl"] = r.Perplexity, ["bpc"] = r.BitsPerChar, ["tokens"] = ids.Length, ["checkpoint"] = ckPath }.ToJsonString());
            else
                stdout.WriteLine($"{which}: loss {r.Loss:F4}  ppl {r.Perplexity:F2}{(r.BitsPerChar is { } b ? $"  bpc {b:F4}" : "")}  ({ids.Length} tokens, {ckPath})");
            return CliApp.ExitOk;
        });
        return cmd;
    }
}
