using System.Runtime.CompilerServices;
using System.Text;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO;

namespace Ecrm.Common.Archive;

/// <summary>
/// The archive's connection to ClickHouse, through ClickHouse.Driver: DDL and mutations as non-queries,
/// reads as raw results in the FORMAT the statement names (the driver's typed readers need a server
/// newer than 18.16), inserts in RowBinary. Every statement carries a name, which failures are logged
/// and counted under (<see cref="ArchiveDiagnostics"/>), and every failure comes out as an
/// <see cref="ArchiveException"/> that says whether retrying can help.
/// On a cluster (<see cref="ClickHouseOptions.Cluster"/>) each archive table is a Distributed table
/// over a local table of the same name with <c>_local</c> appended on every server: reads and
/// inserts go through the Distributed one, DDL and deletes to the local ones on <see cref="Servers"/>.
/// </summary>
public sealed class ArchiveClient : IDisposable
{
    private const string LocalSuffix = "_local";

    // The driver asks for RowBinaryWithNamesAndTypes by default, which 18.16 lacks; a statement with no
    // FORMAT of its own (DDL, INSERT … SELECT) must fall back to one every release knows.
    private static readonly QueryOptions Plain = new() { CustomSettings = new Dictionary<string, object> { ["default_format"] = "TabSeparated" } };
    private readonly ClickHouseClient _driver;
    private readonly ClickHouseOptions _options;
    private readonly ArchiveDiagnostics _diagnostics;
    private readonly bool _ownsServers;

    public ArchiveClient(ClickHouseOptions options, ArchiveDiagnostics? diagnostics = null)
        : this(options, diagnostics ?? ArchiveDiagnostics.None, options.Url)
    {
        _ownsServers = true;
        Servers = options.Cluster.Length == 0
            ? [this]
            : [.. options.ServerUrls.Select(url => new ArchiveClient(options with { Url = url, Cluster = "", ServerUrls = [] }, _diagnostics, url))];
    }

    private ArchiveClient(ClickHouseOptions options, ArchiveDiagnostics diagnostics, string url)
    {
        _options = options;
        _diagnostics = diagnostics;
        var uri = new Uri(url);
        _driver = new ClickHouseClient(new ClickHouseClientSettings
        {
            Host = uri.Host,
            Port = (ushort)uri.Port,
            Protocol = uri.Scheme,
            Path = uri.AbsolutePath.Trim('/') is { Length: > 0 } path ? path : null,
            // Statements name their database; the default one exists before the archive's does.
            Database = "default",
            Username = options.User,
            Password = options.Password,
            // 18.16 knows none of the settings the driver's JSON modes send.
            JsonReadMode = JsonReadMode.None,
            JsonWriteMode = JsonWriteMode.None,
            // 18.16 takes only gzip request bodies; on the loopback and LAN paths the archive uses, none is faster.
            UseCompression = false,
            Timeout = TimeSpan.FromSeconds(60),
        });
        Servers = [this];
    }

    public string Database => _options.Database;

    /// <summary>The cluster name from <c>remote_servers</c>, or null for a single server.</summary>
    public string? Cluster => _options.Cluster.Length == 0 ? null : _options.Cluster;

    /// <summary>Every server that holds archive rows, each as a single-server client; this client alone when there is no cluster.</summary>
    public IReadOnlyList<ArchiveClient> Servers { get; }

    /// <summary>The table that holds a server's own rows: the table itself on a single server, its <c>_local</c> table on a cluster.</summary>
    public string LocalTable(string table) => Cluster is null ? table : table + LocalSuffix;

