using System.Text;
using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ecrm.DialogueEngine.Segments;

public sealed record SegmentBody(SegmentConditions? Conditions, string? Name);

public sealed record SegmentCount(long Count);

public sealed record SegmentMember(string CustomerId, string ValueTier, long Orders, double Revenue, DateTimeOffset LastSeen);

public sealed record SegmentPage(IReadOnlyList<SegmentMember> Customers, int Page, int Size, long Total);

public sealed record SegmentList(IReadOnlyList<SavedSegment> Segments);

/// <summary>
/// Segments (API key): count, list (paged) and export (CSV, streamed) customers matching conditions;
/// save, list, read and delete named segments, which funnels (and the recommender) take by id.
/// </summary>
public static class SegmentApi
{
    private const int MaxBodyBytes = 64 * 1024;

    public static IEndpointRouteBuilder MapSegmentApi(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/api/segments");
        // Querying is reading (POST only because conditions do not fit a URL); saved segments are what
        // admin-only triggers and funnels build on, so changing them takes the admin key.
        group.MapPost("/count", CountAsync).RequireKey(KeyScope.Read);
        group.MapPost("/customers", ListCustomersAsync).RequireKey(KeyScope.Read);
        group.MapPost("/export", ExportAsync).RequireKey(KeyScope.Read);
        group.MapGet("/{id}/export.csv", ExportSavedAsync).RequireKey(KeyScope.Read);
        group.MapGet("/", ListAsync).RequireKey(KeyScope.Read);
        group.MapGet("/{id}", GetAsync).RequireKey(KeyScope.Read);
        group.MapPut("/{id}", SaveAsync).RequireKey(KeyScope.Admin);
        group.MapDelete("/{id}", DeleteAsync).RequireKey(KeyScope.Admin);
        return endpoints;
    }

