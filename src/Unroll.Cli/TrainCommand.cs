using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;
using Unroll.Data;
using Unroll.Flow;
using Unroll.IO;
using Unroll.Models;
using Unroll.Optim;
using Unroll.Tensors;
using Unroll.Training;

namespace Unroll.Cli;

/// <summary>
/// <c>unroll train</c>: language models by truncated BPTT (textbook ch. 5–6) on a PTB-layout word corpus or a
/// character file. Presets reproduce the textbook's recipes; explicit flags override them. Writes metrics.csv,
/// metrics.jsonl, checkpoint.safetensors (and best.safetensors), loss/perplexity plots and train-result.json.
/// </summary>
public static class TrainCommand
{
    /// <summary>A recipe: every value a preset fixes.</summary>
    internal sealed record Recipe(string Model, string Cell, int Embed, int Hidden, int Layers, double Dropout, bool Tie,
                                  int Batch, int Bptt, double Lr, string Optimizer, double Clip, int Epochs, string Schedule, bool KeepBest);

    internal static readonly Dictionary<string, Recipe> Presets = new()
    {
        // ch6/train_rnnlm.py: batch 20, wordvec 100, hidden 100, time 35, lr 20, 4 epochs, max_grad 0.25, SGD
        ["rnnlm"] = new("rnnlm", "lstm", 100, 100, 1, 0.0, false, 20, 35, 20.0, "sgd", 0.25, 4, "constant", false),
        // ch6/train_better_rnnlm.py: 2×650 LSTM, dropout 0.5, tied, lr 20, clip 0.25, 40 epochs, lr /= 4 on plateau, keep best
        ["better-rnnlm"] = new("better-rnnlm", "lstm", 650, 650, 2, 0.5, true, 20, 35, 20.0, "sgd", 0.25, 40, "plateau", true),
    };

