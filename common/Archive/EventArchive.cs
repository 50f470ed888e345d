namespace Ecrm.Common.Archive;

/// <summary>The raw events as a whole: their retention, and reading them back in order for a replay.</summary>
public static class EventArchive
{
    /// <summary>Raw events older than <paramref name="cutoff"/>.</summary>
    public static Task<long> CountOlderThanAsync(ArchiveClient archive, DateTimeOffset cutoff, CancellationToken cancellationToken) =>
        archive.QueryNumberAsync("count expired events",
            $"SELECT count() FROM {archive.Table(ArchiveSchema.Events)} WHERE timestamp < toDateTime({ArchiveSql.Number(cutoff.ToUnixTimeSeconds())}) FORMAT TSV", cancellationToken);

    /// <summary>Asks every server to delete the raw events older than <paramref name="cutoff"/> (a mutation each runs in the background).</summary>
    public static Task DeleteOlderThanAsync(ArchiveClient archive, DateTimeOffset cutoff, CancellationToken cancellationToken) =>
        archive.DeleteWhereAsync("delete expired events", ArchiveSchema.Events, $"timestamp < toDateTime({ArchiveSql.Number(cutoff.ToUnixTimeSeconds())})", cancellationToken);

    /// <summary>Distinct archived events (re-deliveries counted once).</summary>
    public static Task<long> CountAsync(ArchiveClient archive, CancellationToken cancellationToken) =>
        archive.QueryNumberAsync("count events", $"SELECT count() FROM {archive.Table(ArchiveSchema.Events)} FINAL FORMAT TSV", cancellationToken);

    /// <summary>
    /// Every event as it was on the events topic (compact JSON, one a line), in the order the engine
    /// consumed them: received time, then Kafka partition and offset.
    /// </summary>
    public static IAsyncEnumerable<string> PayloadsInOrderAsync(ArchiveClient archive, CancellationToken cancellationToken) =>
        archive.QueryLinesAsync("replay payloads",
            $"SELECT payload FROM {archive.Table(ArchiveSchema.Events)} FINAL ORDER BY received_at_ms, kafka_partition, kafka_offset FORMAT TabSeparatedRaw", cancellationToken);
}
