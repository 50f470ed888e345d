using System.Text.Json;

namespace Ecrm.Common.Archive;

/// <summary>
/// The ClickHouse archive: every raw event, every stage transition, every identity link, every trigger firing. Replacing
/// tables keyed by message id, because an event re-delivered after a crash may be written twice and
/// must count once; readers use FINAL or count distinct message ids or customers. The SQL runs on
/// ClickHouse 18.16 and on current releases. Columns added in later versions are added to existing
/// tables at start-up (18.16 has no ADD COLUMN IF NOT EXISTS, so the missing ones are looked up).
/// On a cluster every server gets the tables as <c>*_local</c> and, under the names readers use,
/// Distributed tables over them, sharded by customer so that a re-delivered row meets its first
/// copy on the same shard (FINAL and the replacing merges only see one shard). Funnels and
/// segments join identity links above the subquery that reads the Distributed table, so the join
/// runs once on the server queried, over every shard's rows; a join or IN inside the part sent to
/// the shards would be refused by distributed_product_mode = deny, not answered from one shard.
/// </summary>
public static class ArchiveSchema
{
    internal const string Events = "events";
    internal const string Transitions = "transitions";
    internal const string DeadLetters = "dead_letters";
    internal const string IdentityLinks = "identity_links";
    internal const string TriggerFirings = "trigger_firings";
    internal const string DialogueStages = "dialogue_stages";
    internal const string CustomerTraits = "customer_traits";

    /// <summary>The materialized view that keeps <see cref="DialogueStages"/> from every insert into <see cref="Events"/>.</summary>
    internal const string DialogueStagesView = "dialogue_stages_mv";

    private sealed record Table(string Name, (string Name, string Type)[] Columns, string Engine, string ShardKey = CustomerShard);

