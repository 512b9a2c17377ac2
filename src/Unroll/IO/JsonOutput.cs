using System.Text.Json;
using System.Text.Json.Serialization;

namespace Unroll.IO;

/// <summary>
/// The System.Text.Json settings every Unroll output uses: camelCase names, indented, enums as strings, and
/// non-finite doubles written as the strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers).
/// </summary>
public static class JsonOutput
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>Serialises <paramref name="value"/> with <see cref="Options"/>.</summary>
    public static string Serialize<TValue>(TValue value) => JsonSerializer.Serialize(value, Options);
}
