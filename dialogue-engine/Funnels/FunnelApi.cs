using Ecrm.Common.Archive;
using Ecrm.Common.Hosting;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Segments;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ecrm.DialogueEngine.Funnels;

/// <summary>
/// <c>GET /api/funnels/{topic}</c>, <c>GET /api/funnels</c> and <c>GET /api/trends</c> (API key):
/// the dialogue funnels and stage-entry trends marketers read, from the ClickHouse archive.
/// </summary>
public static class FunnelApi
{
    public static IEndpointRouteBuilder MapFunnelApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/funnels/{topic}", GetFunnelAsync).RequireKey(KeyScope.Read);
        endpoints.MapGet("/api/funnels", GetFunnelsAsync).RequireKey(KeyScope.Read);
        endpoints.MapGet("/api/trends", GetTrendAsync).RequireKey(KeyScope.Read);
        return endpoints;
    }

    private static async Task<Results<Ok<Funnel>, ProblemHttpResult>> GetFunnelAsync(
        string topic, HttpRequest http, CatalogHolder catalog, FunnelQueries funnels, SegmentStore segments, TimeProvider time, CancellationToken cancellationToken)
    {
        if (catalog.Catalog.FindTopic(topic) is null)
        {
            return NotFound($"topic '{Shorten(topic)}' is not in the topic catalog");
        }

        var errors = new List<string>();
        if (FunnelRequest.Parse(http.Query, time.GetUtcNow(), errors) is not { } request)
        {
            return BadRequest(errors);
        }

        var customers = await segments.CustomersSqlAsync(request.Segment, cancellationToken);
        if (customers.Error is { } segmentError)
        {
            return BadRequest([segmentError]);
        }

        return await ArchiveAnswers.OkOrUnavailableAsync(async () => (await funnels.ReadAsync(catalog.Catalog, topic, request, customers.Sql, cancellationToken))[0]);
    }

    private static async Task<Results<Ok<FunnelList>, ProblemHttpResult>> GetFunnelsAsync(
        HttpRequest http, CatalogHolder catalog, FunnelQueries funnels, SegmentStore segments, TimeProvider time, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        if (FunnelRequest.Parse(http.Query, time.GetUtcNow(), errors) is not { } request)
        {
            return BadRequest(errors);
        }

        if (request.Breakdown != BreakdownKind.None)
        {
            return BadRequest(["breakdown: ask for one topic's funnel to break it down"]);
        }

        var sort = http.Query["sort"].ToString();
        if (sort is not ("" or "conversion" or "customers" or "topic"))
        {
            return BadRequest([$"sort: '{Shorten(sort)}' is not one of conversion, customers, topic"]);
        }

        var customers = await segments.CustomersSqlAsync(request.Segment, cancellationToken);
        if (customers.Error is { } segmentError)
        {
            return BadRequest([segmentError]);
        }

        return await ArchiveAnswers.OkOrUnavailableAsync(async () =>
        {
            var all = await funnels.ReadAsync(catalog.Catalog, null, request, customers.Sql, cancellationToken);
            IEnumerable<Funnel> sorted = sort switch
            {
                "customers" => all.OrderByDescending(f => f.Stages[0].Customers),
                "topic" => all.OrderBy(f => f.Topic, StringComparer.Ordinal),
                _ => all.OrderByDescending(f => f.Conversion).ThenByDescending(f => f.Stages[0].Customers),
            };
            return new FunnelList([.. sorted]);
        });
    }

    private static async Task<Results<Ok<Trend>, ProblemHttpResult>> GetTrendAsync(
        HttpRequest http, CatalogHolder catalog, TrendQueries trends, TimeProvider time, CancellationToken cancellationToken)
    {
        var topic = http.Query["topic"].ToString();
        if (topic.Length == 0)
        {
            return BadRequest(["topic: required"]);
        }

        if (catalog.Catalog.FindTopic(topic) is null)
        {
            return NotFound($"topic '{Shorten(topic)}' is not in the topic catalog");
        }

        var errors = new List<string>();
        var interval = http.Query["interval"].ToString();
        if (interval is not ("" or "day" or "week"))
        {
            errors.Add($"interval: '{Shorten(interval)}' is not one of day, week");
        }

        var byChannel = http.Query["by"].ToString() switch
        {
            "" => false,
            "channel" => true,
            var other => AddError(errors, $"by: '{Shorten(other)}' is not channel"),
        };
        if (FunnelRequest.Parse(http.Query, time.GetUtcNow(), errors) is not { } request || errors.Count > 0)
        {
            return BadRequest(errors);
        }

        return await ArchiveAnswers.OkOrUnavailableAsync(() => trends.ReadAsync(catalog.Catalog, topic, request, interval == "week", byChannel, cancellationToken));
    }

    private static ProblemHttpResult BadRequest(IReadOnlyList<string> errors) =>
        TypedResults.Problem(detail: string.Join("; ", errors), statusCode: StatusCodes.Status400BadRequest,
            extensions: new Dictionary<string, object?> { ["errors"] = errors });

    private static ProblemHttpResult NotFound(string detail) => TypedResults.Problem(detail: detail, statusCode: StatusCodes.Status404NotFound);

    private static bool AddError(List<string> errors, string error)
    {
        errors.Add(error);
        return false;
    }

    private static string Shorten(string text) => FunnelRequest.Shorten(text);
}

public sealed record FunnelList(IReadOnlyList<Funnel> Funnels);