    private static async Task<Results<Ok<SegmentCount>, ProblemHttpResult>> CountAsync(HttpRequest http, SegmentStore store, ArchiveClient clickHouse, CancellationToken cancellationToken)
    {
        var (conditions, error) = await ReadConditionsAsync(http, store, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        return await ArchiveAnswers.OkOrUnavailableAsync(async () => new SegmentCount(await SegmentArchive.CountAsync(clickHouse, store.CustomersSql(conditions!), cancellationToken)));
    }

    private static async Task<Results<Ok<SegmentPage>, ProblemHttpResult>> ListCustomersAsync(HttpRequest http, int? page, int? size, SegmentStore store, ArchiveClient clickHouse, CancellationToken cancellationToken)
    {
        if (page is < 1 or > 100_000 || size is < 1 or > 1000)
        {
            return Problem(StatusCodes.Status400BadRequest, "page: from 1; size: from 1 to 1000");
        }

        var (conditions, error) = await ReadConditionsAsync(http, store, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        var (pageNumber, pageSize) = (page ?? 1, size ?? 50);
        return await ArchiveAnswers.OkOrUnavailableAsync(async () =>
        {
            var sql = store.CustomersSql(conditions!);
            var total = await SegmentArchive.CountAsync(clickHouse, sql, cancellationToken);
            var members = (await SegmentArchive.PageAsync(clickHouse, sql, pageNumber, pageSize, cancellationToken))
                .Select(r => new SegmentMember(r.Customer, r.ValueTier, r.Orders, r.Revenue, r.LastSeen))
                .ToList();
            return new SegmentPage(members, pageNumber, pageSize, total);
        });
    }

    private static async Task<IResult> ExportAsync(HttpContext http, SegmentStore store, ArchiveClient clickHouse, CancellationToken cancellationToken)
    {
        var (conditions, error) = await ReadConditionsAsync(http.Request, store, cancellationToken);
        return error ?? await StreamCsvAsync(http, "segment", store.CustomersSql(conditions!), clickHouse, cancellationToken);
    }

    private static async Task<IResult> ExportSavedAsync(string id, HttpContext http, SegmentStore store, ArchiveClient clickHouse, CancellationToken cancellationToken)
    {
        if (!SegmentStore.IsValidId(id) || await store.GetAsync(id) is not { } saved)
        {
            return Problem(StatusCodes.Status404NotFound, "no saved segment by that id");
        }

        return await StreamCsvAsync(http, id, store.CustomersSql(saved.Conditions), clickHouse, cancellationToken);
    }

    /// <summary>Rows go out as ClickHouse sends them, so an export of millions never sits in memory.</summary>
    private static async Task<IResult> StreamCsvAsync(HttpContext http, string name, string sql, ArchiveClient clickHouse, CancellationToken cancellationToken)
    {
        IAsyncEnumerator<string> lines;
        bool any;
        try
        {
            lines = SegmentArchive.CsvLinesAsync(clickHouse, sql, cancellationToken).GetAsyncEnumerator(cancellationToken);
            any = await lines.MoveNextAsync();
        }
        catch (Exception e) when (ArchiveAnswers.For(e) is { } answer)
        {
            return answer;
        }

        await using (lines)
        {
            http.Response.ContentType = "text/csv; charset=utf-8";
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"{name}.csv\"";
            var output = http.Response.BodyWriter;
            while (any)
            {
                await output.WriteAsync(Encoding.UTF8.GetBytes(lines.Current + "\n"), cancellationToken);
                any = await lines.MoveNextAsync();
            }
        }

        return Results.Empty;
    }

    private static async Task<Ok<SegmentList>> ListAsync(SegmentStore store) => TypedResults.Ok(new SegmentList(await store.ListAsync()));

    private static async Task<Results<Ok<SavedSegment>, ProblemHttpResult>> GetAsync(string id, SegmentStore store) =>
        SegmentStore.IsValidId(id) && await store.GetAsync(id) is { } saved
            ? TypedResults.Ok(saved)
            : Problem(StatusCodes.Status404NotFound, "no saved segment by that id");

    private static async Task<Results<Ok<SavedSegment>, ProblemHttpResult>> SaveAsync(string id, HttpRequest http, SegmentStore store, CancellationToken cancellationToken)
    {
        if (!SegmentStore.IsValidId(id))
        {
            return Problem(StatusCodes.Status400BadRequest, "id: 1-64 letters, digits, '_' or '-'");
        }

        var (body, error) = await ReadBodyAsync(http, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        if (string.IsNullOrWhiteSpace(body!.Name) || body.Name.Length > 200)
        {
            return Problem(StatusCodes.Status400BadRequest, "name: required, at most 200 characters");
        }

        var errors = store.Validate(body.Conditions!);
        if (errors.Count > 0)
        {
            return Problem(StatusCodes.Status400BadRequest, string.Join("; ", errors));
        }

        var saved = new SavedSegment(id, body.Name.Trim(), body.Conditions!);
        await store.SaveAsync(saved);
        return TypedResults.Ok(saved);
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string id, SegmentStore store) =>
        SegmentStore.IsValidId(id) && await store.DeleteAsync(id) ? TypedResults.NoContent() : Problem(StatusCodes.Status404NotFound, "no saved segment by that id");

    private static async Task<(SegmentConditions? Conditions, ProblemHttpResult? Error)> ReadConditionsAsync(HttpRequest http, SegmentStore store, CancellationToken cancellationToken)
    {
        var (body, error) = await ReadBodyAsync(http, cancellationToken);
        if (error is not null)
        {
            return (null, error);
        }

        var errors = store.Validate(body!.Conditions!);
        return errors.Count > 0 ? (null, Problem(StatusCodes.Status400BadRequest, string.Join("; ", errors))) : (body.Conditions, null);
    }

    private static async Task<(SegmentBody? Body, ProblemHttpResult? Error)> ReadBodyAsync(HttpRequest http, CancellationToken cancellationToken)
    {
        var bytes = await RequestBody.ReadAsync(http, MaxBodyBytes, cancellationToken);
        if (bytes is null)
        {
            return (null, Problem(StatusCodes.Status413PayloadTooLarge, $"the body is over {MaxBodyBytes} bytes"));
        }

        try
        {
            var body = JsonSerializer.Deserialize(bytes, SegmentJsonContext.Default.SegmentBody);
            return body?.Conditions is null
                ? (null, Problem(StatusCodes.Status400BadRequest, "conditions: required, an object"))
                : (body, null);
        }
        catch (JsonException e)
        {
            return (null, Problem(StatusCodes.Status400BadRequest, $"the body is not valid JSON conditions: {e.Message}"));
        }
    }

    private static ProblemHttpResult Problem(int status, string detail) => TypedResults.Problem(detail: detail, statusCode: status);
}
