using System.Text.Json.Nodes;
using Unroll.IO;
using Unroll.Optim;
using Unroll.Tensors;

namespace Unroll.Tests;

public class CheckpointTests
{
    private static List<Parameter<float>> Params(ulong seed)
    {
        var rng = new Rng(seed);
        var a = new Parameter<float>("embed.W", new Tensor<float>(5, 3));
        var b = new Parameter<float>("out.b", new Tensor<float>(5));
        foreach (var p in new[] { a, b }) for (int i = 0; i < p.Value.Length; i++) p.Value.Span[i] = (float)rng.NextGaussian();
        return [a, b];
    }

    private static string Write(TempDir d, out List<Parameter<float>> ps, out Adam<float> opt)
    {
        ps = Params(1);
        opt = new Adam<float>(0.01);
        foreach (var p in ps) p.Grad.Fill(0.5f);
        opt.Step(ps);
        var meta = new CheckpointMeta
        {
            Config = new JsonObject { ["model"] = "rnnlm", ["hidden"] = 7 },
            VocabKind = "char", Vocab = ["a", "b", "é", "\n", "🙂"],
            Step = 42, Epoch = 2, Iteration = 3, ModelRng = new Rng(9).GetState(),
            ScheduleKind = "plateau", ScheduleState = new() { ["best"] = double.PositiveInfinity },
        };
        var path = d.File("ck.safetensors");
        Checkpoint.Save(path, meta, ps, opt.ExportState(ps), [("layer0.h", Tensor<float>.FromArray([1f, 2f], 1, 2))]);
        return path;
    }

    [Fact]
    public void RoundTripRestoresEverythingExactly()
    {
        using var d = new TempDir();
        var path = Write(d, out var ps, out var opt);
        var ck = Checkpoint.Load(path);
        Assert.Equal(42, ck.Meta.Step);
        Assert.Equal(["a", "b", "é", "\n", "🙂"], ck.Meta.Vocab);
        Assert.Equal(7, (int)ck.Meta.Config["hidden"]!);
        Assert.Equal(new Rng(9).GetState(), ck.Meta.ModelRng);
        Assert.Equal(double.PositiveInfinity, ck.Meta.ScheduleState["best"]);
        Assert.Equal("adam", ck.Meta.OptimizerKind);

        var qs = Params(2);
        ck.LoadParameters(qs);
        for (int i = 0; i < 2; i++) Assert.Equal(ps[i].Value.ToArray(), qs[i].Value.ToArray());
        var opt2 = new Adam<float>(1);
        opt2.ImportState(ck.OptimizerState<float>(), qs);
        Assert.Equal(1, opt2.Steps);
        Assert.Equal(0.01, opt2.LearningRate);
        Assert.Equal([1f, 2f], ck.State<float>("layer0.h")!.ToArray());
        Assert.Null(ck.State<float>("nope"));
        Assert.Single(Directory.GetFiles(d.Path));
    }

    [Fact]
    public void TruncatedCorruptAndForeignFilesGiveClearErrors()
    {
        using var d = new TempDir();
        var path = Write(d, out _, out _);
        var good = File.ReadAllBytes(path);

        File.WriteAllBytes(path, good[..(good.Length - 10)]);
        Assert.Contains("corrupt or truncated", Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path)).Message);

        var flipped = (byte[])good.Clone(); flipped[^3] ^= 0x10;      // a weight bit
        File.WriteAllBytes(path, flipped);
        Assert.Contains("checksum", Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path)).Message);

        File.WriteAllBytes(path, good[..4]);
        Assert.Contains(path, Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path)).Message);

        SafeTensorsWriter.Write(path, [SafeTensorsWriter.FromTensor("x", new Tensor<float>(2))]);
        Assert.Contains("not an Unroll checkpoint", Assert.Throws<InvalidDataException>(() => Checkpoint.Load(path)).Message);

        Assert.Throws<FileNotFoundException>(() => Checkpoint.Load(d.File("missing")));
    }

    [Fact]
    public void ParameterMismatchNamesTheWeight()
    {
        using var d = new TempDir();
        var path = Write(d, out _, out _);
        var ck = Checkpoint.Load(path);
        var wrong = new List<Parameter<float>> { new("embed.W", new Tensor<float>(6, 3)), new("out.b", new Tensor<float>(5)) };
        Assert.Contains("embed.W", Assert.Throws<InvalidDataException>(() => ck.LoadParameters(wrong)).Message);
        var missing = new List<Parameter<float>> { new("embed.W", new Tensor<float>(5, 3)), new("other", new Tensor<float>(5)) };
        Assert.Contains("no weight 'other'", Assert.Throws<InvalidDataException>(() => ck.LoadParameters(missing)).Message);
        var fewer = new List<Parameter<float>> { new("embed.W", new Tensor<float>(5, 3)) };
        Assert.Contains("out.b", Assert.Throws<InvalidDataException>(() => ck.LoadParameters(fewer)).Message);
    }
}
