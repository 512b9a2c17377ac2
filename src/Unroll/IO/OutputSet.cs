using System.Text;

namespace Unroll.IO;

/// <summary>
/// A set of output files built completely in memory and written only when <see cref="Commit"/> is called, so a
/// command that fails half-way (bad input, an exception while computing) leaves no partial output behind.
/// Each file is written atomically; if one write fails, the files of this set already written are removed.
/// </summary>
public sealed class OutputSet
{
    private readonly List<(string Name, byte[] Bytes)> _files = [];

    /// <summary>The file names added so far (relative to the output directory), in order.</summary>
    public IEnumerable<string> Names => _files.Select(f => f.Name);

    /// <summary>Adds a binary file (e.g. a PNG).</summary>
    public void Add(string name, byte[] bytes) => _files.Add((name, bytes));
    /// <summary>Adds a UTF-8 text file (CSV, JSON, SVG, Markdown).</summary>
    public void AddText(string name, string text) => _files.Add((name, new UTF8Encoding(false).GetBytes(text)));

    /// <summary>
    /// Creates <paramref name="directory"/> if needed and writes every file into it. Throws
    /// <see cref="ArgumentException"/> if <paramref name="directory"/> is an existing file.
    /// </summary>
    /// <returns>The full paths written.</returns>
    public IReadOnlyList<string> Commit(string directory)
    {
        if (File.Exists(directory)) throw new ArgumentException($"output directory '{directory}' is an existing file.");
        bool created = !Directory.Exists(directory);
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        try
        {
            foreach (var (name, bytes) in _files)
            {
                string path = Path.Combine(directory, name);
                AtomicFile.WriteAllBytes(path, bytes);
                written.Add(path);
            }
        }
        catch
        {
            foreach (var p in written) { try { File.Delete(p); } catch (IOException) { } catch (UnauthorizedAccessException) { } }
            if (created) { try { Directory.Delete(directory); } catch (IOException) { } catch (UnauthorizedAccessException) { } }
            throw;
        }
        return written;
    }
}
