using Ecrm.Common.Hosting;
using Ecrm.Recommender.Content;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Ecrm.Recommender.Recommending;

/// <summary>
/// <c>GET /v1/recommendations/{customerId}</c> and <c>GET /v1/items/{id}/similar</c> (API key);
/// <c>GET /v1/items</c> (API key) and <c>PUT /v1/items</c> (admin key) for the content catalog.
/// </summary>
public static class RecommendationsApi
{
    public static IEndpointRouteBuilder MapRecommendationsApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/recommendations/{customerId}", RecommendAsync).RequireKey(KeyScope.Read);
        endpoints.MapGet("/v1/items/{id}/similar", Similar).RequireKey(KeyScope.Read);
        endpoints.MapGet("/v1/items", GetItemsAsync).RequireKey(KeyScope.Read);
        // The demo content is 10 KB; tens of thousands of items stay within 16 MB.
        endpoints.MapPut("/v1/items", PutItemsAsync).RequireKey(KeyScope.Admin).WithBodyLimit(16 * 1024 * 1024);
        return endpoints;
    }

    /// <summary>The slot (placement) is not a ranking input: the widget echoes it in its impression and click events, for CTR per slot.</summary>
    private static async Task<Results<Ok<Recommendation>, ProblemHttpResult>> RecommendAsync(
        string customerId, int? n, string? slot, string? exclude, BlendedRecommender recommender, IOptions<RecommenderOptions> options)
    {
        var count = n ?? options.Value.DefaultCount;
        if (count < 1 || count > options.Value.MaxCount)
        {
            return TypedResults.Problem($"n must be between 1 and {options.Value.MaxCount}", statusCode: StatusCodes.Status400BadRequest);
        }

        return TypedResults.Ok(await recommender.RecommendAsync(customerId, count, ParseExclude(exclude)));
    }

    private static Results<Ok<Recommendation>, NotFound<string>, ProblemHttpResult> Similar(
        string id, int? n, string? exclude, BlendedRecommender recommender, IOptions<RecommenderOptions> options)
    {
        var count = n ?? options.Value.DefaultCount;
        if (count < 1 || count > options.Value.MaxCount)
        {
            return TypedResults.Problem($"n must be between 1 and {options.Value.MaxCount}", statusCode: StatusCodes.Status400BadRequest);
        }

        return recommender.Similar(id, count, ParseExclude(exclude)) is { } similar
            ? TypedResults.Ok(similar)
            : TypedResults.NotFound($"no item '{id}' in the content catalog");
    }

    private static HashSet<string> ParseExclude(string? exclude) =>
        (exclude ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);

    private static async Task<Results<ContentHttpResult, NotFound<string>>> GetItemsAsync(ContentHolder content)
    {
        return await content.ReadDocumentAsync() is var (_, document)
            ? TypedResults.Content(document, "application/json")
            : TypedResults.NotFound("no content catalog has been published yet");
    }

    private static async Task<Results<Ok<ContentPublished>, ProblemHttpResult>> PutItemsAsync(ContentHolder content, HttpRequest request)
    {
        using var reader = new StreamReader(request.Body);
        var (version, errors) = await content.PublishAsync(await reader.ReadToEndAsync(request.HttpContext.RequestAborted));
        return errors.Count > 0
            ? TypedResults.Problem(
                detail: "the content catalog was refused; the running one stays in place",
                statusCode: StatusCodes.Status400BadRequest,
                extensions: new Dictionary<string, object?> { ["errors"] = errors })
            : TypedResults.Ok(new ContentPublished(version, content.Current.Items.Count));
    }
}

public sealed record ContentPublished(long Version, int Items);
