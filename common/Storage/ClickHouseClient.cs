using System.ComponentModel.DataAnnotations;
using System.Net.Http.Headers;
using System.Text;

namespace Ecrm.Common.Storage;

public sealed record ClickHouseOptions : IValidatableObject
{
    public const string Section = "ClickHouse";

    [Required, Url]
    public string Url { get; init; } = "http://127.0.0.1:8123";

    [Required, RegularExpression("^[A-Za-z_][A-Za-z0-9_]{0,63}$", ErrorMessage = "ClickHouse:Database must be a plain identifier")]
    public string Database { get; init; } = "ecrm";

    public string User { get; init; } = "default";

    public string Password { get; init; } = "";

    /// <summary>
    /// The cluster (a name in the servers' <c>remote_servers</c>) the archive is sharded over; empty
    /// for one server. With a cluster, <see cref="Url"/> is the server queries and inserts go to.
    /// </summary>
    [RegularExpression("^([A-Za-z_][A-Za-z0-9_]{0,63})?$", ErrorMessage = "ClickHouse:Cluster must be a plain identifier")]
    public string Cluster { get; init; } = "";

    /// <summary>
    /// The HTTP URL of every server of <see cref="Cluster"/>: tables are created and rows deleted on
    /// each directly (ClickHouse 18.16 has no distributed DDL without ZooKeeper, and mutations do not
    /// go through Distributed tables).
    /// </summary>
    public IReadOnlyList<string> ServerUrls { get; init; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Cluster.Length > 0 && ServerUrls.Count == 0)
        {
            yield return new ValidationResult("ClickHouse:ServerUrls must list the HTTP URL of every server of ClickHouse:Cluster", [nameof(ServerUrls)]);
        }

        if (Cluster.Length == 0 && ServerUrls.Count > 0)
        {
            yield return new ValidationResult("ClickHouse:ServerUrls is only for a cluster; set ClickHouse:Cluster too", [nameof(ServerUrls)]);
        }

        foreach (var url in ServerUrls.Where(u => !Uri.TryCreate(u, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult($"ClickHouse:ServerUrls: '{url}' is not an http(s) URL", [nameof(ServerUrls)]);
        }
    }
}

/// <summary>
/// ClickHouse over its HTTP interface (no .NET ClickHouse client is available to this project).
/// SQL that carries values must build them with <see cref="ClickHouseSql"/>; rows travel as JSONEachRow.
/// On a cluster (<see cref="ClickHouseOptions.Cluster"/>) each archive table is a Distributed table
/// over a local table of the same name with <c>_local</c> appended on every server: reads and
/// inserts go through the Distributed one, DDL and deletes to the local ones on <see cref="Servers"/>.
/// </summary>
public sealed class ClickHouseClient
{
    private const string LocalSuffix = "_local";
    private readonly HttpClient _http;
    private readonly ClickHouseOptions _options;
    private readonly Uri _baseUri;

    public ClickHouseClient(HttpClient http, ClickHouseOptions options)
        : this(http, options, http.BaseAddress ?? new Uri(options.Url))
    {
        if (!string.IsNullOrEmpty(options.User))
        {
            _http.DefaultRequestHeaders.Add("X-ClickHouse-User", options.User);
            _http.DefaultRequestHeaders.Add("X-ClickHouse-Key", options.Password);
        }

        Servers = options.Cluster.Length == 0
            ? [this]
            : [.. options.ServerUrls.Select(url => new ClickHouseClient(_http, options with { Url = url, Cluster = "", ServerUrls = [] }, new Uri(url)))];
    }

    // A client of one server of the cluster; it shares the cluster client's HttpClient and credentials.
    private ClickHouseClient(HttpClient http, ClickHouseOptions options, Uri baseUri)
    {
        _http = http;
        _options = options;
        _baseUri = baseUri;
        Servers = [this];
    }

    public string Database => _options.Database;

    /// <summary>The cluster name from <c>remote_servers</c>, or null for a single server.</summary>
    public string? Cluster => _options.Cluster.Length == 0 ? null : _options.Cluster;

    /// <summary>Every server that holds archive rows, each as a single-server client; this client alone when there is no cluster.</summary>
    public IReadOnlyList<ClickHouseClient> Servers { get; }

    /// <summary>The table that holds a server's own rows: the table itself on a single server, its <c>_local</c> table on a cluster.</summary>
    public string LocalTable(string table) => Cluster is null ? table : table + LocalSuffix;

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(new Uri(_baseUri, "ping"), cancellationToken);
        return response.IsSuccessStatusCode;
    }

