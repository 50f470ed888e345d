using System.ComponentModel.DataAnnotations;
using System.Net.Http.Headers;
using System.Text;

namespace Ecrm.Common.Storage;

public sealed record ClickHouseOptions
{
    public const string Section = "ClickHouse";

    [Required, Url]
    public string Url { get; init; } = "http://127.0.0.1:8123";

    [Required, RegularExpression("^[A-Za-z_][A-Za-z0-9_]{0,63}$", ErrorMessage = "ClickHouse:Database must be a plain identifier")]
    public string Database { get; init; } = "ecrm";

    public string User { get; init; } = "default";

    public string Password { get; init; } = "";
}

/// <summary>
/// ClickHouse over its HTTP interface (no .NET ClickHouse client is available to this project).
/// SQL that carries values must build them with <see cref="ClickHouseSql"/>; rows travel as JSONEachRow.
/// </summary>
public sealed class ClickHouseClient
{
    private readonly HttpClient _http;
    private readonly ClickHouseOptions _options;

    public ClickHouseClient(HttpClient http, ClickHouseOptions options)
    {
        _http = http;
        _options = options;
        _http.BaseAddress ??= new Uri(options.Url);
        if (!string.IsNullOrEmpty(options.User))
        {
            _http.DefaultRequestHeaders.Add("X-ClickHouse-User", options.User);
            _http.DefaultRequestHeaders.Add("X-ClickHouse-Key", options.Password);
        }
    }

    public string Database => _options.Database;

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync("ping", cancellationToken);
        return response.IsSuccessStatusCode;
    }

    /// <summary>Runs a statement that returns nothing (DDL, ALTER).</summary>
    public async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        using var content = new StringContent(sql, Encoding.UTF8, "text/plain");
        using var response = await _http.PostAsync("", content, cancellationToken);
        await EnsureSuccessAsync(response, sql, cancellationToken);
    }

    /// <summary>Runs a query and returns its body; the query names its output FORMAT.</summary>
    public async Task<string> QueryAsync(string sql, CancellationToken cancellationToken)
    {
        using var content = new StringContent(sql, Encoding.UTF8, "text/plain");
        using var response = await _http.PostAsync("", content, cancellationToken);
        await EnsureSuccessAsync(response, sql, cancellationToken);
        return await response.Content.ReadAsStringAsync(cancellationToken);
    }

    /// <summary>Runs a query and streams its body line by line, for results too large to hold at once.</summary>
    public async IAsyncEnumerable<string> QueryLinesAsync(string sql, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "") { Content = new StringContent(sql, Encoding.UTF8, "text/plain") };
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        await EnsureSuccessAsync(response, sql, cancellationToken);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            yield return line;
        }
    }

    /// <summary>Inserts rows given as JSONEachRow (one JSON object per line) into a table of our database.</summary>
    public async Task InsertJsonEachRowAsync(string table, ReadOnlyMemory<byte> rows, CancellationToken cancellationToken)
    {
        var query = Uri.EscapeDataString($"INSERT INTO {_options.Database}.{table} FORMAT JSONEachRow");
        using var content = new ReadOnlyMemoryContent(rows);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
        using var response = await _http.PostAsync($"?query={query}", content, cancellationToken);
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
