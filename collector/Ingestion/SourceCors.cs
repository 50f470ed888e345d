namespace Ecrm.Collector.Ingestion;

/// <summary>
/// CORS for the tracking API, with allowed origins set per source. A preflight carries no write key,
/// so it is answered for any origin some enabled source allows; the request itself is then checked
/// against its own source's origins (403 otherwise).
/// </summary>
public static class SourceCors
{
    public static IApplicationBuilder UseSourceCors(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length == 0 || !context.Request.Path.StartsWithSegments("/v1"))
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
                headers.AccessControlAllowMethods = "POST, OPTIONS";
                headers.AccessControlAllowHeaders = "Authorization, Content-Type";
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
