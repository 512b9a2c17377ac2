using System.CommandLine;
using System.Text.Json.Nodes;
using Unroll.IO;

namespace Unroll.Cli;

/// <summary>
/// <c>unroll export</c>: a trained language model from an Unroll checkpoint, as safetensors in PyTorch's layout
/// (model.safetensors + config.json) or as an ONNX model (model.onnx + config.json); vocab.json beside either.
/// Everything is built in memory first and written only when complete (nothing half-written on an error).
/// </summary>
public static class ExportCommand
{
    public static readonly string[] Formats = ["safetensors", "onnx"];

    public static Command Build()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "The Unroll checkpoint (checkpoint.safetensors or best.safetensors written by 'unroll train').", Required = true };
        var format = new Option<string>("--format") { Description = "safetensors (PyTorch's layout, for torch.nn.LSTM/GRU/RNN) or onnx (opset 17, for ONNX Runtime).", DefaultValueFactory = _ => "safetensors" };
        var layout = new Option<string>("--layout") { Description = "Tensor names and conventions: pytorch (PyTorch's word_language_model: encoder, rnn, decoder).", DefaultValueFactory = _ => "pytorch" };
        var cmd = new Command("export",
            "Export a trained language model. safetensors: model.safetensors with PyTorch's names (encoder.weight, " +
            "rnn.weight_ih_l{k} [kH×D], rnn.weight_hh_l{k}, rnn.bias_ih_l{k}, rnn.bias_hh_l{k}, decoder.weight, decoder.bias; " +
            "gate order i,f,g,o / r,z,n) plus config.json; onnx: model.onnx (Gather → LSTM/GRU/RNN × L → MatMul + Add; inputs " +
            "input_ids (batch, seq) int64 and optional h0/c0 (L, batch, H); outputs logits, h_n, c_n). vocab.json is written beside. " +
            "See docs/interop.md.\n\n" +
            "Examples:\n" +
            "  unroll export --checkpoint run/checkpoint.safetensors --format safetensors --layout pytorch --out exported\n" +
            "  unroll export --checkpoint run/best.safetensors --format onnx --out exported-onnx");
        foreach (var o in new Option[] { checkpoint, format, layout }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            string fmt = parse.GetValue(format) ?? "safetensors";
            if (!Formats.Contains(fmt)) throw new UsageException($"--format must be safetensors or onnx, got '{fmt}'.");
            string lay = parse.GetValue(layout) ?? "pytorch";
            if (lay != "pytorch") throw new UsageException($"--layout must be pytorch, got '{lay}'.");
            string ckPath = parse.GetValue(checkpoint)!;
            string outDir = parse.GetValue(GlobalOptions.Out) ?? Path.Combine(".", "unroll-export");

            var (model, meta) = LmCheckpoints.Load(ckPath);
            var w = LmModelBridge.FromModel(model);
            var output = new OutputSet();
            string weightsName = fmt == "onnx" ? "model.onnx" : PyTorchLayout.WeightsFile;
            output.Add(weightsName, fmt == "onnx" ? OnnxExport.ToBytes(w) : PyTorchLayout.ToSafeTensors(w));
            output.AddText(PyTorchLayout.ConfigFile, w.Config.ToJson());
            output.AddText(ExportVocab.FileName, new ExportVocab(meta.VocabKind, meta.Vocab).ToJson());
            var written = output.Commit(outDir);

            var c = w.Config;
            if (parse.GetValue(GlobalOptions.Json))
                stdout.WriteLine(new JsonObject
                {
                    ["format"] = fmt, ["layout"] = lay, ["checkpoint"] = ckPath, ["cell"] = c.Cell, ["vocab_size"] = c.VocabSize,
                    ["embed_size"] = c.EmbedSize, ["hidden_size"] = c.HiddenSize, ["num_layers"] = c.Layers, ["tied"] = c.Tied,
                    ["files"] = new JsonArray(written.Select(f => (JsonNode?)Path.GetFullPath(f)).ToArray()),
                }.ToJsonString());
            else if (!parse.GetValue(GlobalOptions.Quiet))
                stdout.WriteLine($"exported {c.Layers}-layer {c.Cell} (V={c.VocabSize}, E={c.EmbedSize}, H={c.HiddenSize}{(c.Tied ? ", tied" : "")}) as {fmt}: " +
                                 $"{string.Join(", ", written.Select(Path.GetFileName))} in {Path.GetFullPath(outDir)}");
            return CliApp.ExitOk;
        });
        return cmd;
    }
}
