using Unroll.Data;
using Unroll.IO;
using Unroll.Models;
using Unroll.Optim;
using Unroll.Tensors;
using Unroll.Training;

namespace Unroll.Tests;

public class TrainerTests
{
    private static readonly WordCorpus Ptb = WordCorpus.Load(DataTests.Fixture("ptb-mini"));

    private static (Trainer<float> trainer, ILanguageModel<float> model) Make(string? outDir, TrainOptions o, string model = "better-rnnlm",
        string opt = "adam", double lr = 0.01, string schedule = "plateau", MetricsLog? log = null)
    {
        var cfg = model == "rnnlm"
            ? new LanguageModelConfig { Model = "rnnlm", Cell = "lstm", Vocab = Ptb.Vocab.Count, Embed = 8, Hidden = 8 }
            : new LanguageModelConfig { Model = "better-rnnlm", Cell = "lstm", Vocab = Ptb.Vocab.Count, Embed = 8, Hidden = 8, Layers = 2, Dropout = 0.2, Tie = true };
        var m = LanguageModels.Create<float>(cfg, new Rng(11));
        var meta = new CheckpointMeta { VocabKind = "word", Vocab = Ptb.Vocab.Tokens.ToArray() };
        var tr = new Trainer<float>(m, Optimizers.Create<float>(opt, lr), LrSchedule.Create(schedule, lr), o with { OutDir = outDir },
                                    Ptb.Train, Ptb.Valid, meta, log: log);
        return (tr, m);
    }

    private static readonly TrainOptions Small = new() { Batch = 4, Bptt = 10, Epochs = 2, Clip = 1.0, EvalBatch = 2, EvalBptt = 10 };

    [Fact]
    public void LearnsThePtbFixtureBetterThanUniform()
    {
        var (tr, _) = Make(null, Small with { Epochs = 3 }, model: "rnnlm", opt: "adam", lr: 0.02);
        var r = tr.Run();
        Assert.Equal(StopReason.Completed, r.Reason);
        Assert.Equal(3 * tr.TrainBatcher.IterationsPerEpoch, r.Steps);
        Assert.NotNull(r.LastEval);
        // a uniform guess has perplexity V; the corpus is a small grammar, so a trained LSTM must do far better
        Assert.True(r.LastEval!.Perplexity < Ptb.Vocab.Count / 3.0, $"valid ppl {r.LastEval.Perplexity:F1} vs V = {Ptb.Vocab.Count}");
        Assert.True(tr.Losses.Take(5).Average() > tr.Losses.TakeLast(5).Average() + 0.5);
    }

    [Fact]
    public void ResumeContinuesBitIdentically()
    {
        using var d = new TempDir();
        var o = Small with { Epochs = 2 };
        var (full, _) = Make(null, o);
        full.Run();
        int total = full.Losses.Count;

        foreach (long stopAt in new long[] { 7, full.TrainBatcher.IterationsPerEpoch })   // mid-epoch, and at an epoch boundary
        {
            var dir = Path.Combine(d.Path, $"run{stopAt}");
            var (first, _) = Make(dir, o with { MaxSteps = stopAt });
            var r1 = first.Run();
            Assert.Equal(StopReason.MaxSteps, r1.Reason);
            Assert.Equal(full.Losses.Take((int)stopAt), first.Losses);

            var (second, _) = Make(dir, o);
            second.Resume(Checkpoint.Load(Path.Combine(dir, "checkpoint.safetensors")));
            second.Run();
            Assert.Equal(total - (int)stopAt, second.Losses.Count);
            for (int i = 0; i < second.Losses.Count; i++)
                Assert.True(BitConverter.DoubleToInt64Bits(full.Losses[(int)stopAt + i]) == BitConverter.DoubleToInt64Bits(second.Losses[i]),
                    $"stop at {stopAt}: loss {(int)stopAt + i} differs: {full.Losses[(int)stopAt + i]:R} vs resumed {second.Losses[i]:R}");
        }
    }

