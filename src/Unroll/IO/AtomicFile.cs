using System.Text;

namespace Unroll.IO;

/// <summary>Atomic file writes: write to a temporary file beside the target, flush, then rename over it.</summary>
public static class AtomicFile
{
    // leaveOpen: Write still flushes the stream to disk after this returns (disposing the writer would close it first)
    public static void WriteAllText(string path, string text) => Write(path, s => { using var w = new StreamWriter(s, new UTF8Encoding(false), bufferSize: -1, leaveOpen: true); w.Write(text); });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>Calls <paramref name="write"/> on a temp file's stream, flushes to disk, renames onto <paramref name="path"/>.
    /// On failure the temp file is deleted and the old target (if any) is untouched.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Environment.ProcessId + ".tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