    /// <summary>A table of the archive's database, as statements name it.</summary>
    public string Table(string table) => $"{Database}.{table}";

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _driver.PingAsync(cancellationToken: cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Runs a statement that returns nothing (DDL, ALTER, INSERT … SELECT).</summary>
    public Task ExecuteAsync(string query, string sql, CancellationToken cancellationToken) =>
        RunAsync(query, async () => await _driver.ExecuteNonQueryAsync(sql, options: Plain, cancellationToken: cancellationToken), cancellationToken);

    /// <summary>Runs a query and returns its body; the query names its output FORMAT.</summary>
    public Task<string> QueryAsync(string query, string sql, CancellationToken cancellationToken) =>
        RunAsync(query, async () =>
        {
            using var result = await _driver.ExecuteRawResultAsync(sql, Plain, cancellationToken);
            return await result.ReadAsStringAsync();
        }, cancellationToken);

    /// <summary>An unnamed query, for tests and tools that look at the archive directly.</summary>
    public Task<string> QueryAsync(string sql, CancellationToken cancellationToken) => QueryAsync("ad hoc", sql, cancellationToken);

    /// <summary>A single number, such as a count, from a query in FORMAT TSV.</summary>
    public async Task<long> QueryNumberAsync(string query, string sql, CancellationToken cancellationToken) =>
        long.Parse((await QueryAsync(query, sql, cancellationToken)).Trim(), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Runs a query and streams its body line by line, for results too large to hold at once.</summary>
    public async IAsyncEnumerable<string> QueryLinesAsync(string query, string sql, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var result = await RunAsync(query, () => _driver.ExecuteRawResultAsync(sql, Plain, cancellationToken), cancellationToken);
        using (result)
        {
            using var reader = new StreamReader(await result.ReadAsStreamAsync(), Encoding.UTF8);
            while (true)
            {
                // ClickHouse reports an error met mid-stream in the body itself: it ends the stream early.
                var line = await RunAsync(query, async () => await reader.ReadLineAsync(cancellationToken), cancellationToken);
                if (line is null)
                {
                    yield break;
                }

                yield return line;
            }
        }
    }

    /// <summary>
    /// Inserts rows in RowBinary. The column types are given, so the driver needs no schema probe (its
    /// probe reads RowBinaryWithNamesAndTypes, which 18.16 lacks). On a cluster the insert answers only
    /// once every shard has its rows (insert_distributed_sync): by default a Distributed table queues them
    /// on the initiator's disk and answers at once, so a batch would count as written while a shard was down.
    /// </summary>
    internal Task InsertAsync(string table, ArchiveColumns columns, IReadOnlyCollection<object[]> rows, CancellationToken cancellationToken) =>
        RunAsync($"insert {table}", async () =>
        {
            var options = new InsertOptions
            {
                ColumnTypes = columns.Types,
                Compressor = null,
                // One request per batch: the batch is the unit the consumer retries, and its size is bounded there.
                // (Two requests in parallel were slower on 2 cores: the server's sort and the client's encoding compete.)
                BatchSize = Math.Max(1, rows.Count),
                MaxDegreeOfParallelism = 1,
                CustomSettings = Cluster is null ? null : new Dictionary<string, object> { ["insert_distributed_sync"] = 1 },
            };
            return await _driver.InsertBinaryAsync(Table(table), columns.Names, rows, options, cancellationToken);
        }, cancellationToken);

    /// <summary>Inserts rows already encoded as JSONEachRow (one object per line), such as the triggers' outbox rows.</summary>
    public Task InsertJsonEachRowAsync(string table, ReadOnlyMemory<byte> rows, CancellationToken cancellationToken) =>
        RunAsync($"insert {table}", async () =>
        {
            var options = Cluster is null ? null : new QueryOptions { CustomSettings = new Dictionary<string, object> { ["insert_distributed_sync"] = 1 } };
            using var stream = new MemoryStream(rows.ToArray(), writable: false);
            using var response = await _driver.InsertRawStreamAsync(Table(table), stream, "JSONEachRow", useCompression: false, options: options, cancellationToken: cancellationToken);
            return response.StatusCode;
        }, cancellationToken);

    /// <summary>
    /// Deletes the rows of a table of our database that match <paramref name="condition"/>, on every
    /// server (a mutation: ClickHouse runs it in the background, see <see cref="CountUnfinishedMutationsAsync"/>).
    /// </summary>
    internal async Task DeleteWhereAsync(string query, string table, string condition, CancellationToken cancellationToken)
    {
        foreach (var server in Servers)
        {
            await server.ExecuteAsync(query, $"ALTER TABLE {Database}.{LocalTable(table)} DELETE WHERE {condition}", cancellationToken);
        }
    }

    /// <summary>The mutations of our database not yet finished, summed over every server.</summary>
    public async Task<long> CountUnfinishedMutationsAsync(CancellationToken cancellationToken)
    {
        long unfinished = 0;
        foreach (var server in Servers)
        {
            unfinished += await server.QueryNumberAsync("unfinished mutations",
                $"SELECT count() FROM system.mutations WHERE database = {ArchiveSql.Quote(Database)} AND is_done = 0 FORMAT TSV", cancellationToken);
        }

        return unfinished;
    }

    public void Dispose()
    {
        _driver.Dispose();
        if (_ownsServers)
        {
            foreach (var server in Servers.Where(s => !ReferenceEquals(s, this)))
            {
                server.Dispose();
            }
        }
    }

    private async Task<T> RunAsync<T>(string query, Func<Task<T>> statement, CancellationToken cancellationToken)
    {
        try
        {
            return await statement();
        }
        catch (Exception e) when (_diagnostics.Classify(query, e, cancellationToken) is { } failure)
        {
            throw failure;
        }
    }
}

/// <summary>A table's columns in insert order, with their ClickHouse types.</summary>
internal sealed class ArchiveColumns((string Name, string Type)[] columns)
{
    public IReadOnlyList<string> Names { get; } = [.. columns.Select(c => c.Name)];

    public IReadOnlyDictionary<string, string> Types { get; } = columns.ToDictionary(c => c.Name, c => c.Type, StringComparer.Ordinal);
}
