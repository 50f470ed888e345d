namespace Ecrm.Common.Archive;

/// <summary>
/// A generated archive for the funnel benchmark: ClickHouse writes the events itself (INSERT … SELECT
/// from numbers()), through the same tables and view as the engine's inserts, and the reference scans
/// the benchmark quotes its queries against.
/// </summary>
internal static class SyntheticArchive
{
    /// <summary>
    /// Events numbered <paramref name="first"/> to <paramref name="first"/> + <paramref name="rows"/>: each
    /// customer keeps to about three neighbouring topics, stages thin out (55 % awareness, 25 % interest,
    /// 13 % consideration, 7 % purchase), times spread evenly over the span, and one customer in ten sent
    /// half their events anonymously ("a&lt;n&gt;" before "c&lt;n&gt;").
    /// </summary>
    public static Task GenerateEventsAsync(ArchiveClient archive, long first, long rows, long customers, int topics, long start, long span, CancellationToken cancellationToken)
    {
        var columns = string.Join(", ", ArchiveSchema.InsertColumns(ArchiveSchema.Events).Names);
        return archive.ExecuteAsync("generate events",
            $"""
            INSERT INTO {archive.Table(ArchiveSchema.Events)} ({columns})
            SELECT toString(n) AS message_id,
                   if(c % 10 = 0 AND intHash32(n * 3) % 2 = 0, concat('a', toString(c)), concat('c', toString(c))) AS customer_key,
                   '', '', 'page', '', ['web', 'email', 'mobile'][intHash32(n * 17) % 3 + 1],
                   toDateTime(ts), ts * 1000, toDateTime(ts), ts * 1000, 0, n,
                   [concat('t', toString((c % {ArchiveSql.Number(topics)} + intHash32(n * 5) % 3) % {ArchiveSql.Number(topics)}))],
                   [toUInt8(multiIf(r < 55, 1, r < 80, 2, r < 93, 3, 4))],
                   '', 0
            FROM (
                SELECT number AS n, intHash32(number) % {ArchiveSql.Number(customers)} AS c, {ArchiveSql.Number(start)} + intHash32(number * 31) % {ArchiveSql.Number(span)} AS ts, intHash32(number * 13) % 100 AS r
                FROM numbers({ArchiveSql.Number(first)}, {ArchiveSql.Number(rows)})
            )
            """, cancellationToken);
    }

    /// <summary>One customer in ten ("c&lt;n&gt;") linked to the anonymous id it also used ("a&lt;n&gt;").</summary>
    public static Task GenerateLinksAsync(ArchiveClient archive, long customers, long at, CancellationToken cancellationToken) =>
        archive.ExecuteAsync("generate links",
            $"INSERT INTO {archive.Table(ArchiveSchema.IdentityLinks)} (linked_id, customer_key, message_id, timestamp, archived_at_ms) " +
            $"SELECT concat('a', toString(number * 10)), concat('c', toString(number * 10)), toString(number), toDateTime({ArchiveSql.Number(at)}), 0 FROM numbers({ArchiveSql.Number(customers / 10)})",
            cancellationToken);

    /// <summary>The reference scan: raw events of one topic.</summary>
    public static Task<long> CountTopicEventsAsync(ArchiveClient archive, string topic, CancellationToken cancellationToken) =>
        archive.QueryNumberAsync("reference scan", $"SELECT count() FROM {archive.Table(ArchiveSchema.Events)} WHERE has(topics, {ArchiveSql.Quote(topic)}) FORMAT TSV", cancellationToken);

    /// <summary>The second reference: distinct ids over all raw events.</summary>
    public static Task<long> CountIdsAsync(ArchiveClient archive, CancellationToken cancellationToken) =>
        archive.QueryNumberAsync("reference ids", $"SELECT uniqExact(customer_key) FROM {archive.Table(ArchiveSchema.Events)} FORMAT TSV", cancellationToken);

    public static Task<long> CountEventsAsync(ArchiveClient archive, CancellationToken cancellationToken) =>
        archive.QueryNumberAsync("count events", $"SELECT count() FROM {archive.Table(ArchiveSchema.Events)} FORMAT TSV", cancellationToken);

    /// <summary>Rows, bytes on disk and active parts of the raw events and of the compact dialogue history.</summary>
    public static async Task<(long Rows, long Bytes, long Parts)> SizeAsync(ArchiveClient archive, bool compact, CancellationToken cancellationToken)
    {
        var table = compact ? ArchiveSchema.DialogueStages : ArchiveSchema.Events;
        var fields = (await archive.QueryAsync("table size",
            $"SELECT sum(rows), sum(bytes_on_disk), count() FROM system.parts WHERE active AND database = {ArchiveSql.Quote(archive.Database)} AND table = {ArchiveSql.Quote(table)} FORMAT TSV",
            cancellationToken)).Trim().Split('\t');
        return (long.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture), long.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Merges the compact table's parts now, as its background merges would in time.</summary>
    public static Task MergeCompactAsync(ArchiveClient archive, CancellationToken cancellationToken) =>
        archive.ExecuteAsync("optimize dialogue stages", $"OPTIMIZE TABLE {archive.Table(ArchiveSchema.DialogueStages)} FINAL", cancellationToken);

    /// <summary>Removes the view that keeps the compact table, to time inserts into the events alone.</summary>
    public static Task DropDialogueStagesViewAsync(ArchiveClient archive, CancellationToken cancellationToken) =>
        archive.ExecuteAsync("drop view", $"DROP TABLE IF EXISTS {archive.Table(ArchiveSchema.DialogueStagesView)}", cancellationToken);
}