    public static Command Build()
    {
        var task = LmCommon.Task(); var data = LmCommon.Data(); var text = LmCommon.Text(); var vf = LmCommon.ValidFraction();
        var preset = new Option<string?>("--preset") { Description = "A textbook recipe: rnnlm (ch. 6 train_rnnlm.py) or better-rnnlm (train_better_rnnlm.py). Explicit flags override it." };
        var cell = new Option<string?>("--cell") { Description = "Recurrent cell: rnn, rnn-relu, lstm, gru (default lstm)." };
        var init = new Option<string?>("--init") { Description = "Recurrent-matrix initialisation: xavier (textbook), gaussian, orthogonal, identity." };
        var embed = new Option<int?>("--embed") { Description = "Embedding size D." };
        var embedStd = new Option<double?>("--embed-init-std") { Description = "Std of the embedding initialisation (textbook 0.01; PyTorch's nn.Embedding 1)." };
        var hidden = new Option<int?>("--hidden") { Description = "Hidden size H." };
        var layers = new Option<int?>("--layers") { Description = "Recurrent layers (1 = rnnlm; ≥ 2 = better-rnnlm)." };
        var dropout = new Option<double?>("--dropout") { Description = "Dropout probability around the recurrent layers (better-rnnlm)." };
        var tie = new Option<bool?>("--tie") { Description = "Tie the output weight to the embedding (needs --embed = --hidden). '--tie false' unties a preset." };
        var batch = new Option<int?>("--batch") { Description = "Parallel streams N." };
        var bptt = new Option<int?>("--bptt") { Description = "Time steps T per truncated-BPTT window." };
        var lr = new Option<double?>("--lr") { Description = "Learning rate." };
        var optimizer = new Option<string?>("--optimizer") { Description = "sgd, momentum, adagrad, rmsprop or adam." };
        var clip = new Option<double?>("--clip") { Description = "Max global gradient norm; 0 disables clipping." };
        var epochs = new Option<int?>("--epochs") { Description = "Epochs over the training split (default: the preset's; unlimited when only --max-steps is given)." };
        var maxSteps = new Option<long?>("--max-steps") { Description = "Stop after this many updates in total (whichever of this and --epochs ends first)." };
        var schedule = new Option<string?>("--schedule") { Description = "Learning-rate schedule: constant, plateau (÷4 when validation perplexity does not improve), step (×0.5 every epoch), cosine (to 0 over the run)." };
        var evalEvery = new Option<long>("--eval-every") { Description = "Also evaluate on the validation split every N updates (0 = at epoch ends only).", DefaultValueFactory = _ => 0 };
        var maxBad = new Option<int>("--max-bad-steps") { Description = "Stop after this many consecutive updates with a non-finite loss or gradient.", DefaultValueFactory = _ => 5 };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Checkpoint to resume from (default: <out>/checkpoint.safetensors)." };
        var flowEvery = new Option<long>("--flow-every") { Description = "Record the gradient flow through time of every recurrent layer every K updates (gradient-flow.csv/.jsonl, gradient-flow.png/.svg); 0 = off.", DefaultValueFactory = _ => 100 };
        var resume = new Option<bool>("--resume") { Description = "Continue the run saved in the checkpoint (same data flags); continues the same trajectory bit for bit." };

        var cmd = new Command("train",
            "Train a recurrent language model by truncated BPTT (textbook ch. 5–6) on words (PTB layout) or characters.\n" +
            "Writes metrics.csv, metrics.jsonl, checkpoint.safetensors, best.safetensors, loss.png/.svg, ppl.png/.svg and train-result.json into --out.\n" +
            "Ctrl-C (or SIGTERM) saves a checkpoint and exits with code 130; --resume continues it.\n\n" +
            "Examples:\n" +
            "  unroll train --task ptb --data ./ptb --preset rnnlm\n" +
            "  unroll train --task ptb --data ./ptb --preset better-rnnlm --epochs 10 --out better\n" +
            "  unroll train --task char --text tinyshakespeare.txt --layers 2 --hidden 256 --embed 64 --bptt 100 --batch 32 --optimizer adam --lr 2e-3 --clip 5 --max-steps 2000\n" +
            "  unroll train --task char --text tinyshakespeare.txt --resume --out unroll-train");
        foreach (var o in new Option[] { task, data, text, vf, preset, cell, init, embed, embedStd, hidden, layers, dropout, tie, batch, bptt, lr, optimizer, clip, epochs, maxSteps, schedule, evalEvery, maxBad, checkpoint, resume, flowEvery })
            cmd.Options.Add(o);

        cmd.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            bool quiet = parse.GetValue(GlobalOptions.Quiet), json = parse.GetValue(GlobalOptions.Json);
            string outDir = parse.GetValue(GlobalOptions.Out) ?? Path.Combine(".", "unroll-train");
            if (File.Exists(outDir)) throw new UsageException($"--out {outDir} is an existing file, expected a directory.");
            string ckPath = parse.GetValue(checkpoint) ?? Path.Combine(outDir, "checkpoint.safetensors");
            bool isResume = parse.GetValue(resume);

            // ---- everything is validated before anything is written ----
            var d = LmCommon.Load(parse.GetValue(task), parse.GetValue(data), parse.GetValue(text), parse.GetValue(vf));
            LoadedCheckpoint? ck = null;
            LanguageModelConfig cfg;
            TrainOptions topt;
            string optKind, schedKind;
            double lrValue;
            if (isResume)
            {
                if (!File.Exists(ckPath)) throw new UsageException($"--resume: no checkpoint at {ckPath} (give --checkpoint FILE or the --out of the run).");
                ck = Checkpoint.Load(ckPath);
                LmCommon.CheckVocab(ck, d);
                cfg = LanguageModelConfig.FromJson(ck.Meta.Config);
                var fixedFlags = new (string Name, object? Value)[] { ("--preset", parse.GetValue(preset)), ("--cell", parse.GetValue(cell)), ("--init", parse.GetValue(init)),
                    ("--embed", parse.GetValue(embed)), ("--embed-init-std", parse.GetValue(embedStd)), ("--hidden", parse.GetValue(hidden)), ("--layers", parse.GetValue(layers)), ("--dropout", parse.GetValue(dropout)),
                    ("--tie", parse.GetValue(tie)), ("--batch", parse.GetValue(batch)), ("--bptt", parse.GetValue(bptt)), ("--lr", parse.GetValue(lr)),
                    ("--optimizer", parse.GetValue(optimizer)), ("--clip", parse.GetValue(clip)), ("--schedule", parse.GetValue(schedule)) };
                var given = fixedFlags.Where(f => f.Value is not null).Select(f => f.Name).ToList();
                if (given.Count > 0) throw new UsageException($"--resume continues the saved run with its own settings; {string.Join(", ", given)} cannot change (only --epochs and --max-steps can).");
                topt = ck.Meta.Training.Deserialize<TrainOptions>() ?? throw new InvalidDataException($"{ckPath}: training settings missing.");
                topt = topt with { Epochs = parse.GetValue(epochs) ?? topt.Epochs, MaxSteps = parse.GetValue(maxSteps) ?? topt.MaxSteps, OutDir = outDir };
                optKind = ck.Meta.OptimizerKind; schedKind = ck.Meta.ScheduleKind; lrValue = ck.Meta.LearningRate;
            }
            else
            {
                if (File.Exists(Path.Combine(outDir, "checkpoint.safetensors")))
                    throw new UsageException($"{outDir} already holds a run (checkpoint.safetensors); use --resume to continue it or another --out.");
                string? p = parse.GetValue(preset);
                if (p is not null && !Presets.ContainsKey(p)) throw new UsageException($"Unknown --preset '{p}' (expected {string.Join(" or ", Presets.Keys)}).");
                var r = Presets[p ?? "rnnlm"];
                int nLayers = parse.GetValue(layers) ?? r.Layers;
                string modelKind = p is not null ? r.Model : nLayers >= 2 ? "better-rnnlm" : "rnnlm";
                if (p == "rnnlm" && nLayers != 1) throw new UsageException("--preset rnnlm has one recurrent layer; --layers ≥ 2 needs --preset better-rnnlm.");
                if (p == "better-rnnlm" && nLayers < 2) throw new UsageException("--preset better-rnnlm needs --layers ≥ 2.");
                double drop = parse.GetValue(dropout) ?? (modelKind == r.Model ? r.Dropout : 0.0);
                bool tied = parse.GetValue(tie) ?? (modelKind == r.Model && r.Tie);
                if (modelKind == "rnnlm" && drop != 0) throw new UsageException("--dropout needs --layers ≥ 2 (better-rnnlm); rnnlm has no dropout.");
                if (modelKind == "rnnlm" && tied) throw new UsageException("--tie needs --layers ≥ 2 (better-rnnlm).");
                cfg = new LanguageModelConfig
                {
                    Model = modelKind, Cell = parse.GetValue(cell) ?? r.Cell, Vocab = d.Vocab.Count,
                    Embed = parse.GetValue(embed) ?? r.Embed, Hidden = parse.GetValue(hidden) ?? r.Hidden, Layers = nLayers,
                    Dropout = drop, Tie = tied, Init = parse.GetValue(init) ?? "xavier", EmbedInitStd = parse.GetValue(embedStd) ?? 0.01,
                };
                cfg.Validate();
                optKind = parse.GetValue(optimizer) ?? r.Optimizer;
                if (!Optimizers.Names.Contains(optKind)) throw new UsageException($"Unknown --optimizer '{optKind}' (expected {string.Join(", ", Optimizers.Names)}).");
                schedKind = parse.GetValue(schedule) ?? r.Schedule;
                lrValue = parse.GetValue(lr) ?? r.Lr;
                if (!(lrValue > 0) || double.IsInfinity(lrValue)) throw new UsageException($"--lr must be > 0, got {lrValue}.");
                topt = new TrainOptions
                {
                    Batch = parse.GetValue(batch) ?? r.Batch, Bptt = parse.GetValue(bptt) ?? r.Bptt, Epochs = parse.GetValue(epochs) ?? (parse.GetValue(maxSteps) is > 0 ? int.MaxValue : r.Epochs),   // --max-steps alone is the budget
                    MaxSteps = parse.GetValue(maxSteps) ?? 0, Clip = parse.GetValue(clip) ?? r.Clip,
                    EvalBatch = 10, EvalBptt = parse.GetValue(bptt) ?? r.Bptt, EvalEvery = parse.GetValue(evalEvery),
                    MaxBadSteps = parse.GetValue(maxBad), BitsPerChar = d.Task == "char", KeepBest = r.KeepBest, OutDir = outDir,
                };
            }
            topt.Validate();
            _ = new BpttBatcher(d.Train, topt.Batch, topt.Bptt, "training split");      // too short → error before anything is written
            var seed = parse.GetValue(GlobalOptions.Seed);
            var model = LanguageModels.Create<float>(cfg, new Rng((ulong)seed));
            var opt = Optimizers.Create<float>(optKind, lrValue);
            long totalSteps = topt.MaxSteps > 0 ? topt.MaxSteps : (long)topt.Epochs * Math.Max(1, (d.Train.Length - 1) / (topt.Batch * topt.Bptt));
            var sched = LrSchedule.Create(schedKind, lrValue, totalSteps: Math.Max(1, totalSteps));
            var baseMeta = new CheckpointMeta { VocabKind = d.VocabKind, Vocab = d.Vocab.Tokens.ToArray() };

            Directory.CreateDirectory(outDir);
            using var log = new MetricsLog(outDir, Trainer<float>.MetricColumns, append: isResume);
            var reporter = new Reporter(stdout, quiet, json, d.Task == "char");
            var trainer = new Trainer<float>(model, opt, sched, topt, d.Train, d.Valid, baseMeta, reporter, log);
            if (ck is not null) trainer.Resume(ck);
            long flowK = parse.GetValue(flowEvery);
            if (flowK < 0) throw new UsageException($"--flow-every must be ≥ 0 (0 = off), got {flowK}.");
            using var flow = flowK > 0 ? new FlowMonitor<float>(model, flowK, outDir, append: isResume) : null;
            if (flow is not null) trainer.AfterBackward = flow.AfterBackward;
            if (!quiet && !json)
                stdout.WriteLine($"{cfg.Model}: {cfg.Layers}×{cfg.Cell} embed {cfg.Embed} hidden {cfg.Hidden}{(cfg.Tie ? " tied" : "")}{(cfg.Dropout > 0 ? $" dropout {cfg.Dropout}" : "")}, vocab {cfg.Vocab}; " +
                                 $"{optKind} lr {opt.LearningRate:G4} clip {topt.Clip}, batch {topt.Batch} × bptt {topt.Bptt}, {trainer.TrainBatcher.IterationsPerEpoch} updates/epoch, seed {seed}");

            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            // SIGTERM (e.g. a job scheduler stopping the run) also ends at the next update with a checkpoint
            using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM,
                c => { c.Cancel = true; cts.Cancel(); });
            TrainResult result;
            try
            {
                result = LmCommon.Interactive(stdout, quiet || json)
                    ? reporter.RunWithProgress(trainer, topt, totalSteps, cts.Token)
                    : trainer.Run(cts.Token);
            }
            catch (TrainingDivergedException e)
            {
                stderr.WriteLine($"unroll: {e.Message}");
                return CliApp.ExitFailure;
            }
            finally { Console.CancelKeyPress -= onCancel; }

