using Unroll.IO;

namespace Unroll.Tests;

public class AtomicFileWriteAllTextTests
{
    [Fact]
    public void WriteAllTextWritesTheTextAndLeavesNoTemporaryFile()
    {
        var dir = Path.Combine(Path.GetTempPath(), "unroll-atomic-" + Guid.NewGuid().ToString("N"));
        try
        {
            var path = Path.Combine(dir, "a.txt");
            AtomicFile.WriteAllText(path, "σ_max ≤ 1\n");
            AtomicFile.WriteAllText(path, "second\n");
            Assert.Equal("second\n", File.ReadAllText(path));
            Assert.Equal([path], Directory.GetFiles(dir));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
