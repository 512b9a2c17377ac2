using Unroll.Flow;
using Unroll.Optim;
using Unroll.Tasks;
using Unroll.Tensors;

namespace Unroll.Tests.Demo;

/// <summary>The README's library example, verbatim between the markers; the test also checks the README still shows it.</summary>
public sealed class ReadmeExampleTests
{
    [Fact]
    public void LibraryExample_Runs_AndIsTheOneInTheReadme()
    {
        // README-BEGIN
        var rng = new Rng(1);
        var task = new AddingProblem(length: 20);                 // sum the two marked numbers of 20
        var model = new SequenceModel<float>(task, ModelSpec.Parse("lstm"), hidden: 32, rng);
        var ps = model.DistinctParameters();
        var adam = Optimizers.Create<float>("adam", 0.01);
        var batch = task.Sample<float>(rng, 32);
        float loss = 0;
        for (int step = 0; step < 40; step++)
        {
            task.Fill(rng, batch);                                // a fresh batch (N=32, T=20, 2 channels)
            model.ZeroGrad();
            loss = model.Loss(batch);                             // forward: LSTM, affine head, MSE
            model.Backward();                                     // hand-written backward through time
            GradClip.ClipGlobalNorm(ps, maxNorm: 1.0);
            adam.Step(ps);
        }
        GradientFlowSummary flow = new GradientFlowRecorder<float>().Summarize(model.Layer);
        Console.WriteLine($"loss {loss:0.000}; {flow.Verdict}");
        // README-END

        Assert.True(float.IsFinite(loss) && loss < 1.0f, $"loss {loss}");
        Assert.Equal(20, flow.T);
        Assert.Equal("lstm", flow.Cell);
        Assert.True(flow.SigmaMax > 0);

        string source = File.ReadAllText(Path.Combine(DemoTests.RepoRoot(), "tests", "Unroll.Tests", "Demo", "ReadmeExampleTests.cs"));
        int a = source.IndexOf("// README-BEGIN", StringComparison.Ordinal), b = source.IndexOf("// README-END", StringComparison.Ordinal);
        string readme = File.ReadAllText(Path.Combine(DemoTests.RepoRoot(), "README.md"));
        foreach (var line in source[(a + 15)..b].Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0))
            Assert.True(readme.Contains(line, StringComparison.Ordinal), $"README.md lacks the example line: {line}");
    }
}
