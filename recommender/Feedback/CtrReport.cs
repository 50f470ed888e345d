using Ecrm.Common.Archive;

namespace Ecrm.Recommender.Feedback;

public sealed record CtrRow(string Slot, string Variant, long Impressions, long Clicks, double Ctr);

public sealed record CtrReport(DateTimeOffset Since, IReadOnlyList<CtrRow> Slots, IReadOnlyList<CtrRow> Variants);

/// <summary>
/// Click-through rates from the archive: the widget tracks <c>Recommendation Viewed</c> and
/// <c>Recommendation Clicked</c> with <c>recommendationId</c>, <c>itemId</c>, <c>position</c> and <c>slot</c>
/// properties, and the recommendation id starts with the variant ("b.3f2c…"). Counted by
/// <see cref="RecommenderArchive.ReadCtrAsync"/>.
/// </summary>
public sealed class CtrReader(ArchiveClient clickHouse)
{
    public const string Viewed = "Recommendation Viewed";
    public const string Clicked = "Recommendation Clicked";

    public async Task<CtrReport> ReadAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        var rows = (await RecommenderArchive.ReadCtrAsync(clickHouse, Viewed, Clicked, since, cancellationToken))
            .Select(c => new CtrRow(c.Slot, c.Variant, c.Impressions, c.Clicks, Rate(c.Clicks, c.Impressions)))
            .ToList();
        var variants = rows.GroupBy(r => r.Variant)
            .Select(g => (Variant: g.Key, Impressions: g.Sum(r => r.Impressions), Clicks: g.Sum(r => r.Clicks)))
            .Select(v => new CtrRow("", v.Variant, v.Impressions, v.Clicks, Rate(v.Clicks, v.Impressions)))
            .OrderBy(v => v.Variant, StringComparer.Ordinal)
            .ToList();
        return new CtrReport(since, rows, variants);
    }

    private static double Rate(long clicks, long impressions) => impressions == 0 ? 0 : Math.Round((double)clicks / impressions, 4);
}
