using Microsoft.AspNetCore.Http.HttpResults;

namespace Ecrm.Collector.Ingestion;

/// <summary>The answer of every pixel (email opens, RudderStack's pixel API): the smallest transparent GIF, 1x1, one colour.</summary>
internal static class TransparentGif
{
    internal static readonly byte[] Bytes = Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7");

    /// <summary>The GIF, never cached: a cached pixel would not be fetched again, and the next open or page view would go unseen.</summary>
    internal static FileContentHttpResult Answer(HttpResponse response)
    {
        response.Headers.CacheControl = "no-store, no-cache, must-revalidate, private";
        return TypedResults.Bytes(Bytes, "image/gif");
    }
}