    /// <summary>Runs a statement that returns nothing (DDL, ALTER).</summary>
    public async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        using var content = new StringContent(sql, Encoding.UTF8, "text/plain");
        using var response = await _http.PostAsync(_baseUri, content, cancellationToken);
        await EnsureSuccessAsync(response, sql, cancellationToken);
    }

    /// <summary>Runs a query and returns its body; the query names its output FORMAT.</summary>
    public async Task<string> QueryAsync(string sql, CancellationToken cancellationToken)
    {
        using var content = new StringContent(sql, Encoding.UTF8, "text/plain");
        using var response = await _http.PostAsync(_baseUri, content, cancellationToken);
        await EnsureSuccessAsync(response, sql, cancellationToken);
        return await response.Content.ReadAsStringAsync(cancellationToken);
    }

    /// <summary>
    /// Deletes the rows of a table of our database that match <paramref name="condition"/>, on every
    /// server (a mutation: ClickHouse runs it in the background, see <see cref="CountUnfinishedMutationsAsync"/>).
    /// </summary>
    public async Task DeleteWhereAsync(string table, string condition, CancellationToken cancellationToken)
    {
        foreach (var server in Servers)
        {
            await server.ExecuteAsync($"ALTER TABLE {Database}.{LocalTable(table)} DELETE WHERE {condition}", cancellationToken);
        }
    }

    /// <summary>The mutations of our database not yet finished, summed over every server.</summary>
    public async Task<long> CountUnfinishedMutationsAsync(CancellationToken cancellationToken)
    {
        long unfinished = 0;
        foreach (var server in Servers)
        {
            var count = await server.QueryAsync($"SELECT count() FROM system.mutations WHERE database = {ClickHouseSql.Quote(Database)} AND is_done = 0 FORMAT TSV", cancellationToken);
            unfinished += long.Parse(count.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }

        return unfinished;
    }

    /// <summary>Runs a query and streams its body line by line, for results too large to hold at once.</summary>
    public async IAsyncEnumerable<string> QueryLinesAsync(string sql, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _baseUri) { Content = new StringContent(sql, Encoding.UTF8, "text/plain") };
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        await EnsureSuccessAsync(response, sql, cancellationToken);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            yield return line;
        }
    }

    /// <summary>
    /// Inserts rows given as JSONEachRow (one JSON object per line) into a table of our database. On a
    /// cluster the insert answers only once every shard has its rows (insert_distributed_sync): by
    /// default a Distributed table queues them on the initiator's disk and answers at once, so an
    /// archive batch would count as written while a shard was down.
    /// </summary>
    public async Task InsertJsonEachRowAsync(string table, ReadOnlyMemory<byte> rows, CancellationToken cancellationToken)
    {
        var query = Uri.EscapeDataString($"INSERT INTO {_options.Database}.{table} FORMAT JSONEachRow");
        var settings = Cluster is null ? "" : "&insert_distributed_sync=1";
        using var content = new ReadOnlyMemoryContent(rows);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
        using var response = await _http.PostAsync(new Uri(_baseUri, $"?query={query}{settings}"), content, cancellationToken);
        await EnsureSuccessAsync(response, $"INSERT INTO {table}", cancellationToken);
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new ClickHouseException($"ClickHouse answered {(int)response.StatusCode} to {Shorten(what)}: {Shorten(body)}");
        }
    }

    private static string Shorten(string text) => text.Length <= 500 ? text.Trim() : text[..500] + "...";
}

public sealed class ClickHouseException(string message) : Exception(message);

/// <summary>Literal escaping for ClickHouse SQL: the only way a value enters a statement.</summary>
public static class ClickHouseSql
{
    /// <summary>A single-quoted string literal with backslashes, quotes and control characters escaped.</summary>
    public static string Quote(string value)
    {
        var builder = new StringBuilder(value.Length + 2).Append('\'');
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': builder.Append(@"\\"); break;
                case '\'': builder.Append(@"\'"); break;
                case '\0': builder.Append(@"\0"); break;
                case '\n': builder.Append(@"\n"); break;
                case '\r': builder.Append(@"\r"); break;
                case '\t': builder.Append(@"\t"); break;
                default: builder.Append(c); break;
            }
        }

        return builder.Append('\'').ToString();
    }
}
