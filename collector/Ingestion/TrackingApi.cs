using System.Text.Json;
using System.Text.Json.Serialization;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Ingestion;

/// <summary>
/// Segment's HTTP tracking API. 200 means every accepted event is in Kafka; items that cannot be
/// accepted are listed in the response with their index and reason, and kept on the dead-letter topic.
/// </summary>
public static class TrackingApi
{
    public static IEndpointRouteBuilder MapTrackingApi(this IEndpointRouteBuilder endpoints)
    {
        var v1 = endpoints.MapGroup("/v1");
        v1.RequireRateLimiting(CollectorExtensions.IngestionLimit);
        // analytics-next and the Segment mobile libraries post to one-letter paths: /v1/b, and /v1/t, /v1/p ...
        // (the first letter of the type, as analytics-next's segmentio plugin builds them).
        foreach (var path in (string[])["/batch", "/b"])
        {
            v1.MapPost(path, (HttpContext http, CancellationToken cancellationToken) => IngestAsync(http, singleType: null, cancellationToken));
        }

        foreach (var type in Enum.GetValues<EventType>())
        {
            var name = EventTypeNames.Of(type);
            foreach (var path in (string[])["/" + name, "/" + name[0]])
            {
                v1.MapPost(path, (HttpContext http, CancellationToken cancellationToken) => IngestAsync(http, type, cancellationToken));
            }
        }

        // RudderStack's JS SDK sends with navigator.sendBeacon, which cannot set headers: the key is in the query.
        endpoints.MapPost("/beacon/v1/batch", (HttpContext http, CancellationToken cancellationToken) => IngestAsync(http, singleType: null, cancellationToken))
            .RequireRateLimiting(CollectorExtensions.IngestionLimit);
        return endpoints;
    }

    private static async Task<IResult> IngestAsync(HttpContext http, EventType? singleType, CancellationToken cancellationToken)
    {
        var limits = http.RequestServices.GetRequiredService<IOptions<CollectorOptions>>().Value;
        var bodyLimit = singleType is null ? limits.MaxBatchBytes : limits.MaxEventBytes;
        var (body, problem) = await EncodedBody.ReadAsync(http.Request, bodyLimit, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        // Strings are decoded lazily; invalid UTF-8 would surface later as a failure deep in the pipeline.
        if (!System.Text.Unicode.Utf8.IsValid(body!))
        {
            return Problem(StatusCodes.Status400BadRequest, "body is not valid UTF-8");
        }

        JsonDocument document;
        try
        {
            // The Content-Type is not looked at: analytics-next, the Kotlin library and beacons send JSON as text/plain.
            document = JsonDocument.Parse(body!, new JsonDocumentOptions { MaxDepth = 64, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            return Problem(StatusCodes.Status400BadRequest, $"body is not valid JSON: {e.Message}");
        }

        using (document)
        {
            return await IngestDocumentAsync(http, document.RootElement, singleType, cancellationToken);
        }
    }

    /// <summary>
    /// Ingests a parsed body: one event (<paramref name="singleType"/> set) or a batch. Every route that
    /// takes events comes through here, so each gets the same checks and the same durable acknowledgement.
    /// </summary>
    internal static async Task<IResult> IngestDocumentAsync(HttpContext http, JsonElement root, EventType? singleType, CancellationToken cancellationToken)
    {
        var services = http.RequestServices;
        var limits = services.GetRequiredService<IOptions<CollectorOptions>>().Value;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return Problem(StatusCodes.Status400BadRequest, "body must be a JSON object");
        }

        var items = singleType is not null ? [root]
            : root.TryGetProperty("batch", out var batch) && batch.ValueKind == JsonValueKind.Array ? batch.EnumerateArray().ToList()
            : null;

        var writeKey = WriteKeyOf(http.Request) ?? StringProperty(root, "writeKey") ?? (items is [var first, ..] ? StringProperty(first, "writeKey") : null);
        if (string.IsNullOrEmpty(writeKey))
        {
            return Problem(StatusCodes.Status401Unauthorized, "a write key is required: the HTTP Basic user name, writeKey in the query, or writeKey in the body");
        }

        var source = services.GetRequiredService<SourceRegistry>().Find(writeKey);
        if (source is null || !source.Options.Enabled)
        {
            return Problem(StatusCodes.Status401Unauthorized, source is null ? "the write key is not valid" : $"source '{source.Name}' is disabled");
        }

        if (http.Request.Headers.Origin.ToString() is { Length: > 0 } origin && !source.AllowsOrigin(origin))
        {
            return Problem(StatusCodes.Status403Forbidden, $"origin {origin} is not allowed for source '{source.Name}'");
        }

        if (items is null)
        {
            return Problem(StatusCodes.Status400BadRequest, "batch is required: an array of events");
        }

        if (items.Count == 0)
        {
            return Problem(StatusCodes.Status400BadRequest, "batch must hold at least one event");
        }

        if (items.Count > limits.MaxBatchEvents)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, $"batch holds {items.Count} events, over the {limits.MaxBatchEvents}-event limit");
        }

        if (ReadShell(root, singleType) is not { } shell)
        {
            return Problem(StatusCodes.Status400BadRequest, "the batch's context or sentAt is not valid");
        }

        if (!source.TryAcquire(items.Count, out var retryAfter))
        {
            http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString();
            return Problem(StatusCodes.Status429TooManyRequests, $"source '{source.Name}' is over its limit of {source.Options.EventsPerSecond} events/s");
        }

        IngestOutcome outcome;
        var facts = RequestFacts.Of(http.Request, StringProperty(items[0], "anonymousId"));
        try
        {
            outcome = await services.GetRequiredService<IngestionPipeline>().IngestAsync(source, shell, items, singleType, facts, cancellationToken);
        }
        catch (EventLogUnavailableException e)
        {
            // Nothing is acknowledged; the client keeps the events and retries, and message ids make the retry harmless.
            http.Response.Headers.RetryAfter = "30";
            return Problem(StatusCodes.Status503ServiceUnavailable, $"{e.Message}; retry later");
        }

        return Respond(outcome, singleType is null, facts.BrowserId);
    }

