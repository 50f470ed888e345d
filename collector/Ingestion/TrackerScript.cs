using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Ingestion;

/// <summary>
/// Serves the built browser tracker from the collector's own origin under a neutral name, so a site
/// loads it first-party and ad blockers' lists of tracker file names do not catch it.
/// </summary>
public static class TrackerScript
{
    public static IEndpointRouteBuilder MapTrackerScript(this IEndpointRouteBuilder endpoints)
    {
        var options = endpoints.ServiceProvider.GetRequiredService<IOptions<CollectorOptions>>().Value;
        var environment = endpoints.ServiceProvider.GetRequiredService<IWebHostEnvironment>();
        var file = Path.GetFullPath(Path.Combine(environment.ContentRootPath, options.TrackerScriptFile));
        endpoints.MapGet(options.TrackerScriptPath, (HttpContext http) =>
        {
            if (!File.Exists(file))
            {
                return Results.Problem($"the tracker is not built ({file}); run npm run build in sdk-js", statusCode: StatusCodes.Status404NotFound);
            }

            http.Response.Headers.CacheControl = "public, max-age=3600";
            return Results.File(file, "text/javascript; charset=utf-8", lastModified: File.GetLastWriteTimeUtc(file), enableRangeProcessing: false);
        });
        return endpoints;
    }
}
