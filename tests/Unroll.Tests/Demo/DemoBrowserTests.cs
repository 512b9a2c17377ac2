using System.Diagnostics;
using Unroll.Cli;
using Xunit.Abstractions;

namespace Unroll.Tests.Demo;

/// <summary>
/// The real demo (full size, as the README's main command runs it), rendered in headless Chromium by
/// <c>.ci/check-report</c>: sections, plots, page errors, blank screenshot. The output folder (with the screenshot,
/// the CI artefact) is <c>artifacts/demo-report</c> at the repository root, or <c>$UNROLL_DEMO_DIR</c>.
/// Outside CI, a machine without python3 (or without chromium and the rights to install it) passes with a message;
/// on CI (<c>CI=true</c>) it must run.
/// </summary>
[Trait("Category", "Browser")]
public sealed class DemoBrowserTests(ITestOutputHelper output)
{
    [Fact]
    public async Task FullDemo_RendersInHeadlessChromium()
    {
        bool ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
                  || Environment.GetEnvironmentVariable("CI") == "1";
        string repo = DemoTests.RepoRoot();
        string dir = Environment.GetEnvironmentVariable("UNROLL_DEMO_DIR") is { Length: > 0 } d ? d : Path.Combine(repo, "artifacts", "demo-report");

        string? python = Which("python3");
        bool canInstall = Environment.UserName == "root" && Which("apt-get") is not null;
        if (python is null || (Which("chromium") is null && !canInstall))
        {
            string why = python is null ? "python3 is not installed" : "chromium is not installed and cannot be installed here";
            Assert.False(ci, $"CI=true but {why}: the browser check must run on CI.");
            output.WriteLine($"SKIPPED the browser check: {why}.");
            return;
        }

        var o = new StringWriter(); var e = new StringWriter();
        var sw = Stopwatch.StartNew();
        int code = CliApp.Run(["demo", "--out", dir, "--quiet"], o, e);
        Assert.True(code == 0, $"demo exited {code}: {e}");
        output.WriteLine($"demo: {sw.Elapsed.TotalSeconds:0.0} s, {dir}");

        var psi = new ProcessStartInfo(python, [Path.Combine(repo, ".ci", "check-report"), dir])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await p.WaitForExitAsync(timeout.Token);
        string log = await stdout + await stderr;
        output.WriteLine(log);
        Assert.True(p.ExitCode == 0, $"check-report failed (exit {p.ExitCode}):\n{log}");
        Assert.True(File.Exists(Path.Combine(dir, "report-screenshot.png")), "no screenshot kept");
    }

    private static string? Which(string exe) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, exe)).FirstOrDefault(File.Exists);
}