    private static IResult Respond(IngestOutcome outcome, bool isBatch, string? browserId)
    {
        if (outcome.Rejected.Count == 0)
        {
            return TypedResults.Ok(new IngestResponse(true, null, null, outcome.DroppedBots > 0 ? outcome.DroppedBots : null, browserId));
        }

        if (outcome.Accepted == 0 && outcome.DroppedBots == 0)
        {
            var status = outcome.Rejected.Any(r => r.TooLarge) ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest;
            var detail = isBatch ? string.Join("; ", outcome.Rejected.Take(5).Select(r => $"batch[{r.Index}]: {r.Reason}")) : outcome.Rejected[0].Reason;
            return TypedResults.Problem(detail, statusCode: status, extensions: new Dictionary<string, object?> { ["rejected"] = outcome.Rejected });
        }

        return TypedResults.Ok(new IngestResponse(true, outcome.Accepted, outcome.Rejected, outcome.DroppedBots > 0 ? outcome.DroppedBots : null, browserId));
    }

    /// <summary>The batch-level fields merged into every item: context, integrations, sentAt.</summary>
    private static EventBatch? ReadShell(JsonElement root, EventType? singleType)
    {
        if (singleType is not null)
        {
            return new EventBatch();
        }

        try
        {
            return new EventBatch
            {
                Context = root.TryGetProperty("context", out var context) && context.ValueKind == JsonValueKind.Object ? context.Deserialize(EcrmJsonContext.Default.EventContext) : null,
                Integrations = root.TryGetProperty("integrations", out var integrations) ? integrations.Clone() : null,
                SentAt = root.TryGetProperty("sentAt", out var sentAt) && sentAt.ValueKind == JsonValueKind.String ? sentAt.GetDateTimeOffset() : null,
            };
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The write key a request carries outside its body: the HTTP Basic user name, or <c>?writeKey=</c> (beacons, pixels).</summary>
    internal static string? WriteKeyOf(HttpRequest request) =>
        KeyAuthentication.ReadBasicUser(request) ?? (request.Query["writeKey"].ToString() is { Length: > 0 } key ? key : null);

    private static string? StringProperty(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult Problem(int status, string detail) => TypedResults.Problem(detail, statusCode: status);
}

/// <summary>
/// The answer to an accepted request. <c>AnonymousId</c> is the browser id of the collector's HttpOnly
/// cookie (Collector:IdentityCookieName), which the page's script cannot read: the tracker adopts it.
/// </summary>
public sealed record IngestResponse(
    bool Success,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Accepted,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<RejectedItem>? Rejected,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Dropped,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? AnonymousId = null);
