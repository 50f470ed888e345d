using System.Globalization;

namespace Ecrm.Common.Archive;

public sealed record CtrCounts(string Slot, string Variant, long Impressions, long Clicks);

public sealed record TopicInteraction(string Customer, string Topic, int DeepestStage, DateTimeOffset Last);

/// <summary>What the recommender reads from the archive: its widget's click-through, and training interactions.</summary>
public static class RecommenderArchive
{
    /// <summary>
    /// Impressions and clicks per slot and variant since <paramref name="since"/>: events named
    /// <paramref name="viewed"/> and <paramref name="clicked"/> carrying <c>slot</c> and <c>recommendationId</c>
    /// properties, the recommendation id starting with the variant ("b.3f2c…"). Counted by distinct message
    /// id, so archive duplicates count once. visitParamExtractString reads the first field of that name in
    /// the envelope, which the collector writes compactly.
    /// </summary>
    public static async Task<IReadOnlyList<CtrCounts>> ReadCtrAsync(ArchiveClient archive, string viewed, string clicked, DateTimeOffset since, CancellationToken cancellationToken)
    {
        var sql = $"""
            SELECT slot, variant,
                uniqExactIf(message_id, event = {ArchiveSql.Quote(viewed)}) AS impressions,
                uniqExactIf(message_id, event = {ArchiveSql.Quote(clicked)}) AS clicks
            FROM (
                SELECT message_id, event,
                    visitParamExtractString(payload, 'slot') AS slot,
                    visitParamExtractString(payload, 'recommendationId') AS rid,
                    if(position(rid, '.') > 0, substring(rid, 1, position(rid, '.') - 1), '') AS variant
                FROM {archive.Table(ArchiveSchema.Events)}
                WHERE event IN ({ArchiveSql.Quote(viewed)}, {ArchiveSql.Quote(clicked)})
                    AND timestamp_ms >= {ArchiveSql.Number(since.ToUnixTimeMilliseconds())}
            )
            GROUP BY slot, variant
            ORDER BY slot, variant
            FORMAT TabSeparated
            """;
        var rows = new List<CtrCounts>();
        foreach (var line in (await archive.QueryAsync("recommendation ctr", sql, cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split('\t');
            rows.Add(new CtrCounts(TabSeparated.Unescape(fields[0]), TabSeparated.Unescape(fields[1]),
                long.Parse(fields[2], CultureInfo.InvariantCulture), long.Parse(fields[3], CultureInfo.InvariantCulture)));
        }

        return rows;
    }

    /// <summary>
    /// One interaction per (customer, topic) since <paramref name="since"/>: the customer resolved through the
    /// identity links (an anonymous visitor's events count for the customer they became), the deepest stage
    /// reached, the time of the last interaction. Max and last are unchanged by the archive's possible
    /// duplicate rows, so no FINAL is needed.
    /// </summary>
    public static async IAsyncEnumerable<TopicInteraction> ReadInteractionsAsync(
        ArchiveClient archive, DateTimeOffset? since, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var sql = $"""
            SELECT if(owner = '', id, owner) AS customer, topic, max(stage) AS weight, max(ts) AS last_ms
            FROM (
                SELECT customer_key AS id, topic, stage, timestamp_ms AS ts
                FROM {archive.Table(ArchiveSchema.Events)}
                ARRAY JOIN topics AS topic, stages AS stage
                WHERE timestamp_ms >= {ArchiveSql.Number((since ?? DateTimeOffset.UnixEpoch).ToUnixTimeMilliseconds())} AND stage > 0
            )
            ANY LEFT JOIN (
                SELECT linked_id AS id, any(customer_key) AS owner FROM {archive.Table(ArchiveSchema.IdentityLinks)} GROUP BY linked_id
            ) USING id
            GROUP BY customer, topic
            FORMAT TabSeparated
            """;
        await foreach (var line in archive.QueryLinesAsync("training interactions", sql, cancellationToken))
        {
            var fields = line.Split('\t');
            if (fields.Length == 4)
            {
                yield return new TopicInteraction(
                    TabSeparated.Unescape(fields[0]),
                    TabSeparated.Unescape(fields[1]),
                    int.Parse(fields[2], CultureInfo.InvariantCulture),
                    DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(fields[3], CultureInfo.InvariantCulture)));
            }
        }
    }
}

/// <summary>ClickHouse's TabSeparated escapes backslash, tab, newline and a few more with a backslash.</summary>
internal static class TabSeparated
{
    public static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var builder = new System.Text.StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] != '\\' || i + 1 == field.Length)
            {
                builder.Append(field[i]);
                continue;
            }

            builder.Append(field[++i] switch
            {
                't' => '\t',
                'n' => '\n',
                'r' => '\r',
                '0' => '\0',
                'b' => '\b',
                'f' => '\f',
                var other => other,
            });
        }

        return builder.ToString();
    }
}
