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
    internal const string DialogueChannelStages = "dialogue_channel_stages";
    internal const string CustomerActivity = "customer_activity";
    internal const string Orders = "orders";
    internal const string CustomerTraits = "customer_traits";

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
        // The dialogue history in compact form, one row per dialogue (topic, id as sent) however many events it had:
        // first_at[k] and last_at[k] are the first and the last time (unix seconds) the id interacted at stage k or
        // deeper (the arrays are as long as the deepest stage reached), first_channel the channel of its first
        // interaction. Kept by a materialized view from every insert into the events (see CompactViews); only
        // minimums and maximums, so an event written twice changes nothing and no deduplication is needed.
        new(DialogueStages,
        [
            ("topic", "String"), ("customer_key", "String"),
            ("first_at", "AggregateFunction(minForEach, Array(UInt32))"), ("last_at", "AggregateFunction(maxForEach, Array(UInt32))"),
            ("first_channel", "AggregateFunction(argMin, String, UInt32)"),
            // When the server last wrote to the row (its own clock, at insert time, so a retried insert counts when it
            // lands): the overview's snapshot (DialogueSummary) takes rows written since it was taken from here.
            ("inserted_at", "AggregateFunction(max, DateTime)"),
        ],
        "AggregatingMergeTree ORDER BY (topic, customer_key)"),
        // The same per channel, for funnels that filter or break down by channel: at most one row per channel a dialogue used.
        new(DialogueChannelStages,
        [("topic", "String"), ("customer_key", "String"), ("channel", "String"), ("first_at", "AggregateFunction(minForEach, Array(UInt32))")],
        "AggregatingMergeTree ORDER BY (topic, customer_key, channel)"),
        // Each id's last interaction of any kind, for segments' "last seen" (a view from the events, like the above).
        new(CustomerActivity, [("customer_key", "String"), ("last_seen", "AggregateFunction(max, UInt32)")], "AggregatingMergeTree ORDER BY customer_key"),
        // Each Order Completed once (a re-delivered one replaces itself), with its revenue: segments' value and recency.
        new(Orders, [("customer_key", "String"), ("message_id", "String"), ("ts", "UInt32"), ("revenue", "Float64")], "ReplacingMergeTree ORDER BY (customer_key, message_id)"),
        // Each id's identify traits, one row per top-level trait with the latest value by event time (written by ArchiveBatch).
        new(CustomerTraits, [("customer_key", "String"), ("name", "String"), ("value", "String"), ("ts", "UInt32")], "ReplacingMergeTree(ts) ORDER BY (customer_key, name)"),
    ];

    /// <summary>A materialized view that keeps a compact table from every insert into the events.</summary>
    private sealed record CompactView(string Name, string Target, Func<string, string> SelectFrom);

    /// <summary>
    /// Each event of stage s gives its time for stages 1..s (it passes the stages before it): an array of s
    /// copies, which minForEach and maxForEach fold per position however long each row's array is. An
    /// interaction of no stage still counts as one with the topic, at position 1.
    /// </summary>
    private const string StageTimes = "arrayResize([toUInt32(timestamp)], greatest(stage, 1), toUInt32(timestamp))";

    private static readonly CompactView[] CompactViews =
    [
        new("dialogue_stages_mv", DialogueStages, events =>
            $"""
            SELECT topic, customer_key, minForEachState({StageTimes}) AS first_at, maxForEachState({StageTimes}) AS last_at,
                   argMinState(channel, toUInt32(timestamp)) AS first_channel, maxState(now()) AS inserted_at
            FROM {events}
            ARRAY JOIN topics AS topic, stages AS stage
            GROUP BY topic, customer_key
            """),
        new("dialogue_channel_stages_mv", DialogueChannelStages, events =>
            $"""
            SELECT topic, customer_key, channel, minForEachState({StageTimes}) AS first_at
            FROM {events}
            ARRAY JOIN topics AS topic, stages AS stage
            GROUP BY topic, customer_key, channel
            """),
        new("customer_activity_mv", CustomerActivity, events =>
            $"SELECT customer_key, maxState(toUInt32(timestamp)) AS last_seen FROM {events} GROUP BY customer_key"),
        new("orders_mv", Orders, events =>
            $"SELECT customer_key, message_id, toUInt32(timestamp) AS ts, {ArchiveSql.PayloadFloat("payload", "revenue")} AS revenue FROM {events} WHERE event = 'Order Completed'"),
    ];

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

            await EnsureCompactViewsAsync(clickHouse, table => table, created, cancellationToken);
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

            // Each server keeps the compact rows of its own events; both are sharded by the same customer_key.
            await EnsureCompactViewsAsync(server, clickHouse.LocalTable, created, cancellationToken);
            traitsCreated |= created.Contains(CustomerTraits);
        }

        if (traitsCreated)
        {
            // Read and written through the Distributed tables: each trait row goes to its customer's shard.
            await BackfillTraitsAsync(clickHouse, cancellationToken);
        }
    }

    /// <summary>The traits of the identify events archived before <see cref="CustomerTraits"/> existed, read back from their payloads.</summary>
    private static async Task BackfillTraitsAsync(ArchiveClient clickHouse, CancellationToken cancellationToken)
    {
        using var batch = new ArchiveBatch(DateTimeOffset.UtcNow);
        await foreach (var line in clickHouse.QueryLinesAsync("read identify payloads",
            $"SELECT customer_key, toUInt32(timestamp) AS ts, payload FROM {clickHouse.Table(Events)} WHERE type = 'identify' FORMAT JSONEachRow", cancellationToken))
        {
            using var row = JsonDocument.Parse(line);
            try
            {
                using var payload = JsonDocument.Parse(row.RootElement.GetProperty("payload").GetString()!);
                if (payload.RootElement.ValueKind == JsonValueKind.Object && payload.RootElement.TryGetProperty("traits", out var traits))
                {
                    batch.AddTraits(row.RootElement.GetProperty("customer_key").GetString()!, row.RootElement.GetProperty("ts").GetUInt32(), traits);
                }
            }
            catch (JsonException)
            {
                // An archived payload that is not JSON has no traits to carry over.
            }
        }

        await batch.WriteAsync(clickHouse, cancellationToken);
    }

    /// <summary>Drops the compact dialogue tables and their views (one server): the next <see cref="EnsureAsync"/> fills them again from the events.</summary>
    internal static async Task DropCompactTablesAsync(ArchiveClient server, CancellationToken cancellationToken)
    {
        foreach (var view in CompactViews)
        {
            await server.ExecuteAsync("drop view", $"DROP TABLE IF EXISTS {server.Database}.{view.Name}", cancellationToken);
            await server.ExecuteAsync("drop compact table", $"DROP TABLE IF EXISTS {server.Database}.{view.Target}", cancellationToken);
        }
    }

    /// <summary>Rows and compressed bytes of each table of the database on one server, in its active parts.</summary>
    internal static async Task<Dictionary<string, (long Rows, long Bytes)>> TableSizesAsync(ArchiveClient server, CancellationToken cancellationToken)
    {
        var sizes = Tables.ToDictionary(t => t.Name, _ => (0L, 0L), StringComparer.Ordinal);
        await foreach (var line in server.QueryLinesAsync("table sizes",
            $"SELECT table, sum(rows), sum(data_compressed_bytes) FROM system.parts WHERE active AND database = {ArchiveSql.Quote(server.Database)} GROUP BY table FORMAT TSV", cancellationToken))
        {
            var fields = line.Split('\t');
            if (sizes.ContainsKey(fields[0]))
            {
                sizes[fields[0]] = (long.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture), long.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return sizes;
    }

    /// <summary>
    /// The views that fill the compact tables from each insert into the events and, for a compact table just
    /// created on an archive that already had events, the same rows from those events. The backfill runs after
    /// the view exists, so no event falls between the two; an event seen by both only repeats a minimum and a maximum.
    /// </summary>
    private static async Task EnsureCompactViewsAsync(ArchiveClient server, Func<string, string> local, HashSet<string> created, CancellationToken cancellationToken)
    {
        var db = server.Database;
        var events = $"{db}.{local(Events)}";
        foreach (var view in CompactViews)
        {
            await server.ExecuteAsync("create view", $"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{view.Name} TO {db}.{local(view.Target)} AS {view.SelectFrom(events)}", cancellationToken);
            if (created.Contains(view.Target))
            {
                await server.ExecuteAsync("backfill compact table", $"INSERT INTO {db}.{local(view.Target)} {view.SelectFrom(events)}", cancellationToken);
            }
        }
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
