using System.Globalization;
using System.Security.Cryptography;

namespace Ecrm.Common.Archive;

/// <summary>
/// The all-topics overview's snapshot of the dialogue history: one row per (topic, customer) after identity
/// resolution, with the first time at each stage, taken every few minutes in the background. Grouping every
/// dialogue by customer is what the overview costs (millions of groups); with a snapshot it reads rows that are
/// already grouped, and regroups only the customers that changed since: those with a dialogue row written after
/// the snapshot was taken, and both sides of every identity link the snapshot did not know. The answer is the
/// same as grouping everything (FunnelTests compares the two).
/// </summary>
/// <remarks>
/// A snapshot is two tables on the server queries go to: <c>dialogue_summary_TAKEN_ID</c> and the identity links it
/// was built with (<c>…_links</c>). A build writes under another name and renames the table when it is complete,
/// so readers never see half of one; several engines may build at once, each its own. Erasure drops every
/// snapshot, so an erased customer leaves the overview at once (the overview groups everything until the next build).
/// </remarks>
public static class DialogueSummary
{
    /// <summary>Above this many changed customers the overview groups everything instead: regrouping them would cost about as much.</summary>
    public const int MaxChangedCustomers = 500_000;

    /// <summary>
    /// Rows written this long before a snapshot was taken still count as changed: an insert may finish (and become
    /// visible) a little after its view stamped it, and a cluster's servers may disagree a little about the time.
    /// </summary>
    public static readonly TimeSpan DefaultInsertMargin = TimeSpan.FromMinutes(1);

    private const string Prefix = "dialogue_summary_";
    private const string LinksSuffix = "_links";
    private const string ChangesPrefix = "dialogue_changes_";

    /// <summary>A complete snapshot: its table, the links table it was built with, and when it was taken (unix s, the server's clock).</summary>
    public sealed record Snapshot(string Table, string LinksTable, long TakenAt);

    /// <summary>
    /// The customers changed since a snapshot, held for one overview query in a small table on the server queried
    /// (rows of <c>id</c>, <c>customer</c>: every id changed, with the customer it belongs to now); drop it with DisposeAsync.
    /// A table rather than literal lists, because ClickHouse parses tens of thousands of literals slower than it reads a table.
    /// </summary>
    public sealed class Changes(ArchiveClient archive, string table, long customers) : IAsyncDisposable
    {
        /// <summary>The table, as statements name it.</summary>
        public string Table { get; } = table;

        /// <summary>How many customers are grouped again.</summary>
        public long Customers { get; } = customers;

        public async ValueTask DisposeAsync() =>
            await archive.ExecuteAsync("drop summary changes", $"DROP TABLE IF EXISTS {Table}", CancellationToken.None);
    }

    /// <summary>Takes a new snapshot, then drops all but the two newest (a reader may still be using the one before).</summary>
    public static async Task<Snapshot> BuildAsync(ArchiveClient archive, CancellationToken cancellationToken)
    {
        var db = archive.Database;
        // Taken before anything is read: a row written after this instant is found by ChangesAsync.
        var takenAt = await archive.QueryNumberAsync("summary time", "SELECT toUInt32(now()) FORMAT TSV", cancellationToken);
        var name = string.Create(CultureInfo.InvariantCulture, $"{Prefix}{takenAt}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");
        var building = "building_" + name;
        // The links first: one that arrives while the rows are read is then unknown to the snapshot, so it counts as changed.
        await archive.ExecuteAsync("summary links", $"CREATE TABLE {db}.{name}{LinksSuffix} ENGINE = MergeTree ORDER BY customer_key AS {FunnelSql.LinksSql(db)}", cancellationToken);
        await archive.ExecuteAsync("summary table", $"CREATE TABLE {db}.{building} (topic String, customer String, f Array(UInt32)) ENGINE = MergeTree ORDER BY (topic, customer)", cancellationToken);
        await archive.ExecuteAsync("summary rows", $"INSERT INTO {db}.{building} {FunnelSql.ResolvedDialoguesSql(db, "")}", cancellationToken);
        await archive.ExecuteAsync("summary rename", $"RENAME TABLE {db}.{building} TO {db}.{name}", cancellationToken);

        var complete = await ListAsync(archive, cancellationToken);
        foreach (var old in complete.Skip(2))
        {
            await DropAsync(archive, old, cancellationToken);
        }

        return new Snapshot(name, name + LinksSuffix, takenAt);
    }

