using System.Globalization;
using Ecrm.Common.Storage;

namespace Ecrm.Recommender.Feedback;

public sealed record CtrRow(string Slot, string Variant, long Impressions, long Clicks, double Ctr);

public sealed record CtrReport(DateTimeOffset Since, IReadOnlyList<CtrRow> Slots, IReadOnlyList<CtrRow> Variants);

/// <summary>
/// Click-through rates from the archive: the widget tracks <c>Recommendation Viewed</c> and
/// <c>Recommendation Clicked</c> with <c>recommendationId</c>, <c>itemId</c>, <c>position</c> and <c>slot</c>
/// properties, and the recommendation id starts with the variant ("b.3f2c…"). Events are counted by
/// distinct message id, so archive duplicates count once. visitParamExtractString reads the first
/// field of that name in the envelope, which the collector writes compactly.
/// </summary>
public sealed class CtrReader(ClickHouseClient clickHouse)
{
    public const string Viewed = "Recommendation Viewed";
    public const string Clicked = "Recommendation Clicked";

    public async Task<CtrReport> ReadAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        var db = clickHouse.Database;
        var sql = $"""
            SELECT slot, variant,
                uniqExactIf(message_id, event = {ClickHouseSql.Quote(Viewed)}) AS impressions,
                uniqExactIf(message_id, event = {ClickHouseSql.Quote(Clicked)}) AS clicks
            FROM (
                SELECT message_id, event,
                    visitParamExtractString(payload, 'slot') AS slot,
                    visitParamExtractString(payload, 'recommendationId') AS rid,
                    if(position(rid, '.') > 0, substring(rid, 1, position(rid, '.') - 1), '') AS variant
                FROM {db}.events
                WHERE event IN ({ClickHouseSql.Quote(Viewed)}, {ClickHouseSql.Quote(Clicked)})
                    AND timestamp_ms >= {since.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}
            )
            GROUP BY slot, variant
            ORDER BY slot, variant
            FORMAT TabSeparated
            """;
        var rows = new List<CtrRow>();
        foreach (var line in (await clickHouse.QueryAsync(sql, cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split('\t');
            var (impressions, clicks) = (long.Parse(fields[2], CultureInfo.InvariantCulture), long.Parse(fields[3], CultureInfo.InvariantCulture));
            rows.Add(new CtrRow(fields[0], fields[1], impressions, clicks, Rate(clicks, impressions)));
        }

        var variants = rows.GroupBy(r => r.Variant)
            .Select(g => (Variant: g.Key, Impressions: g.Sum(r => r.Impressions), Clicks: g.Sum(r => r.Clicks)))
            .Select(v => new CtrRow("", v.Variant, v.Impressions, v.Clicks, Rate(v.Clicks, v.Impressions)))
            .OrderBy(v => v.Variant, StringComparer.Ordinal)
            .ToList();
        return new CtrReport(since, rows, variants);
    }

    private static double Rate(long clicks, long impressions) => impressions == 0 ? 0 : Math.Round((double)clicks / impressions, 4);
}