    private const string CustomerShard = "sipHash64(customer_key)";

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
        "MergeTree ORDER BY received_at", ShardKey: "rand()"),
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
        // The dialogue history in compact form: per topic, id as sent, channel and exact stage, the first and the
        // last time that id interacted there (unix seconds). Kept by a materialized view from every insert into
        // the events, whoever writes them; raw-event retention does not touch it. Only min and max: a
        // re-delivered event, written twice, changes neither, so the table needs no deduplication.
        new(DialogueStages,
        [
            ("topic", "String"), ("customer_key", "String"), ("channel", "String"), ("stage", "UInt8"),
            ("first_at", "AggregateFunction(min, UInt32)"), ("last_at", "AggregateFunction(max, UInt32)"),
        ],
        "AggregatingMergeTree ORDER BY (topic, customer_key, channel, stage)"),
        // Each id's identify traits (top level, flattened as text), the latest by event time winning; written by ArchiveBatch.
        new(CustomerTraits,
        [("customer_key", "String"), ("name", "String"), ("value", "String"), ("ts", "UInt32")],
        "ReplacingMergeTree(ts) ORDER BY (customer_key, name)"),
    ];

    /// <summary>
    /// The rows of <see cref="DialogueStages"/> that events of <paramref name="eventsTable"/> give: the view's
    /// query, and the backfill of an archive that had events before the table existed.
    /// </summary>
    private static string DialogueStagesSelect(string eventsTable) =>
        $"""
        SELECT topic, customer_key, channel, stage, minState(toUInt32(timestamp)) AS first_at, maxState(toUInt32(timestamp)) AS last_at
        FROM {eventsTable}
        ARRAY JOIN topics AS topic, stages AS stage
        GROUP BY topic, customer_key, channel, stage
        """;

    /// <summary>The columns an insert into <paramref name="table"/> writes: all but the MATERIALIZED ones, in table order.</summary>
    internal static ArchiveColumns InsertColumns(string table) =>
        new([.. Tables.Single(t => t.Name == table).Columns.Where(c => !c.Type.Contains(" MATERIALIZED ", StringComparison.Ordinal))]);

    /// <summary>Creates the database and tables, or adds the columns an older archive lacks (safe to run at every start).</summary>
    public static async Task EnsureAsync(ArchiveClient clickHouse, CancellationToken cancellationToken)
    {
        var db = clickHouse.Database;
        if (clickHouse.Cluster is not { } cluster)
        {
            await clickHouse.ExecuteAsync("create database", $"CREATE DATABASE IF NOT EXISTS {db}", cancellationToken);
            var created = new HashSet<string>(StringComparer.Ordinal);
            foreach (var table in Tables)
            {
                if (await EnsureTableAsync(clickHouse, table.Name, table.Columns, table.Engine, cancellationToken))
                {
                    created.Add(table.Name);
                }
            }

            await EnsureDialogueStagesViewAsync(clickHouse, created.Contains(DialogueStages), cancellationToken);
            if (created.Contains(CustomerTraits))
            {
                await BackfillTraitsAsync(clickHouse, cancellationToken);
            }

            return;
        }

        var listed = await clickHouse.QueryNumberAsync("cluster servers",
            $"SELECT count() FROM system.clusters WHERE cluster = {ArchiveSql.Quote(cluster)} FORMAT TSV", cancellationToken);
        if (listed != clickHouse.Servers.Count)
        {
            throw new InvalidOperationException(
                $"ClickHouse:Cluster '{cluster}' has {listed} servers in the remote_servers of the server at ClickHouse:Url, but ClickHouse:ServerUrls lists {clickHouse.Servers.Count}: list every server's HTTP URL");
        }

        var traitsCreated = false;
        foreach (var server in clickHouse.Servers)
        {
            await server.ExecuteAsync("create database", $"CREATE DATABASE IF NOT EXISTS {db}", cancellationToken);
            var created = new HashSet<string>(StringComparer.Ordinal);
            foreach (var table in Tables)
            {
                var local = clickHouse.LocalTable(table.Name);
                if (await EnsureTableAsync(server, local, table.Columns, table.Engine, cancellationToken))
                {
                    created.Add(table.Name);
                }

                // A MATERIALIZED column of the Distributed table would be computed there and sent to the
                // shards, which refuse it; as an ALIAS it is only read, and the shard computes its own.
                var columns = table.Columns.Select(c => (c.Name, c.Type.Replace(" MATERIALIZED ", " ALIAS ", StringComparison.Ordinal))).ToArray();
                await EnsureTableAsync(server, table.Name, columns, $"Distributed({cluster}, {db}, {local}, {table.ShardKey})", cancellationToken);
                var engine = (await server.QueryAsync("table engine",
                    $"SELECT engine FROM system.tables WHERE database = {ArchiveSql.Quote(db)} AND name = {ArchiveSql.Quote(table.Name)} FORMAT TSV", cancellationToken)).Trim();
                if (engine != "Distributed")
                {
                    // A database first used by a single server: its rows would be hidden behind the name readers use.
                    throw new InvalidOperationException($"{db}.{table.Name} is a {engine} table, not a Distributed one: move its rows to {db}.{local} on each server and drop it (see the README's ClickHouse cluster notes)");
                }
            }

            // Each server keeps its own compact rows from its own events: the shard key is the same customer_key.
            await EnsureDialogueStagesViewAsync(server, clickHouse.LocalTable(Events), clickHouse.LocalTable(DialogueStages), created.Contains(DialogueStages), cancellationToken);
            traitsCreated |= created.Contains(CustomerTraits);
        }

        if (traitsCreated)
        {
            await BackfillTraitsAsync(clickHouse, cancellationToken);
        }
    }

    private static Task EnsureDialogueStagesViewAsync(ArchiveClient server, bool backfill, CancellationToken cancellationToken) =>
        EnsureDialogueStagesViewAsync(server, Events, DialogueStages, backfill, cancellationToken);

    /// <summary>
    /// The view that fills the compact table from each insert into the events, and, when the table was just
    /// created on an archive that already had events, the same rows from those events. The backfill runs after
    /// the view exists, so no event falls between the two; one seen by both only repeats a min and a max.
    /// </summary>
    private static async Task EnsureDialogueStagesViewAsync(ArchiveClient server, string events, string stages, bool backfill, CancellationToken cancellationToken)
    {
        var db = server.Database;
        await server.ExecuteAsync("create view",
            $"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{DialogueStagesView} TO {db}.{stages} AS {DialogueStagesSelect($"{db}.{events}")}", cancellationToken);
        if (backfill)
        {
            await server.ExecuteAsync("backfill dialogue stages", $"INSERT INTO {db}.{stages} {DialogueStagesSelect($"{db}.{events}")}", cancellationToken);
        }
    }

    /// <summary>The traits of the identify events archived before <see cref="CustomerTraits"/> existed, read back from their payloads.</summary>
    private static async Task BackfillTraitsAsync(ArchiveClient clickHouse, CancellationToken cancellationToken)
    {
        using var batch = new ArchiveBatch(DateTimeOffset.UtcNow);
        await foreach (var line in clickHouse.QueryLinesAsync("read identify payloads",
            $"SELECT customer_key, toUInt32(timestamp) AS ts, payload FROM {clickHouse.Table(Events)} WHERE type = 'identify' FORMAT JSONEachRow", cancellationToken))
        {
            var row = JsonDocument.Parse(line).RootElement;
            try
            {
                using var payload = JsonDocument.Parse(row.GetProperty("payload").GetString()!);
                if (payload.RootElement.ValueKind == JsonValueKind.Object && payload.RootElement.TryGetProperty("traits", out var traits))
                {
                    batch.AddTraits(row.GetProperty("customer_key").GetString()!, row.GetProperty("ts").GetUInt32(), traits);
                }
            }
            catch (JsonException)
            {
                // An archived payload that is not JSON has no traits to carry over.
            }
        }

        await batch.WriteAsync(clickHouse, cancellationToken);
    }

    /// <summary>Creates the table or adds its missing columns; true when the table did not exist before.</summary>
    private static async Task<bool> EnsureTableAsync(ArchiveClient server, string name, (string Name, string Type)[] columns, string engine, CancellationToken cancellationToken)
    {
        var db = server.Database;
        var existed = await server.QueryNumberAsync("table exists",
            $"SELECT count() FROM system.tables WHERE database = {ArchiveSql.Quote(db)} AND name = {ArchiveSql.Quote(name)} FORMAT TSV", cancellationToken) > 0;
        var definition = string.Join(",\n    ", columns.Select(c => $"{c.Name} {c.Type}"));
        await server.ExecuteAsync("create table", $"CREATE TABLE IF NOT EXISTS {db}.{name} (\n    {definition}\n) ENGINE = {engine}", cancellationToken);
        var existing = (await server.QueryAsync("table columns",
            $"SELECT name FROM system.columns WHERE database = {ArchiveSql.Quote(db)} AND table = {ArchiveSql.Quote(name)} FORMAT TSV",
            cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        foreach (var (column, type) in columns.Where(c => !existing.Contains(c.Name)))
        {
            await server.ExecuteAsync("add column", $"ALTER TABLE {db}.{name} ADD COLUMN {column} {type}", cancellationToken);
        }

        return !existed;
    }
}
