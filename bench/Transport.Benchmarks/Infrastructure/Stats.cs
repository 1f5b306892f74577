namespace Transport.Benchmarks.Infrastructure;

internal static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>Nearest-rank percentile of an already sorted array.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        int rank = (int)Math.Ceiling(p / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    /// <summary>Spread of a set of values: (max - min) / median, in percent; NaN for fewer than two.</summary>
    public static double SpreadPercent(IEnumerable<double> values)
    {
        var v = values.ToArray();
        return v.Length < 2 ? double.NaN : (v.Max() - v.Min()) / Median(v) * 100;
    }
}
