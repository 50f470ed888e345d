namespace Ecrm.LoadDriver;

/// <summary>The one percentile definition of the load driver's reports: nearest rank over sorted values.</summary>
internal static class Percentiles
{
    public static double NearestRank(IReadOnlyList<double> sorted, double q) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];
}