    /// <summary>The newest complete snapshot, or null when none was taken since the last erasure.</summary>
    public static async Task<Snapshot?> LatestAsync(ArchiveClient archive, CancellationToken cancellationToken) =>
        (await ListAsync(archive, cancellationToken)).FirstOrDefault();

    /// <summary>Drops every snapshot, complete or not (erasure).</summary>
    public static async Task DropAllAsync(ArchiveClient archive, CancellationToken cancellationToken)
    {
        var names = await archive.QueryAsync("summary tables",
            $"SELECT name FROM system.tables WHERE database = {ArchiveSql.Quote(archive.Database)} AND (startsWith(name, '{Prefix}') OR startsWith(name, 'building_{Prefix}') OR startsWith(name, '{ChangesPrefix}')) FORMAT TSV",
            cancellationToken);
        foreach (var table in names.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            await archive.ExecuteAsync("drop summary", $"DROP TABLE IF EXISTS {archive.Database}.{table}", cancellationToken);
        }
    }

    /// <summary>
    /// The customers whose dialogues may differ from <paramref name="snapshot"/>'s rows: every id with a dialogue row
    /// written since it was taken (less <paramref name="insertMargin"/>), and both ids of every link it did not know;
    /// each with the customer it belongs to now. Null when more than <see cref="MaxChangedCustomers"/> changed.
    /// </summary>
    public static async Task<Changes?> ChangesAsync(ArchiveClient archive, Snapshot snapshot, TimeSpan insertMargin, CancellationToken cancellationToken)
    {
        var db = archive.Database;
        var since = snapshot.TakenAt - (long)insertMargin.TotalSeconds;
        var links = FunnelSql.LinksSql(db);
        var table = $"{db}.{ChangesPrefix}{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}";
        await archive.ExecuteAsync("summary changes table", $"CREATE TABLE {table} (id String, customer String) ENGINE = Memory", cancellationToken);
        var changes = new Changes(archive, table, 0);
        try
        {
            await archive.ExecuteAsync("summary changes",
                $"""
                INSERT INTO {table}
                SELECT DISTINCT id, if(owner = '', id, owner) AS customer
                FROM (
                    SELECT customer_key AS id FROM {db}.{ArchiveSchema.DialogueStages} WHERE finalizeAggregation(inserted_at) >= toDateTime({ArchiveSql.Number(since)})
                    UNION ALL
                    SELECT arrayJoin([linked, link_owner]) AS id
                    FROM (SELECT customer_key AS linked, owner AS link_owner FROM ({links}))
                    WHERE (linked, link_owner) NOT IN (SELECT customer_key, owner FROM {db}.{snapshot.LinksTable})
                )
                ANY LEFT JOIN (SELECT customer_key AS id, owner FROM ({links})) USING id
                """, cancellationToken);
            var customers = await archive.QueryNumberAsync("summary changed customers", $"SELECT uniqExact(customer) FROM {table} FORMAT TSV", cancellationToken);
            if (customers <= MaxChangedCustomers)
            {
                return new Changes(archive, table, customers);
            }
        }
        catch
        {
            await changes.DisposeAsync();
            throw;
        }

        await changes.DisposeAsync();
        return null;
    }

    /// <summary>Complete snapshots, newest first.</summary>
    private static async Task<List<Snapshot>> ListAsync(ArchiveClient archive, CancellationToken cancellationToken)
    {
        var names = await archive.QueryAsync("summary tables",
            $"SELECT name FROM system.tables WHERE database = {ArchiveSql.Quote(archive.Database)} AND startsWith(name, '{Prefix}') AND NOT endsWith(name, '{LinksSuffix}') ORDER BY name DESC FORMAT TSV",
            cancellationToken);
        return [.. names.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(name =>
            new Snapshot(name, name + LinksSuffix, long.Parse(name.AsSpan(Prefix.Length, name.IndexOf('_', Prefix.Length) - Prefix.Length), CultureInfo.InvariantCulture)))];
    }

    private static async Task DropAsync(ArchiveClient archive, Snapshot snapshot, CancellationToken cancellationToken)
    {
        await archive.ExecuteAsync("drop summary", $"DROP TABLE IF EXISTS {archive.Database}.{snapshot.Table}", cancellationToken);
        await archive.ExecuteAsync("drop summary links", $"DROP TABLE IF EXISTS {archive.Database}.{snapshot.LinksTable}", cancellationToken);
    }
}
