using Ecrm.Common.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ecrm.DialogueEngine.Catalog;

/// <summary><c>GET /api/catalog</c> (API key) and <c>PUT /api/catalog</c> (admin key).</summary>
public static class CatalogApi
{
    public const string VersionHeader = "X-Ecrm-Catalog-Version";

    public static IEndpointRouteBuilder MapCatalogApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/catalog", GetAsync).RequireKey(KeyScope.Read);
        // The demo catalog is 10 KB; a shop with thousands of topics and rules stays within 4 MB.
        endpoints.MapPut("/api/catalog", PutAsync).RequireKey(KeyScope.Admin).WithBodyLimit(4 * 1024 * 1024);
        return endpoints;
    }

    private static async Task<Results<ContentHttpResult, NotFound<string>>> GetAsync(CatalogHolder holder, HttpResponse response)
    {
        if (await holder.ReadDocumentAsync() is not var (version, document))
        {
            return TypedResults.NotFound("no topic catalog has been published yet");
        }

        response.Headers[VersionHeader] = version.ToString();
        return TypedResults.Content(document, "application/json");
    }

    private static async Task<Results<Ok<CatalogPublished>, ProblemHttpResult>> PutAsync(CatalogHolder holder, HttpRequest request)
    {
        using var reader = new StreamReader(request.Body);
        var document = await reader.ReadToEndAsync(request.HttpContext.RequestAborted);
        var (version, errors) = await holder.PublishAsync(document);
        if (errors.Count > 0)
        {
            return TypedResults.Problem(
                detail: "the catalog was refused; the running catalog stays in place",
                statusCode: StatusCodes.Status400BadRequest,
                extensions: new Dictionary<string, object?> { ["errors"] = errors });
        }

        var catalog = holder.Catalog;
        return TypedResults.Ok(new CatalogPublished(version, catalog.Topics.Count, catalog.Topics.Sum(t => t.Rules.Count)));
    }
}

public sealed record CatalogPublished(long Version, int Topics, int Rules);
