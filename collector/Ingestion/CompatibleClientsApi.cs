using System.Diagnostics.Metrics;
using System.Text.Json;
using Ecrm.Collector.Email;
using Ecrm.Common.Events;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Ingestion;

/// <summary>
/// What Segment's and RudderStack's own clients ask of their servers besides events, so that they run
/// unchanged against the collector: analytics-next's settings document and metrics call, RudderStack's
/// source configuration, and RudderStack's pixel routes. Events always go through <see cref="TrackingApi"/>.
/// </summary>
public static class CompatibleClientsApi
{
    private const int MaxPixelFields = 64;
    private const int MaxPixelDepth = 4;

    public static IEndpointRouteBuilder MapCompatibleClientsApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/projects/{writeKey}/settings", SegmentSettings);
        endpoints.MapPost("/v1/m", MetricsAsync).RequireRateLimiting(CollectorExtensions.IngestionLimit);
        // The v3 JS SDK asks for /sourceConfig/ (with a slash, which routing ignores), the mobile SDKs for
        // /sourceConfig; HEAD is the JS SDK's ad-blocker probe.
        endpoints.MapMethods("/sourceConfig", [HttpMethods.Get, HttpMethods.Head], RudderSourceConfig);

        foreach (var type in (EventType[])[EventType.Track, EventType.Page])
        {
            endpoints.MapGet("/pixel/v1/" + EventTypeNames.Of(type), (HttpContext http, CancellationToken cancellationToken) => PixelAsync(http, type, cancellationToken))
                .RequireRateLimiting(CollectorExtensions.IngestionLimit);
        }

