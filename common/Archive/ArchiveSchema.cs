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
            foreach (var table in Tables)
            {
                await EnsureTableAsync(clickHouse, table.Name, table.Columns, table.Engine, cancellationToken);
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

        foreach (var server in clickHouse.Servers)
        {
            await server.ExecuteAsync("create database", $"CREATE DATABASE IF NOT EXISTS {db}", cancellationToken);
            foreach (var table in Tables)
            {
                var local = clickHouse.LocalTable(table.Name);
                await EnsureTableAsync(server, local, table.Columns, table.Engine, cancellationToken);
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
        }
    }

    private static async Task EnsureTableAsync(ArchiveClient server, string name, (string Name, string Type)[] columns, string engine, CancellationToken cancellationToken)
    {
        var db = server.Database;
        var definition = string.Join(",\n    ", columns.Select(c => $"{c.Name} {c.Type}"));
        await server.ExecuteAsync("create table", $"CREATE TABLE IF NOT EXISTS {db}.{name} (\n    {definition}\n) ENGINE = {engine}", cancellationToken);
        var existing = (await server.QueryAsync("table columns",
            $"SELECT name FROM system.columns WHERE database = {ArchiveSql.Quote(db)} AND table = {ArchiveSql.Quote(name)} FORMAT TSV",
            cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        foreach (var (column, type) in columns.Where(c => !existing.Contains(c.Name)))
        {
            await server.ExecuteAsync("add column", $"ALTER TABLE {db}.{name} ADD COLUMN {column} {type}", cancellationToken);
        }
    }
}
