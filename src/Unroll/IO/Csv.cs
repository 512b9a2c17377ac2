using System.Globalization;
using System.Text;

namespace Unroll.IO;

/// <summary>
/// Minimal RFC 4180 CSV building: invariant culture, numbers in round-trip form ("R"), fields quoted only when
/// they contain a comma, quote or newline. Build in memory, then write with <see cref="AtomicFile"/>/<see cref="OutputSet"/>.
/// </summary>
public sealed class CsvBuilder
{
    private readonly StringBuilder _sb = new();
    private readonly int _columns;

    /// <summary>Starts a table with the given header row.</summary>
    public CsvBuilder(params string[] header)
    {
        _columns = header.Length;
        AppendRow(header);
    }

    /// <summary>Appends a row of already formatted fields (must match the header's column count).</summary>
    public CsvBuilder Row(params object?[] fields)
    {
        if (fields.Length != _columns)
            throw new ArgumentException($"CsvBuilder: row has {fields.Length} fields, header has {_columns}.");
        AppendRow(fields.Select(Format));
        return this;
    }

    /// <summary>The CSV text (LF line endings).</summary>
    public override string ToString() => _sb.ToString();

    /// <summary>Formats a value: doubles/floats round-trip ("R"), NaN/∞ as "NaN"/"Infinity"/"-Infinity", null empty.</summary>
    public static string Format(object? v) => v switch
    {
        null => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        IFormattable fm => fm.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    private void AppendRow(IEnumerable<string> fields)
    {
        bool first = true;
        foreach (var f in fields)
        {
            if (!first) _sb.Append(',');
            first = false;
            if (f.AsSpan().IndexOfAny(",\"\n\r") >= 0) _sb.Append('"').Append(f.Replace("\"", "\"\"")).Append('"');
            else _sb.Append(f);
        }
        _sb.Append('\n');
    }
}
