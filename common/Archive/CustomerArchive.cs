using System.Text.Json;

namespace Ecrm.Common.Archive;

public sealed record TimelineEntry(DateTimeOffset Timestamp, string Channel, string Type, string Event, IReadOnlyList<string> Topics, IReadOnlyList<int> Stages);

/// <summary>One customer's rows in the archive: their timeline, the ids linked to them, and their erasure.</summary>
public static class CustomerArchive
{
    /// <summary>The most recent interactions of every id of the customer, newest first, one row per event.</summary>
    public static async Task<IReadOnlyList<TimelineEntry>> ReadTimelineAsync(ArchiveClient archive, IReadOnlyList<string> identities, int limit, CancellationToken cancellationToken)
    {
        // argMax per message id: a re-delivered event may sit in the archive twice until the table merges.
        var body = await archive.QueryAsync("customer timeline",
            $"""
            SELECT toUnixTimestamp(max(timestamp)) AS ts, any(channel) AS channel, any(type) AS type, any(event) AS event, any(topics) AS topics, any(stages) AS stages
            FROM {archive.Table(ArchiveSchema.Events)}
            WHERE customer_key IN ({ArchiveSql.QuoteAll(identities)})
            GROUP BY message_id
            ORDER BY ts DESC
            LIMIT {ArchiveSql.Number(Math.Clamp(limit, 1, 500))}
            FORMAT JSONEachRow
            """, cancellationToken);
        var entries = new List<TimelineEntry>();
        foreach (var line in body.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var row = JsonDocument.Parse(line).RootElement;
            entries.Add(new TimelineEntry(
                DateTimeOffset.FromUnixTimeSeconds(row.GetProperty("ts").GetInt64()),
                row.GetProperty("channel").GetString()!,
                row.GetProperty("type").GetString()!,
                row.GetProperty("event").GetString()!,
                [.. row.GetProperty("topics").EnumerateArray().Select(t => t.GetString()!)],
                [.. row.GetProperty("stages").EnumerateArray().Select(t => t.GetInt32())]));
        }

        return entries;
    }

    /// <summary>Every id the archive links to one of <paramref name="customers"/> (it may know links Redis no longer holds).</summary>
    public static async Task<IReadOnlyList<string>> LinkedIdsAsync(ArchiveClient archive, IEnumerable<string> customers, CancellationToken cancellationToken) =>
        (await archive.QueryAsync("linked ids",
            $"SELECT DISTINCT linked_id FROM {archive.Table(ArchiveSchema.IdentityLinks)} WHERE customer_key IN ({ArchiveSql.QuoteAll(customers)}) FORMAT TabSeparatedRaw", cancellationToken))
        .Split('\n', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>
    /// Deletes every row of these ids, in every table, on every server (mutations that ClickHouse runs in
    /// the background: wait for <see cref="ArchiveClient.CountUnfinishedMutationsAsync"/> to reach 0).
    /// </summary>
    public static async Task EraseAsync(ArchiveClient archive, IReadOnlyCollection<string> identities, CancellationToken cancellationToken)
    {
        var ids = ArchiveSql.QuoteAll(identities);
        await archive.DeleteWhereAsync("erase events", ArchiveSchema.Events, $"customer_key IN ({ids}) OR anonymous_id IN ({ids}) OR user_id IN ({ids})", cancellationToken);
        await archive.DeleteWhereAsync("erase transitions", ArchiveSchema.Transitions, $"customer_key IN ({ids})", cancellationToken);
        await archive.DeleteWhereAsync("erase identity links", ArchiveSchema.IdentityLinks, $"linked_id IN ({ids}) OR customer_key IN ({ids})", cancellationToken);
        await archive.DeleteWhereAsync("erase trigger firings", ArchiveSchema.TriggerFirings, $"customer_key IN ({ids})", cancellationToken);
        await archive.DeleteWhereAsync("erase dialogue stages", ArchiveSchema.DialogueStages, $"customer_key IN ({ids})", cancellationToken);
        await archive.DeleteWhereAsync("erase dialogue channel stages", ArchiveSchema.DialogueChannelStages, $"customer_key IN ({ids})", cancellationToken);
        await archive.DeleteWhereAsync("erase customer activity", ArchiveSchema.CustomerActivity, $"customer_key IN ({ids})", cancellationToken);
        await archive.DeleteWhereAsync("erase orders", ArchiveSchema.Orders, $"customer_key IN ({ids})", cancellationToken);
        await archive.DeleteWhereAsync("erase traits", ArchiveSchema.CustomerTraits, $"customer_key IN ({ids})", cancellationToken);
    }
}
