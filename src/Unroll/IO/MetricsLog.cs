using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Unroll.IO;

/// <summary>
/// Appends metric rows to <c>metrics.csv</c> and <c>metrics.jsonl</c> in a directory (shared CLI conventions):
/// a fixed column list; a missing value is an empty CSV cell and an absent JSON key. Each row is flushed as written,
/// so a crash loses at most the row being written. Opening an existing CSV with the same columns appends (resume).
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private readonly string[] _columns;
    private readonly StreamWriter _csv, _jsonl;

    /// <param name="dir">Directory (created if missing).</param>
    /// <param name="columns">The fixed column list.</param>
    /// <param name="append">Append to an existing file with the same columns (resume).</param>
    /// <param name="baseName">File name without extension: <c>metrics</c> (the shared conventions' metrics files) or
    /// another log, e.g. <c>gradient-flow</c>.</param>
    public MetricsLog(string dir, IReadOnlyList<string> columns, bool append, string baseName = "metrics")
    {
        Directory.CreateDirectory(dir);
        _columns = columns.ToArray();
        CsvPath = Path.Combine(dir, baseName + ".csv");
        JsonlPath = Path.Combine(dir, baseName + ".jsonl");
        string header = string.Join(",", _columns);
        bool writeHeader = true;
        if (append && File.Exists(CsvPath))
        {
            using (var r = new StreamReader(CsvPath)) writeHeader = r.ReadLine() is not { } first ? true : first == header ? false
                : throw new InvalidDataException($"{CsvPath} has columns '{first}', expected '{header}'; use another --out.");
        }
        _csv = new StreamWriter(CsvPath, append && !writeHeader, new UTF8Encoding(false));
        _jsonl = new StreamWriter(JsonlPath, append, new UTF8Encoding(false));
        if (writeHeader) { _csv.WriteLine(header); _csv.Flush(); }
    }

    public string CsvPath { get; }
    public string JsonlPath { get; }

    /// <summary>Writes one row; keys must be among the columns (others are an error), values double/long/int/string or null.</summary>
    public void Write(IReadOnlyDictionary<string, object?> row)
    {
        foreach (var k in row.Keys)
            if (Array.IndexOf(_columns, k) < 0) throw new ArgumentException($"MetricsLog: unknown column '{k}'.");
        var csv = new StringBuilder();
        var buf = new MemoryStream();
        using (var j = new Utf8JsonWriter(buf))
        {
            j.WriteStartObject();
            for (int i = 0; i < _columns.Length; i++)
            {
                if (i > 0) csv.Append(',');
                if (!row.TryGetValue(_columns[i], out var v) || v is null) continue;
                switch (v)
                {
                    case double d:
                        csv.Append(d.ToString("R", CultureInfo.InvariantCulture));
                        if (double.IsFinite(d)) j.WriteNumber(_columns[i], d); else j.WriteString(_columns[i], d.ToString(CultureInfo.InvariantCulture));
                        break;
                    case long l: csv.Append(l.ToString(CultureInfo.InvariantCulture)); j.WriteNumber(_columns[i], l); break;
                    case int n: csv.Append(n.ToString(CultureInfo.InvariantCulture)); j.WriteNumber(_columns[i], n); break;
                    case bool b: csv.Append(b ? '1' : '0'); j.WriteNumber(_columns[i], b ? 1 : 0); break;
                    default:
                        var s = Convert.ToString(v, CultureInfo.InvariantCulture) ?? "";
                        csv.Append(s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s);
                        j.WriteString(_columns[i], s);
                        break;
                }
            }
            j.WriteEndObject();
        }
        _csv.WriteLine(csv.ToString());
        _jsonl.WriteLine(Encoding.UTF8.GetString(buf.ToArray()));
        _csv.Flush(); _jsonl.Flush();
    }

    public void Dispose() { _csv.Dispose(); _jsonl.Dispose(); }
}
