namespace Ecrm.Collector.Ingestion;

/// <summary>
/// CORS for the tracking API, with allowed origins set per source. A preflight carries no write key,
/// so it is answered for any origin some enabled source allows; the request itself is then checked
/// against its own source's origins (403 otherwise).
/// </summary>
public static class SourceCors
{
    /// <summary>The paths browsers call: Segment's API, and RudderStack's beacon and source configuration.</summary>
    private static readonly PathString[] BrowserPaths = ["/v1", "/beacon", "/sourceConfig"];

    /// <summary>
    /// Exactly the headers the supported browser clients set on their requests: analytics-next
    /// (<c>Content-Type</c>, <c>Authorization</c>, <c>X-Retry-Count</c>; segmentio plugin's dispatchers) and
    /// RudderStack's JS SDK v3 (<c>AnonymousId</c>, <c>SentAt</c>, and on re-sends <c>Rsa-Recovered</c>,
    /// <c>Rsa-Retry-Attempt</c>, <c>Rsa-Since-Last-Attempt</c>, <c>Rsa-Since-First-Attempt</c>, <c>Rsa-Retry-Reason</c>;
    /// its XhrQueue plugin). Accept is safelisted by the browser and needs no listing.
    /// </summary>
    internal const string AllowedHeaders =
        "Authorization, Content-Type, X-Retry-Count, AnonymousId, SentAt, Rsa-Recovered, Rsa-Retry-Attempt, Rsa-Retry-Reason, Rsa-Since-First-Attempt, Rsa-Since-Last-Attempt";

    /// <summary>GET for the settings and source configuration, POST for events (HEAD, RudderStack's probe, is safelisted).</summary>
    internal const string AllowedMethods = "GET, POST";

    public static IApplicationBuilder UseSourceCors(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length == 0 || !BrowserPaths.Any(path => context.Request.Path.StartsWithSegments(path)))
        {
            await next(context);
            return;
        }

        var allowed = context.RequestServices.GetRequiredService<SourceRegistry>().AnySourceAllowsOrigin(origin);
        var isPreflight = HttpMethods.IsOptions(context.Request.Method);
        if (allowed)
        {
            var headers = context.Response.Headers;
            headers.AccessControlAllowOrigin = origin;
            headers.AccessControlAllowCredentials = "true";
            headers.Vary = "Origin";
            if (isPreflight)
            {
                headers.AccessControlAllowMethods = AllowedMethods;
                headers.AccessControlAllowHeaders = AllowedHeaders;
                headers.AccessControlMaxAge = "86400";
            }
        }

        if (isPreflight)
        {
            context.Response.StatusCode = allowed ? StatusCodes.Status204NoContent : StatusCodes.Status403Forbidden;
            return;
        }

        await next(context);
    });
}
