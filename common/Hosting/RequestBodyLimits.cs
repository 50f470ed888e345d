using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Metadata;

namespace Ecrm.Common.Hosting;

/// <summary>
/// A body limit for every endpoint, near its real need, instead of Kestrel's 30 MB for all: a service
/// sets its default, an endpoint that takes a document (a catalog, content) says its own with
/// <see cref="WithBodyLimit{TBuilder}"/>. A body over the limit gets 413 with a problem document, whether
/// its Content-Length says so up front or a chunked body runs past it while being read.
/// </summary>
public static class RequestBodyLimits
{
    /// <summary>This endpoint's limit, in bytes.</summary>
    public static TBuilder WithBodyLimit<TBuilder>(this TBuilder builder, long bytes)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new BodyLimit(bytes));

    /// <summary>Applies each endpoint's limit, or <paramref name="defaultBytes"/> where it sets none.</summary>
    public static IApplicationBuilder UseRequestBodyLimits(this IApplicationBuilder app, long defaultBytes) => app.Use(async (context, next) =>
    {
        var limit = context.GetEndpoint()?.Metadata.GetMetadata<IRequestSizeLimitMetadata>()?.MaxRequestBodySize ?? defaultBytes;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = limit;
        }

        if (context.Request.ContentLength > limit)
        {
            await TooLarge(limit).ExecuteAsync(context);
            return;
        }

        try
        {
            await next(context);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge && !context.Response.HasStarted)
        {
            await TooLarge(limit).ExecuteAsync(context);
        }
    });

    private static ProblemHttpResult TooLarge(long limit) =>
        TypedResults.Problem($"the request body is over this endpoint's limit of {limit} bytes", statusCode: StatusCodes.Status413PayloadTooLarge);

    private sealed record BodyLimit(long Bytes) : IRequestSizeLimitMetadata
    {
        public long? MaxRequestBodySize => Bytes;
    }
}