            // test perplexity (PTB) with the kept best model when there is one, as the textbook does
            EvalReport? testEval = null;
            string testModel = "final";
            if (d.Test is not null && result.Reason == StopReason.Completed)
            {
                if (topt.KeepBest && trainer.BestPath is { } bp && File.Exists(bp))
                {
                    Checkpoint.Load(bp).LoadParameters(model.DistinctParameters());
                    testModel = "best";
                }
                testEval = trainer.Evaluate(d.Test, "test");
            }

            var output = new OutputSet();
            AddPlots(output, log.CsvPath);
            if (flow is not null) AddFlowPlot(output, flow);
            var summary = new JsonObject
            {
                ["stopped"] = result.Reason.ToString().ToLowerInvariant(), ["steps"] = result.Steps, ["epochs_done"] = result.Epoch,
                ["train_loss"] = Finite(result.LastLoss), ["valid_loss"] = Finite(result.LastEval?.Loss), ["valid_ppl"] = Finite(result.LastEval?.Perplexity),
                ["valid_bpc"] = Finite(result.LastEval?.BitsPerChar), ["best_valid_ppl"] = Finite(Math.Exp(result.BestValid)),
                ["test_loss"] = Finite(testEval?.Loss), ["test_ppl"] = Finite(testEval?.Perplexity), ["test_model"] = testEval is null ? null : testModel,
                ["skipped_steps"] = result.SkippedSteps, ["clipped_steps"] = trainer.ClippedSteps,
                ["flow"] = flow is null || flow.History.Count == 0 ? null : new JsonArray(flow.Latest
                    .Select(h => (JsonNode)new JsonObject
                    {
                        ["step"] = h.Step, ["layer"] = h.Layer, ["verdict"] = h.Summary.Verdict.Kind.ToString().ToLowerInvariant(),
                        ["propagation_gain"] = Finite(h.Summary.PropagationGain), ["step_gain"] = Finite(h.Summary.MeanStepGain),
                        ["sigma_max"] = Finite(h.Summary.SigmaMax), ["evidence"] = h.Summary.Verdict.Evidence,
                    }).ToArray()), ["checkpoint"] = result.CheckpointPath, ["config"] = cfg.ToJson(),
                ["tokens_per_s"] = Finite(reporter.MeanTokensPerSecond), ["seed"] = seed,
            };
            output.AddText("train-result.json", summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
            output.Commit(outDir);

            if (json) stdout.WriteLine(summary.ToJsonString());
            else
            {
                stdout.WriteLine(result.Reason switch
                {
                    StopReason.Interrupted => $"interrupted at step {result.Steps}; checkpoint saved to {result.CheckpointPath} (continue with --resume)",
                    StopReason.MaxSteps => $"stopped after --max-steps {result.Steps}; checkpoint {result.CheckpointPath}",
                    _ => $"done: {result.Steps} updates, {result.Epoch} epochs; checkpoint {result.CheckpointPath}",
                });
                if (result.LastEval is { } ve) stdout.WriteLine($"valid  loss {ve.Loss:F4}  ppl {ve.Perplexity:F2}{(ve.BitsPerChar is { } b ? $"  bpc {b:F4}" : "")}");
                if (testEval is { } te) stdout.WriteLine($"test   loss {te.Loss:F4}  ppl {te.Perplexity:F2}  ({testModel} model)");
                if (result.SkippedSteps > 0) stdout.WriteLine($"skipped updates (non-finite): {result.SkippedSteps}");
                if (topt.Clip > 0) stdout.WriteLine($"clipping fired on {trainer.ClippedSteps} of {result.Steps - (ck is null ? 0 : ck.Meta.Step)} updates in this run (pre-clip norms: grad_norm in metrics.csv)");
                if (flow is not null) foreach (var line in flow.LatestLines()) stdout.WriteLine(line);
                if (!quiet) stdout.WriteLine($"wrote metrics.csv, metrics.jsonl, loss/ppl plots and train-result.json to {Path.GetFullPath(outDir)}");
            }
            return result.Reason == StopReason.Interrupted ? 130 : CliApp.ExitOk;
        });
        return cmd;
    }

    private static JsonNode? Finite(double? v) => v is { } x && double.IsFinite(x) ? JsonValue.Create(x) : null;

    /// <summary>loss.png/.svg (train loss per update, validation loss) and ppl.png/.svg from the metrics file.</summary>
    private static void AddPlots(OutputSet output, string csvPath)
    {
        var lines = File.ReadAllLines(csvPath);
        if (lines.Length < 2) return;
        var cols = lines[0].Split(',');
        int iStep = Array.IndexOf(cols, "step"), iLoss = Array.IndexOf(cols, "loss"), iV = Array.IndexOf(cols, "valid_loss"), iVp = Array.IndexOf(cols, "valid_ppl");
        var ts = new List<double>(); var tl = new List<double>(); var vs = new List<double>(); var vl = new List<double>(); var vp = new List<double>();
        foreach (var line in lines.Skip(1))
        {
            var c = line.Split(',');
            if (c.Length != cols.Length || !double.TryParse(c[iStep], CultureInfo.InvariantCulture, out double s)) continue;
            if (double.TryParse(c[iLoss], CultureInfo.InvariantCulture, out double l)) { ts.Add(s); tl.Add(l); }
            if (double.TryParse(c[iV], CultureInfo.InvariantCulture, out double v)) { vs.Add(s); vl.Add(v); vp.Add(double.Parse(c[iVp], CultureInfo.InvariantCulture)); }
        }
        var loss = Plots.Linear("Loss", "update", "cross-entropy (nats/token)",
            [new PlotSeries("train", ts.ToArray(), tl.ToArray()), new PlotSeries("valid", vs.ToArray(), vl.ToArray())]);
        Plots.AddPngAndSvg(output, "loss", loss);
        var ppl = Plots.Linear("Validation perplexity", "update", "perplexity", [new PlotSeries("valid", vs.ToArray(), vp.ToArray())]);
        Plots.AddPngAndSvg(output, "ppl", ppl);
    }

    /// <summary>gradient-flow.png/.svg: gain from the last to the first step of each window, per recurrent layer, over training.</summary>
    private static void AddFlowPlot(OutputSet output, FlowMonitor<float> flow)
    {
        if (flow.History.Count == 0) return;
        var series = flow.History.GroupBy(h => h.Layer).Select(g => new PlotSeries($"layer {g.Key} ({g.First().Summary.Cell})",
            g.Select(h => (double)h.Step).ToArray(), g.Select(h => h.Summary.PropagationGain).ToArray())).ToList();
        var plt = Plots.LogY("Gradient flow through time during training", "update", "‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ (log scale)", series);
        Plots.AddPngAndSvg(output, "gradient-flow", plt);
    }

    /// <summary>Progress: a Spectre.Console bar on a terminal, plain lines when redirected.</summary>
    private sealed class Reporter(TextWriter stdout, bool quiet, bool json, bool bpc) : ITrainingObserver
    {
        private ProgressTask? _task;
        private double _tokens, _seconds;
        private double _emaLoss = double.NaN;
        private DateTime _lastLine = DateTime.MinValue;

        /// <summary>Tokens per second over all updates of this process (total tokens / total update time).</summary>
        public double MeanTokensPerSecond => _seconds > 0 ? _tokens / _seconds : double.NaN;

        public TrainResult RunWithProgress(Trainer<float> trainer, TrainOptions o, long totalSteps, CancellationToken ct)
        {
            TrainResult? r = null;
            AnsiConsole.Progress().AutoClear(false).HideCompleted(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    _task = ctx.AddTask("training", maxValue: Math.Max(1, totalSteps));
                    _task.Value = trainer.Step;
                    r = trainer.Run(ct);
                    _task.StopTask();
                });
            _task = null;
            return r!;
        }

        public void OnStep(StepReport s)
        {
            if (!s.Skipped) { _tokens += s.Tokens; _seconds += s.Tokens / s.TokensPerSecond; _emaLoss = double.IsNaN(_emaLoss) ? s.Loss : 0.95 * _emaLoss + 0.05 * s.Loss; }
            if (_task is not null)
            {
                _task.Value = s.Step + 1;
                _task.Description = $"epoch {s.Epoch + 1} · loss {_emaLoss:F3} · ppl {Math.Exp(_emaLoss):F1} · {s.TokensPerSecond:F0} tok/s";
                return;
            }
            if (quiet || json) return;
            if ((DateTime.UtcNow - _lastLine).TotalSeconds >= 5 || s.Iteration + 1 == s.IterationsPerEpoch)
            {
                _lastLine = DateTime.UtcNow;
                stdout.WriteLine($"step {s.Step + 1}  epoch {s.Epoch + 1} ({s.Iteration + 1}/{s.IterationsPerEpoch})  loss {_emaLoss:F4}  ppl {Math.Exp(_emaLoss):F2}  grad_norm {s.GradNorm:G4}  lr {s.LearningRate:G4}  {s.TokensPerSecond:F0} tok/s");
            }
        }

        public void OnEval(EvalReport e)
        {
            string line = $"{e.Split} after step {e.Step}: loss {e.Loss:F4}  ppl {e.Perplexity:F2}{(bpc && e.BitsPerChar is { } b ? $"  bpc {b:F4}" : "")}{(e.Improved ? "  (best)" : "")}";
            Say(line);
        }

        public void OnMessage(string message) => Say(message);

        private void Say(string line)
        {
            if (_task is not null) AnsiConsole.MarkupLine(Markup.Escape(line));
            else if (!quiet && !json) stdout.WriteLine(line);
        }
    }
}
