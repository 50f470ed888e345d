using Ecrm.Common.Hosting;
using Ecrm.Recommender.Content;
using Microsoft.Extensions.Options;

namespace Ecrm.Recommender.Recommending;

public sealed record RecommendRequest(string? AnonymousId, string? UserId, string? Slot, int? N, string[]? Exclude, RecommendContext? Context);

/// <summary>What the page says: its topic and stage (from data-ecrm-topic / data-ecrm-stage), or its path.</summary>
public sealed record RecommendContext(string? Topic, System.Text.Json.JsonElement? Stage, RecommendPage? Page);

public sealed record RecommendPage(string? Path, string? Url);

/// <summary>
/// <c>POST /v1/recommendations</c>: for web pages and apps, including anonymous visitors. A browser
/// authenticates with its site's write key (HTTP Basic, as the tracker does); a server with an API key.
/// The current page's topic and stage count as the visitor's most recent dialogue.
/// </summary>
public static class BrowserRecommendationsApi
{
    public static IEndpointRouteBuilder MapBrowserRecommendationsApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/v1/recommendations", RecommendAsync);
        return endpoints;
    }

    private static async Task<IResult> RecommendAsync(
        RecommendRequest? request, HttpContext http, BlendedRecommender recommender, TopicCatalogView topics,
        IOptions<AuthOptions> auth, IOptions<RecommenderOptions> options)
    {
        var writeKey = KeyAuthentication.ReadBasicUser(http.Request);
        var apiKey = KeyAuthentication.ReadBearer(http.Request);
        var authorized = (writeKey is not null && KeyAuthentication.IsValid(auth.Value, KeyScope.Write, writeKey))
            || (apiKey is not null && KeyAuthentication.IsValid(auth.Value, KeyScope.Read, apiKey));
        if (!authorized)
        {
            return TypedResults.Problem("a write key (HTTP Basic user name) or an API key (Bearer) is required", statusCode: StatusCodes.Status401Unauthorized);
        }

        if (request is null)
        {
            return TypedResults.Problem("the body must be a JSON object", statusCode: StatusCodes.Status400BadRequest);
        }

        var count = request.N ?? options.Value.DefaultCount;
        if (count < 1 || count > options.Value.MaxCount)
        {
            return TypedResults.Problem($"n must be between 1 and {options.Value.MaxCount}", statusCode: StatusCodes.Status400BadRequest);
        }

        (string, int)? current = null;
        if (request.Context?.Topic is { } topic)
        {
            var catalog = topics.Current;
            if (catalog.FindTopic(topic) is null)
            {
                return TypedResults.Problem($"context.topic '{topic}' is not in the topic catalog", statusCode: StatusCodes.Status400BadRequest);
            }

            var stage = 1;
            if (request.Context.Stage is { } given && !catalog.Stages.TryResolve(given, out stage))
            {
                return TypedResults.Problem($"context.stage must be 1 to {catalog.Stages.Count} or one of {string.Join(", ", catalog.Stages.Names)}", statusCode: StatusCodes.Status400BadRequest);
            }

            current = (topic, stage);
        }

        var customer = !string.IsNullOrEmpty(request.UserId) ? request.UserId : request.AnonymousId;
        var exclude = (request.Exclude ?? []).ToHashSet(StringComparer.Ordinal);
        return TypedResults.Ok(await recommender.RecommendAsync(string.IsNullOrEmpty(customer) ? null : customer, count, exclude, current));
    }
}

/// <summary>CORS for the browser-facing recommendation endpoint: sites call it from their own pages.</summary>
public static class RecommenderCors
{
    public static IApplicationBuilder UseRecommenderCors(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var origin = context.Request.Headers.Origin.ToString();
        var allowed = context.RequestServices.GetRequiredService<IOptions<RecommenderOptions>>().Value.AllowedOrigins;
        if (origin.Length == 0 || !context.Request.Path.StartsWithSegments("/v1/recommendations")
            || !allowed.Any(o => o == "*" || string.Equals(o, origin, StringComparison.OrdinalIgnoreCase)))
        {
            await next(context);
            return;
        }

        var headers = context.Response.Headers;
        headers.AccessControlAllowOrigin = origin;
        headers.AccessControlAllowCredentials = "true";
        headers.Vary = "Origin";
        if (HttpMethods.IsOptions(context.Request.Method))
        {
            headers.AccessControlAllowMethods = "GET, POST, OPTIONS";
            headers.AccessControlAllowHeaders = "Authorization, Content-Type";
            headers.AccessControlMaxAge = "86400";
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return;
        }

        await next(context);
    });
}
