using Ecrm.Common.Storage;

namespace Ecrm.DialogueEngine.Archive;

/// <summary>
/// The ClickHouse archive: every raw event, every stage transition, every identity link, every trigger firing. Replacing
/// tables keyed by message id, because an event re-delivered after a crash may be written twice and
/// must count once; readers use FINAL or count distinct message ids or customers. The SQL runs on
/// ClickHouse 18.16 and on current releases. Columns added in later versions are added to existing
/// tables at start-up (18.16 has no ADD COLUMN IF NOT EXISTS, so the missing ones are looked up).
/// </summary>
public static class ArchiveSchema
{
    public const string Events = "events";
    public const string Transitions = "transitions";
    public const string DeadLetters = "dead_letters";
    public const string IdentityLinks = "identity_links";
    public const string TriggerFirings = "trigger_firings";

    private sealed record Table(string Name, (string Name, string Type)[] Columns, string Engine);

    private static readonly Table[] Tables =
    [
        new(Events,
        [
            ("message_id", "String"), ("customer_key", "String"), ("anonymous_id", "String"), ("user_id", "String"),
            ("type", "String"), ("event", "String"), ("channel", "String"),
            ("timestamp", "DateTime('UTC')"), ("timestamp_ms", "UInt64"), ("received_at", "DateTime('UTC')"),
            ("received_at_ms", "UInt64"), ("kafka_partition", "UInt16"), ("kafka_offset", "UInt64"),
            ("topics", "Array(String)"), ("stages", "Array(UInt8)"), ("payload", "String"), ("archived_at_ms", "UInt64"),
            ("date", "Date MATERIALIZED toDate(timestamp)"),
        ],
        "ReplacingMergeTree(archived_at_ms) PARTITION BY toYYYYMM(date) ORDER BY (customer_key, message_id)"),
        new(Transitions,
        [
            ("message_id", "String"), ("customer_key", "String"), ("topic", "String"), ("from_stage", "UInt8"), ("to_stage", "UInt8"),
            ("episode", "UInt16"), ("channel", "String"), ("timestamp", "DateTime('UTC')"), ("timestamp_ms", "UInt64"),
            ("catalog_version", "UInt64"), ("archived_at_ms", "UInt64"), ("date", "Date MATERIALIZED toDate(timestamp)"),
        ],
        "ReplacingMergeTree(archived_at_ms) PARTITION BY toYYYYMM(date) ORDER BY (topic, customer_key, to_stage, message_id)"),
        new(DeadLetters,
        [("received_at", "DateTime('UTC')"), ("source", "String"), ("reason", "String"), ("payload", "String")],
        "MergeTree ORDER BY received_at"),
        // Which customer each linked id (an anonymous visitor, an earlier alias) belongs to, so that
        // funnels and timelines count one customer once across their ids.
        new(IdentityLinks,
        [("linked_id", "String"), ("customer_key", "String"), ("message_id", "String"), ("timestamp", "DateTime('UTC')"), ("archived_at_ms", "UInt64")],
        "ReplacingMergeTree(archived_at_ms) ORDER BY (linked_id, customer_key)"),
        // Each trigger firing once, in its latest state (fired, suppressed, retrying, delivered, dead).
        new(TriggerFirings,
        [
            ("firing_id", "String"), ("rule_id", "String"), ("customer_key", "String"), ("topic", "String"), ("episode", "UInt16"),
            ("from_stage", "UInt8"), ("to_stage", "UInt8"), ("channel", "String"), ("transition_message_id", "String"),
            ("transition_at", "DateTime('UTC')"), ("transition_at_ms", "UInt64"), ("status", "String"), ("attempts", "UInt16"),
            ("error", "String"), ("fired_at", "DateTime('UTC')"), ("fired_at_ms", "UInt64"), ("updated_at_ms", "UInt64"),
            ("version", "UInt64"), ("date", "Date MATERIALIZED toDate(fired_at)"),
        ],
        "ReplacingMergeTree(version) PARTITION BY toYYYYMM(date) ORDER BY (rule_id, firing_id)"),
    ];

    public static async Task EnsureAsync(ClickHouseClient clickHouse, CancellationToken cancellationToken)
    {
        var db = clickHouse.Database;
        await clickHouse.ExecuteAsync($"CREATE DATABASE IF NOT EXISTS {db}", cancellationToken);
        foreach (var table in Tables)
        {
            var columns = string.Join(",\n    ", table.Columns.Select(c => $"{c.Name} {c.Type}"));
            await clickHouse.ExecuteAsync($"CREATE TABLE IF NOT EXISTS {db}.{table.Name} (\n    {columns}\n) ENGINE = {table.Engine}", cancellationToken);
            var existing = (await clickHouse.QueryAsync(
                $"SELECT name FROM system.columns WHERE database = {ClickHouseSql.Quote(db)} AND table = {ClickHouseSql.Quote(table.Name)} FORMAT TSV",
                cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            foreach (var (name, type) in table.Columns.Where(c => !existing.Contains(c.Name)))
            {
                await clickHouse.ExecuteAsync($"ALTER TABLE {db}.{table.Name} ADD COLUMN {name} {type}", cancellationToken);
            }
        }
    }
}
