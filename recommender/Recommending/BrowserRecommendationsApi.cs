using Ecrm.Common.Hosting;
using Ecrm.Recommender.Content;
using Microsoft.Extensions.Options;

namespace Ecrm.Recommender.Recommending;

/// <summary>A recommendation request; <c>UserHash</c> is the site server's signature of <c>UserId</c> (<see cref="IdentityVerification"/>), which a browser needs to be served as that user.</summary>
public sealed record RecommendRequest(string? AnonymousId, string? UserId, string? Slot, int? N, string[]? Exclude, RecommendContext? Context, string? UserHash = null);

/// <summary>What the page says: its topic and stage (from data-ecrm-topic / data-ecrm-stage), or its path.</summary>
public sealed record RecommendContext(string? Topic, System.Text.Json.JsonElement? Stage, RecommendPage? Page);

public sealed record RecommendPage(string? Path, string? Url);

/// <summary>
/// <c>POST /v1/recommendations</c>: for web pages and apps, including anonymous visitors. A browser
/// authenticates with its site's write key (HTTP Basic, as the tracker does); a server with an API key.
/// The current page's topic and stage count as the visitor's most recent dialogue. The write key is
/// public, so a browser is served as a user only with the site server's signature of the user id
/// (<c>userHash</c>); otherwise as its anonymous id, and only while that id is no known customer's:
/// the answer never reveals another customer's topics and stages.
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
        var fromServer = apiKey is not null && KeyAuthentication.IsValid(auth.Value, KeyScope.Read, apiKey);
        var fromBrowser = writeKey is not null && KeyAuthentication.IsValid(auth.Value, KeyScope.Write, writeKey);
        if (!fromServer && !fromBrowser)
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

        var userProved = !string.IsNullOrEmpty(request.UserId)
            && (fromServer || IdentityVerification.IsValid(auth.Value, writeKey!, request.UserId, request.UserHash));
        var customer = userProved ? request.UserId : request.AnonymousId;
        var exclude = (request.Exclude ?? []).ToHashSet(StringComparer.Ordinal);
        return TypedResults.Ok(await recommender.RecommendAsync(
            string.IsNullOrEmpty(customer) ? null : customer, count, exclude, current, anonymousOnly: !fromServer && !userProved));
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
        // No Access-Control-Allow-Credentials: the tracker authenticates with the write key, never with
        // cookies, and a credentialed answer would let any allowed page read it as the visitor.
        headers.AccessControlAllowOrigin = origin;
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
