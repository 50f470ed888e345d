using System.ComponentModel.DataAnnotations;

namespace Ecrm.DialogueEngine;

public sealed record EngineOptions
{
    public const string Section = "Engine";

    /// <summary>A topic catalog published at start-up when Redis holds none yet.</summary>
    public string CatalogSeedFile { get; init; } = "";

    /// <summary>The most events folded and archived as one unit of work.</summary>
    [Range(1, 100_000)]
    public int MaxBatchEvents { get; init; } = 1000;

    /// <summary>How long the consumer waits to fill a batch before working on what it has.</summary>
    [Range(1, 10_000)]
    public int BatchWindowMs { get; init; } = 10;

    /// <summary>
    /// How long a customer's dedupe state (the Kafka offsets applied, its latest message ids) lives after its
    /// last fold. Re-delivery (an engine crash, a rebalance, a rewind after a Redis crash) and re-sends (a client's
    /// retry, the collector's spool after a Kafka outage) that come later fold again, so keep it at least as
    /// long as the longest outage to ride out. See <see cref="Ecrm.Common.Storage.DialogueStore"/>.
    /// </summary>
    [Range(1, 365)]
    public int DedupeStateDays { get; init; } = 7;

    /// <summary>The most message ids remembered per customer, 8 bytes each: the bound on dedupe memory.</summary>
    [Range(1, 10_000)]
    public int RecentMessageIdLimit { get; init; } = 100;

    /// <summary>The customers' dedupe policy.</summary>
    public Ecrm.Common.Storage.DedupePolicy Dedupe => new(TimeSpan.FromDays(DedupeStateDays), RecentMessageIdLimit);

    /// <summary>The most rows the archive writes to ClickHouse in one insert.</summary>
    [Range(1, 1_000_000)]
    public int ArchiveMaxBatchRows { get; init; } = 20_000;

    /// <summary>How long the archive collects rows before inserting what it has; ClickHouse prefers few, large inserts.</summary>
    [Range(1, 60_000)]
    public int ArchiveBatchWindowMs { get; init; } = 1000;

    /// <summary>
    /// How many archive inserts may run at once: the next batch is read and encoded while the previous one
    /// is written. Two reached 91-94 % of clickhouse-client's rate against 74-79 % for one (BENCHMARKS.md).
    /// </summary>
    [Range(1, 8)]
    public int ArchiveInsertsInFlight { get; init; } = 2;

    /// <summary>Whether this instance runs the archive consumer group (an instance may only fold, or only archive).</summary>
    public bool RunArchive { get; init; } = true;

    /// <summary>Whether this instance runs the folding consumer group.</summary>
    public bool RunFolding { get; init; } = true;

    /// <summary>Raw events older than this many days are removed from the archive daily; 0 keeps them all. Transitions and dialogues are kept.</summary>
    [Range(0, 36_500)]
    public int RawEventRetentionDays { get; init; }

    /// <summary>
    /// How often this instance takes a snapshot of the dialogue history for the all-topics funnel overview
    /// (<see cref="Ecrm.Common.Archive.DialogueSummary"/>); 0 never does, and the overview then groups every dialogue each time.
    /// </summary>
    [Range(0, 10_080)]
    public int OverviewSnapshotMinutes { get; init; } = 10;

    /// <summary>How often the saved segments' members are recomputed into Redis for the recommender's boosts.</summary>
    [Range(1, 86_400)]
    public int SegmentRefreshSeconds { get; init; } = 300;

    /// <summary>How often each instance checks Redis for a newer catalog.</summary>
    [Range(100, 600_000)]
    public int CatalogPollMs { get; init; } = 1000;
}
