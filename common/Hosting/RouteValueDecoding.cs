using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;

namespace Ecrm.Common.Hosting;

/// <summary>
/// Route values decoded exactly once from the request's raw target. Kestrel decodes a path before
/// routing but keeps <c>%2F</c> as it is (so that an encoded slash cannot add a path segment), which
/// leaves a customer id such as <c>shop/42</c> unreachable: its route value arrives as
/// <c>shop%2F42</c>, and decoding that again would turn an id that really contains <c>%2F</c> (sent as
/// <c>%252F</c>) into a slash. Ids are whatever clients sent, so every one must be readable and
/// erasable: each parameter that is a whole path segment is taken from the raw segment and decoded once.
/// </summary>
public static class RouteValueDecoding
{
    public static IApplicationBuilder UseRouteValuesDecodedOnce(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.GetEndpoint() is RouteEndpoint { RoutePattern: var pattern } && pattern.Parameters.Count > 0
            // Without a percent sign there is nothing to decode, and Kestrel's values are the raw ones.
            && context.Features.Get<IHttpRequestFeature>()?.RawTarget is { Length: > 0 } rawTarget && rawTarget.Contains('%', StringComparison.Ordinal))
        {
            DecodeWholeSegmentParameters(pattern, rawTarget, context.Request.RouteValues);
        }

        await next(context);
    });

    /// <summary>Replaces each parameter that fills a whole segment of <paramref name="pattern"/> with its raw segment, decoded once.</summary>
    public static void DecodeWholeSegmentParameters(RoutePattern pattern, string rawTarget, RouteValueDictionary values)
    {
        var path = rawTarget.AsSpan();
        var queryStart = path.IndexOfAny('?', '#');
        if (queryStart >= 0)
        {
            path = path[..queryStart];
        }

        var raw = path.ToString().Split('/', StringSplitOptions.RemoveEmptyEntries);
        // A pattern with a catch-all or optional parameters can match fewer or more segments: leave those alone.
        if (raw.Length != pattern.PathSegments.Count)
        {
            return;
        }

        for (var i = 0; i < raw.Length; i++)
        {
            if (pattern.PathSegments[i].Parts is [RoutePatternParameterPart { IsCatchAll: false } parameter])
            {
                values[parameter.Name] = Uri.UnescapeDataString(raw[i]);
            }
        }
    }
}