    [Fact]
    public void ResumeRejectsOtherVocabularyAndConfiguration()
    {
        using var d = new TempDir();
        var (a, _) = Make(d.Path, Small with { MaxSteps = 2 });
        a.Run();
        var ck = Checkpoint.Load(Path.Combine(d.Path, "checkpoint.safetensors"));
        var (b, _) = Make(null, Small, model: "rnnlm");
        Assert.Contains("configuration", Assert.Throws<InvalidDataException>(() => b.Resume(ck)).Message);

        var cfg = new LanguageModelConfig { Model = "better-rnnlm", Cell = "lstm", Vocab = Ptb.Vocab.Count, Embed = 8, Hidden = 8, Layers = 2, Dropout = 0.2, Tie = true };
        var other = new CheckpointMeta { VocabKind = "word", Vocab = Ptb.Vocab.Tokens.Reverse().ToArray() };
        var c = new Trainer<float>(LanguageModels.Create<float>(cfg, new Rng(1)), new Adam<float>(0.01), new PlateauDivide(), Small, Ptb.Train, Ptb.Valid, other);
        Assert.Contains("vocabulary", Assert.Throws<InvalidDataException>(() => c.Resume(ck)).Message);
    }

    [Fact]
    public void NonFiniteGradientSkipsUpdateKeepsParametersAndStopsAfterK()
    {
        using var d = new TempDir();
        var (tr, m) = Make(d.Path, Small with { MaxBadSteps = 3, Epochs = 3 });
        float[]? before = null;
        long from = tr.TrainBatcher.IterationsPerEpoch + 2;                // persistent faults start in the second epoch
        tr.AfterBackward = (step, ps) =>
        {
            if (step == 3) before = ps.SelectMany(p => p.Value.ToArray()).ToArray();
            if (step is 3 or 4 || step >= from) ps[0].Grad.Span[0] = float.NaN;
            if (step == 5) Assert.Equal(before, ps.SelectMany(p => p.Value.ToArray()).ToArray());   // steps 3, 4 changed nothing
        };
        var ex = Assert.Throws<TrainingDivergedException>(() => tr.Run());
        Assert.True(ex.Message.Contains("3 consecutive"), ex.Message);
        Assert.True(ex.Message.Contains($"steps {from}–{from + 2}"), ex.Message);
        Assert.True(ex.Message.Contains("checkpoint.safetensors is intact"), ex.Message);     // written at the end of epoch 1
        Assert.Equal(5, tr.SkippedSteps);
        Assert.True(tr.Losses.Take((int)from).All(double.IsFinite));
        var ck = Checkpoint.Load(Path.Combine(d.Path, "checkpoint.safetensors"));
        Assert.Equal(tr.TrainBatcher.IterationsPerEpoch, ck.Meta.Step);
    }

    [Fact]
    public void CancellationSavesACheckpointAndStops()
    {
        using var d = new TempDir();
        var cts = new CancellationTokenSource();
        var (tr, _) = Make(d.Path, Small);
        tr.AfterBackward = (step, _) => { if (step == 4) cts.Cancel(); };
        var r = tr.Run(cts.Token);
        Assert.Equal(StopReason.Interrupted, r.Reason);
        Assert.Equal(5, r.Steps);
        Assert.Equal(5, Checkpoint.Load(r.CheckpointPath!).Meta.Step);
    }

    [Fact]
    public void MetricsFilesHaveTheSharedColumns()
    {
        using var d = new TempDir();
        using (var log = new MetricsLog(d.Path, Trainer<float>.MetricColumns, append: false))
        {
            var (tr, _) = Make(d.Path, Small with { Epochs = 1 }, log: log);
            tr.Run();
        }
        var lines = File.ReadAllLines(Path.Combine(d.Path, "metrics.csv"));
        var header = lines[0].Split(',');
        foreach (var c in new[] { "step", "loss", "tokens_per_s", "grad_norm", "clipped", "valid_ppl", "valid_loss" }) Assert.Contains(c, header);
        var json = File.ReadAllLines(Path.Combine(d.Path, "metrics.jsonl"));
        Assert.Equal(lines.Length - 1, json.Length);
        Assert.Contains("\"valid_ppl\"", json[^1]);
        Assert.Contains("\"grad_norm\"", json[0]);
    }
}