        // Anything else under /v1 (a short path of a newer client, a typo) gets a reason rather than an empty 404.
        endpoints.MapMethods("/v1/{**path}", [HttpMethods.Get, HttpMethods.Post, HttpMethods.Put, HttpMethods.Delete], (string path, HttpRequest request) =>
            TypedResults.Problem(
                $"there is no endpoint {request.Method} /v1/{path}: events are POSTed to /v1/batch (/v1/b), /v1/track (/v1/t), /v1/page (/v1/p), /v1/screen (/v1/s), /v1/identify (/v1/i), /v1/group (/v1/g) or /v1/alias (/v1/a)",
                statusCode: StatusCodes.Status404NotFound));
        return endpoints;
    }

    /// <summary>
    /// The document analytics-next loads from <c>cdnURL</c>: one integration, Segment.io, pointed back at this
    /// collector. The address is the configured public one, never the request's Host header, which the caller chose.
    /// </summary>
    private static IResult SegmentSettings(string writeKey, HttpContext http, SourceRegistry sources, IOptions<EmailOptions> email)
    {
        if (Authorize(http, sources, writeKey) is { } refused)
        {
            return refused;
        }

        if (PublicAddress(email.Value) is not { } address)
        {
            return TypedResults.Problem("Email:PublicBaseUrl, the collector's public address, is not set: the settings document points clients at it",
                statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        var apiHost = address.Authority + address.AbsolutePath.TrimEnd('/') + "/v1";
        return Json(writer =>
        {
            writer.WriteStartObject("integrations");
            writer.WriteStartObject("Segment.io");
            writer.WriteString("apiKey", writeKey);
            writer.WriteString("apiHost", apiHost);
            writer.WriteString("protocol", address.Scheme);
            writer.WriteBoolean("addBundledMetadata", true);
            writer.WriteStartArray("unbundledIntegrations");
            writer.WriteEndArray();
            writer.WriteStartObject("maybeBundledConfigIds");
            writer.WriteEndObject();
            writer.WriteEndObject();
            writer.WriteEndObject();
            // No remote plugins, middleware or destinations: nothing for the client to load from elsewhere.
            writer.WriteStartArray("remotePlugins");
            writer.WriteEndArray();
            writer.WriteStartObject("enabledMiddleware");
            writer.WriteEndObject();
            writer.WriteStartObject("middlewareSettings");
            writer.WriteEndObject();
            // The SDK counts every call (analytics_js.invoke) at a rate of 1 unless told: a tenth is plenty to be counted.
            writer.WriteStartObject("metrics");
            writer.WriteString("host", apiHost);
            writer.WriteNumber("sampleRate", 0.1);
            writer.WriteEndObject();
        });
    }

    /// <summary>
    /// RudderStack's source configuration, for <c>configUrl</c> (JS SDK v3) or <c>controlPlaneUrl</c> (mobile SDKs):
    /// an enabled source without device-mode destinations, error reporting or metrics, so the SDK only sends events.
    /// </summary>
    private static IResult RudderSourceConfig(HttpContext http, SourceRegistry sources)
    {
        var writeKey = TrackingApi.WriteKeyOf(http.Request);
        if (Authorize(http, sources, writeKey) is { } refused)
        {
            return refused;
        }

        var source = sources.Find(writeKey!)!;
        return Json(writer =>
        {
            writer.WriteBoolean("isHosted", false);
            writer.WriteStartObject("source");
            writer.WriteString("id", source.Name);
            writer.WriteString("name", source.Name);
            writer.WriteString("workspaceId", "ecrm");
            writer.WriteBoolean("enabled", true);
            writer.WriteStartObject("config");
            writer.WriteStartObject("statsCollection");
            writer.WriteStartObject("errors");
            writer.WriteBoolean("enabled", false);
            writer.WriteEndObject();
            writer.WriteStartObject("metrics");
            writer.WriteBoolean("enabled", false);
            writer.WriteEndObject();
            writer.WriteEndObject();
            writer.WriteEndObject();
            writer.WriteStartArray("destinations");
            writer.WriteEndArray();
            writer.WriteEndObject();
        });
    }

    /// <summary>
    /// analytics-next's own metrics (<c>{"series":[{"type","metric","value","tags"}]}</c>), sent without a key:
    /// answered and counted, never stored as events. Only the count is kept, as the names are the client's to choose.
    /// </summary>
    private static async Task<IResult> MetricsAsync(HttpContext http, SourceRegistry sources, ClientMetrics metrics, IOptions<CollectorOptions> options, CancellationToken cancellationToken)
    {
        if (http.Request.Headers.Origin.ToString() is { Length: > 0 } origin && !sources.AnySourceAllowsOrigin(origin))
        {
            return TypedResults.Problem($"origin {origin} is not allowed for any source", statusCode: StatusCodes.Status403Forbidden);
        }

        var (body, problem) = await EncodedBody.ReadAsync(http.Request, options.Value.MaxEventBytes, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        try
        {
            using var document = JsonDocument.Parse(body!);
            if (document.RootElement is not { ValueKind: JsonValueKind.Object } root
                || !root.TryGetProperty("series", out var series) || series.ValueKind != JsonValueKind.Array)
            {
                return TypedResults.Problem("a metrics body is {\"series\":[...]}", statusCode: StatusCodes.Status400BadRequest);
            }

            metrics.Add(series.GetArrayLength());
        }
        catch (JsonException e)
        {
            return TypedResults.Problem($"body is not valid JSON: {e.Message}", statusCode: StatusCodes.Status400BadRequest);
        }

        return TypedResults.Ok(new IngestResponse(true, null, null, null));
    }

    /// <summary>
    /// RudderStack's pixel API: <c>GET /pixel/v1/track?writeKey=…&amp;anonymousId=…&amp;event=…&amp;properties.sku=…</c>.
    /// Each query parameter but the key is a dot-separated path into the event (values stay strings, as
    /// RudderStack's server keeps them). The event goes the way of every other; the answer is a 1x1 GIF.
    /// </summary>
    private static async Task<IResult> PixelAsync(HttpContext http, EventType type, CancellationToken cancellationToken)
    {
        var query = http.Request.Query;
        if (query.Count > MaxPixelFields)
        {
            return TypedResults.Problem($"a pixel takes at most {MaxPixelFields} query parameters", statusCode: StatusCodes.Status400BadRequest);
        }

        var root = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (name, values) in query)
        {
            if (name == "writeKey")
            {
                continue;
            }

            var path = name.Split('.');
            if (path.Length > MaxPixelDepth || path.Any(string.IsNullOrEmpty) || !TrySet(root, path, values.ToString()))
            {
                return TypedResults.Problem($"query parameter '{name}' is not a path into the event (dot-separated names, at most {MaxPixelDepth} deep, no name both a value and an object)",
                    statusCode: StatusCodes.Status400BadRequest);
            }
        }

        root["type"] = EventTypeNames.Of(type);
        using var document = JsonDocument.Parse(ToJson(root));
        var result = await TrackingApi.IngestDocumentAsync(http, document.RootElement, type, cancellationToken);
        if (result is not Ok<IngestResponse>)
        {
            return result;
        }

        return TransparentGif.Answer(http.Response);
    }

    private static bool TrySet(Dictionary<string, object> node, string[] path, string value)
    {
        for (var i = 0; i < path.Length - 1; i++)
        {
            if (!node.TryGetValue(path[i], out var child))
            {
                node[path[i]] = child = new Dictionary<string, object>(StringComparer.Ordinal);
            }

            if (child is not Dictionary<string, object> inner)
            {
                return false;
            }

            node = inner;
        }

        if (node.TryGetValue(path[^1], out var existing) && existing is Dictionary<string, object>)
        {
            return false;
        }

        node[path[^1]] = value;
        return true;
    }

    private static byte[] ToJson(Dictionary<string, object> root)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, root);
        }

        return buffer.ToArray();

        static void Write(Utf8JsonWriter writer, Dictionary<string, object> node)
        {
            writer.WriteStartObject();
            foreach (var (name, value) in node)
            {
                writer.WritePropertyName(name);
                if (value is Dictionary<string, object> child)
                {
                    Write(writer, child);
                }
                else
                {
                    writer.WriteStringValue((string)value);
                }
            }

            writer.WriteEndObject();
        }
    }

    /// <summary>The refusal for a key that is missing, unknown or disabled, or an origin its source does not allow; null when allowed.</summary>
    private static ProblemHttpResult? Authorize(HttpContext http, SourceRegistry sources, string? writeKey)
    {
        if (string.IsNullOrEmpty(writeKey))
        {
            return TypedResults.Problem("a write key is required: the HTTP Basic user name, or writeKey in the query", statusCode: StatusCodes.Status401Unauthorized);
        }

        var source = sources.Find(writeKey);
        if (source is null || !source.Options.Enabled)
        {
            return TypedResults.Problem(source is null ? "the write key is not valid" : $"source '{source.Name}' is disabled", statusCode: StatusCodes.Status401Unauthorized);
        }

        return http.Request.Headers.Origin.ToString() is { Length: > 0 } origin && !source.AllowsOrigin(origin)
            ? TypedResults.Problem($"origin {origin} is not allowed for source '{source.Name}'", statusCode: StatusCodes.Status403Forbidden)
            : null;
    }

    private static Uri? PublicAddress(EmailOptions email) =>
        Uri.TryCreate(email.PublicBaseUrl, UriKind.Absolute, out var address) ? address : null;

    private static FileContentHttpResult Json(Action<Utf8JsonWriter> writeBody)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writeBody(writer);
            writer.WriteEndObject();
        }

        return TypedResults.Bytes(buffer.ToArray(), "application/json");
    }
}

/// <summary>Counts the metrics series that clients (analytics-next) report about themselves.</summary>
public sealed class ClientMetrics(IMeterFactory meters)
{
    private readonly Counter<long> _series = meters.Create(IngestionPipeline.MeterName)
        .CreateCounter<long>("ecrm.collector.client_metrics", description: "metrics series reported by clients (analytics-next /v1/m), counted and not stored");

    public void Add(int series) => _series.Add(series);
}
