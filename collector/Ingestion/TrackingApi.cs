using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Ingestion;

/// <summary>
/// Segment's HTTP tracking API. Every request is all-or-nothing: 200 only after the brokers
/// acknowledged every event in it; any bad event refuses the whole request with a reason.
/// </summary>
public static class TrackingApi
{
    public static IEndpointRouteBuilder MapTrackingApi(this IEndpointRouteBuilder endpoints)
    {
        var v1 = endpoints.MapGroup("/v1");
        v1.MapPost("/batch", (HttpContext http, CancellationToken cancellationToken) => IngestAsync(http, singleType: null, cancellationToken));
        v1.MapPost("/track", (HttpContext http, CancellationToken cancellationToken) => IngestAsync(http, EventType.Track, cancellationToken));
        v1.MapPost("/page", (HttpContext http, CancellationToken cancellationToken) => IngestAsync(http, EventType.Page, cancellationToken));
        v1.MapPost("/screen", (HttpContext http, CancellationToken cancellationToken) => IngestAsync(http, EventType.Screen, cancellationToken));
        v1.MapPost("/identify", (HttpContext http, CancellationToken cancellationToken) => IngestAsync(http, EventType.Identify, cancellationToken));
        v1.MapPost("/group", (HttpContext http, CancellationToken cancellationToken) => IngestAsync(http, EventType.Group, cancellationToken));
        v1.MapPost("/alias", (HttpContext http, CancellationToken cancellationToken) => IngestAsync(http, EventType.Alias, cancellationToken));
        return endpoints;
    }

    private static async Task<Results<Ok<IngestResponse>, ProblemHttpResult>> IngestAsync(HttpContext http, EventType? singleType, CancellationToken cancellationToken)
    {
        var services = http.RequestServices;
        var limits = services.GetRequiredService<IOptions<CollectorOptions>>().Value;
        var bodyLimit = singleType is null ? limits.MaxBatchBytes : limits.MaxEventBytes;

        var body = await RequestBody.ReadAsync(http.Request, bodyLimit, cancellationToken);
        if (body is null)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, $"request body is over the {bodyLimit}-byte limit");
        }

        EventBatch? batch;
        try
        {
            batch = singleType is null
                ? JsonSerializer.Deserialize(body, EcrmJsonContext.Default.EventBatch)
                : SingleEventBatch(JsonSerializer.Deserialize(body, EcrmJsonContext.Default.EventEnvelope), singleType.Value);
        }
        catch (JsonException e)
        {
            return Problem(StatusCodes.Status400BadRequest, $"body is not a valid {(singleType is null ? "batch" : "event")}: {e.Message}");
        }

        var writeKey = KeyAuthentication.ReadBasicUser(http.Request) ?? batch?.WriteKey ?? batch?.Batch?.FirstOrDefault()?.WriteKey;
        if (string.IsNullOrEmpty(writeKey))
        {
            return Problem(StatusCodes.Status401Unauthorized, "a write key is required: the HTTP Basic user name, or writeKey in the body");
        }

        if (!KeyAuthentication.IsValid(services.GetRequiredService<IOptions<AuthOptions>>().Value, KeyScope.Write, writeKey))
        {
            return Problem(StatusCodes.Status401Unauthorized, "the write key is not valid");
        }

        if (batch?.Batch is not { Count: > 0 } events)
        {
            return Problem(StatusCodes.Status400BadRequest, "batch must hold at least one event");
        }

        if (events.Count > limits.MaxBatchEvents)
        {
            return Problem(StatusCodes.Status413PayloadTooLarge, $"batch holds {events.Count} events, over the {limits.MaxBatchEvents}-event limit");
        }

        var stamper = services.GetRequiredService<EventStamper>();
        var receivedAt = services.GetRequiredService<TimeProvider>().GetUtcNow();
        var messages = new KeyValuePair<string, byte[]>[events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            var item = events[i];
            var where = singleType is null ? $"batch[{i}]: " : "";
            if (item is null)
            {
                return Problem(StatusCodes.Status400BadRequest, $"{where}an event must be an object");
            }

            if (stamper.Stamp(item, batch, receivedAt) is { } reason)
            {
                return Problem(StatusCodes.Status400BadRequest, where + reason);
            }

            var value = JsonSerializer.SerializeToUtf8Bytes(item, EcrmJsonContext.Default.EventEnvelope);
            if (value.Length > limits.MaxEventBytes)
            {
                return Problem(StatusCodes.Status413PayloadTooLarge, $"{where}event is {value.Length} bytes, over the {limits.MaxEventBytes}-byte limit");
            }

            messages[i] = new(item.CustomerKey!, value);
        }

        try
        {
            await services.GetRequiredService<EventProducer>().ProduceAllAsync(messages, cancellationToken);
        }
        catch (KafkaException e)
        {
            // Nothing is acknowledged; the client keeps the events and retries, and message ids make the retry harmless.
            return Problem(StatusCodes.Status503ServiceUnavailable, $"the event log did not acknowledge the events ({e.Error.Reason}); retry later");
        }

        return TypedResults.Ok(new IngestResponse(true));
    }

    private static EventBatch? SingleEventBatch(EventEnvelope? item, EventType type)
    {
        if (item is null)
        {
            return null;
        }

        item.Type = type;
        return new EventBatch { Batch = [item], WriteKey = item.WriteKey };
    }

    private static ProblemHttpResult Problem(int status, string detail) => TypedResults.Problem(detail, statusCode: status);
}

public sealed record IngestResponse(bool Success);
