namespace Unroll.Bench;

/// <summary>Small statistics shared by the benchmarks.</summary>
internal static class Stats
{
    /// <summary>The median (the mean of the two middle values for an even count); NaN for none.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var s = values.Order().ToArray();
        if (s.Length == 0) return double.NaN;
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }
}
