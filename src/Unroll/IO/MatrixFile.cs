using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Unroll.IO;

/// <summary>
/// Reads a 2-D matrix of doubles from CSV (one row per line, comma/semicolon/whitespace separated, optional
/// header line of non-numbers is NOT accepted — every field must be a number) or from a NumPy <c>.npy</c> file
/// (format version 1.0/2.0/3.0, dtype float32 or float64, either byte order, C order; 1-D arrays are read as one row).
/// Every failure throws <see cref="InvalidDataException"/> (or <see cref="FileNotFoundException"/>) naming the file.
/// Non-finite values (NaN, ±∞) are rejected.
/// </summary>
public static partial class MatrixFile
{
    /// <summary>Reads <paramref name="path"/>; the format is chosen by the extension (.npy, else CSV).</summary>
    public static double[,] Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"file not found: {path}", path);
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"cannot read '{path}': {e.Message}");
        }
        var m = path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) ? ParseNpy(bytes, path) : ParseCsv(Encoding.UTF8.GetString(bytes), path);
        for (int i = 0; i < m.GetLength(0); i++)
            for (int j = 0; j < m.GetLength(1); j++)
                if (!double.IsFinite(m[i, j]))
                    throw new InvalidDataException($"'{path}': element ({i}, {j}) is {m[i, j].ToString(CultureInfo.InvariantCulture)}; weights must be finite.");
        return m;
    }

    /// <summary>Parses CSV text (see class remarks).</summary>
    public static double[,] ParseCsv(string text, string name = "csv")
    {
        var rows = new List<double[]>();
        int lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            var line = raw.Trim().TrimStart('\uFEFF');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var fields = Separators().Split(line);
            var row = new double[fields.Length];
            for (int j = 0; j < fields.Length; j++)
            {
                if (!double.TryParse(fields[j], NumberStyles.Float, CultureInfo.InvariantCulture, out row[j]))
                    throw new InvalidDataException($"'{name}' line {lineNo}: '{Truncate(fields[j])}' is not a number.");
            }
            if (rows.Count > 0 && row.Length != rows[0].Length)
                throw new InvalidDataException($"'{name}' line {lineNo}: {row.Length} values, but the first row has {rows[0].Length}.");
            rows.Add(row);
        }
        if (rows.Count == 0) throw new InvalidDataException($"'{name}' contains no numbers.");
        var m = new double[rows.Count, rows[0].Length];
        for (int i = 0; i < rows.Count; i++) for (int j = 0; j < rows[i].Length; j++) m[i, j] = rows[i][j];
        return m;
    }

    /// <summary>Parses the bytes of a <c>.npy</c> file (see class remarks).</summary>
    public static double[,] ParseNpy(byte[] b, string name = "npy")
    {
        ReadOnlySpan<byte> magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];
        if (b.Length < 10 || !b.AsSpan(0, 6).SequenceEqual(magic)) throw new InvalidDataException($"'{name}' is not a .npy file (bad magic).");
        int major = b[6];
        int headerLen, headerStart;
        if (major == 1) { headerLen = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(8)); headerStart = 10; }
        else if (major is 2 or 3)
        {
            if (b.Length < 12) throw new InvalidDataException($"'{name}': truncated .npy header.");
            headerLen = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(8))); headerStart = 12;
        }
        else throw new InvalidDataException($"'{name}': unsupported .npy format version {major}.");
        if (headerStart + headerLen > b.Length) throw new InvalidDataException($"'{name}': truncated .npy header.");
        string header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(b, headerStart, headerLen);

        var descr = DescrRegex().Match(header);
        var fortran = FortranRegex().Match(header);
        var shape = ShapeRegex().Match(header);
        if (!descr.Success || !fortran.Success || !shape.Success) throw new InvalidDataException($"'{name}': cannot parse .npy header {header.Trim()}.");
        if (fortran.Groups[1].Value == "True") throw new InvalidDataException($"'{name}': Fortran-order .npy arrays are not supported; save with C order.");
        string d = descr.Groups[1].Value;
        bool bigEndian = d[0] == '>';
        int size = d[1..] switch
        {
            "f8" => 8,
            "f4" => 4,
            _ => throw new InvalidDataException($"'{name}': dtype '{d}' is not supported (float32 or float64 only)."),
        };
        if (d[0] is not ('<' or '>' or '=' or '|')) throw new InvalidDataException($"'{name}': bad dtype '{d}'.");
        var dims = shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw new InvalidDataException($"'{name}': bad shape in header.")).ToArray();
        int rows, cols;
        if (dims.Length == 2) (rows, cols) = (dims[0], dims[1]);
        else if (dims.Length == 1) (rows, cols) = (1, dims[0]);
        else throw new InvalidDataException($"'{name}': expected a 1-D or 2-D array, got shape ({shape.Groups[1].Value}).");
        if (rows == 0 || cols == 0) throw new InvalidDataException($"'{name}': the array is empty.");
        int data = headerStart + headerLen;
        long need = (long)rows * cols * size;
        if (b.Length - data != need) throw new InvalidDataException($"'{name}': expected {need} data bytes for shape ({rows}, {cols}) {d}, found {b.Length - data}.");
        var m = new double[rows, cols];
        var span = b.AsSpan(data);
        for (int i = 0, k = 0; i < rows; i++)
            for (int j = 0; j < cols; j++, k += size)
            {
                var e = span.Slice(k, size);
                m[i, j] = size == 8
                    ? (bigEndian ? BinaryPrimitives.ReadDoubleBigEndian(e) : BinaryPrimitives.ReadDoubleLittleEndian(e))
                    : (bigEndian ? BinaryPrimitives.ReadSingleBigEndian(e) : BinaryPrimitives.ReadSingleLittleEndian(e));
            }
        return m;
    }

    /// <summary>Writes a float64 C-order <c>.npy</c> (version 1.0) — used by tests and for exporting W_h to other tools.</summary>
    public static byte[] ToNpy(double[,] m)
    {
        int rows = m.GetLength(0), cols = m.GetLength(1);
        string h = $"{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}";
        int total = 10 + h.Length + 1;
        int pad = (64 - total % 64) % 64;
        h = h + new string(' ', pad) + "\n";
        var bytes = new byte[10 + h.Length + rows * cols * 8];
        byte[] magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0];
        magic.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)h.Length);
        Encoding.Latin1.GetBytes(h).CopyTo(bytes, 10);
        int k = 10 + h.Length;
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++, k += 8) BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(k), m[i, j]);
        return bytes;
    }

    private static string Truncate(string s) => s.Length <= 20 ? s : s[..20] + "…";

    [GeneratedRegex(@"[,;\s]+")] private static partial Regex Separators();
    [GeneratedRegex(@"'descr'\s*:\s*'([^']+)'")] private static partial Regex DescrRegex();
    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")] private static partial Regex FortranRegex();
    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")] private static partial Regex ShapeRegex();
}
