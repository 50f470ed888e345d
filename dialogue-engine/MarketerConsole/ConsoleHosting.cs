using Microsoft.AspNetCore.StaticFiles;

namespace Ecrm.DialogueEngine;

/// <summary>
/// Serves the marketer console at <c>/console</c>: the files <c>dialogue-engine/console</c> builds into
/// <c>wwwroot/console</c>. The files need no key; every API call the console makes carries the key
/// the marketer signed in with.
/// </summary>
public static class ConsoleHosting
{
    private const string Folder = "wwwroot/console";

    // Only this origin's scripts and API; ECharts sets inline styles on what it draws.
    private const string Policy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private static readonly FileExtensionContentTypeProvider ContentTypes = new();

    public static IEndpointRouteBuilder MapConsole(this IEndpointRouteBuilder endpoints)
    {
        // Resolved per request, so a console built while the engine runs is served without a restart.
        var root = Path.GetFullPath(Path.Combine(endpoints.ServiceProvider.GetRequiredService<IWebHostEnvironment>().ContentRootPath, Folder));
        endpoints.MapGet("/console", (HttpContext http) => Serve(http, root, "index.html")).ExcludeFromDescription();
        endpoints.MapGet("/console/{**file}", (HttpContext http, string? file) => Serve(http, root, string.IsNullOrEmpty(file) ? "index.html" : file))
            .ExcludeFromDescription();
        return endpoints;
    }

    private static IResult Serve(HttpContext http, string root, string file)
    {
        var path = Path.GetFullPath(Path.Combine(root, file));
        if (!path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(path))
        {
            return File.Exists(Path.Combine(root, "index.html"))
                ? TypedResults.NotFound()
                : TypedResults.Problem("the console is not built: run 'npm ci && npm run build' in dialogue-engine/console (run.sh and test.sh do)",
                    statusCode: StatusCodes.Status404NotFound);
        }

        var headers = http.Response.Headers;
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        if (path.EndsWith(".html", StringComparison.Ordinal))
        {
            headers.ContentSecurityPolicy = Policy;
            headers["Referrer-Policy"] = "no-referrer";
        }

        var type = ContentTypes.TryGetContentType(path, out var known) ? known : "application/octet-stream";
        if (type.StartsWith("text/", StringComparison.Ordinal))
        {
            type += "; charset=utf-8";
        }

        return TypedResults.PhysicalFile(path, type, enableRangeProcessing: false, lastModified: File.GetLastWriteTimeUtc(path));
    }
}
