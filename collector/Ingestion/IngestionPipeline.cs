using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ecrm.Collector.Spooling;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Ingestion;

/// <summary>An item the collector refused, and why; it went to the dead-letter topic.</summary>
public sealed record RejectedItem(int Index, string Reason)
{
    [JsonIgnore]
    public bool TooLarge { get; init; }
}

public sealed record IngestOutcome(int Accepted, IReadOnlyList<RejectedItem> Rejected, int DroppedBots);

/// <summary>Nothing was acknowledged: neither Kafka nor the spool took the events. The client should retry.</summary>
public sealed class EventLogUnavailableException(string message) : Exception(message);

/// <summary>What the HTTP request itself says about the sender.</summary>
public sealed record RequestFacts(IPAddress? Ip, string? UserAgent, bool FromBrowser, string? BrowserId = null)
{
    public static RequestFacts Of(HttpRequest request, string? proposedBrowserId = null) =>
        new(request.HttpContext.Connection.RemoteIpAddress, request.Headers.UserAgent.ToString() is { Length: > 0 } ua ? ua : null, request.Headers.Origin.Count > 0, IdentityCookie.Ensure(request.HttpContext, proposedBrowserId));
}

/// <summary>
/// From raw items to acknowledged Kafka messages: read, validate and stamp each item, enrich it,
/// check its size, then produce the good ones to the events topic and the bad ones, with their
/// reasons, to the dead-letter topic, and wait until the brokers acknowledged all of them.
/// </summary>
public sealed class IngestionPipeline(
    EventStamper stamper,
    EventEnricher enricher,
    EventProducer producer,
    DurableEventLog log,
    TimeProvider time,
    IOptions<CollectorOptions> options,
    IOptions<AuthOptions> auth,
    IMeterFactory meters)
{
    /// <summary>The collector's meter; <c>/metrics</c> shows its instruments.</summary>
    public const string MeterName = "Ecrm.Collector";

    private readonly Counter<long> _accepted = meters.Create(MeterName).CreateCounter<long>("ecrm.collector.events_accepted", description: "events acknowledged (in Kafka or the spool)");
    private readonly Counter<long> _rejected = meters.Create(MeterName).CreateCounter<long>("ecrm.collector.events_rejected", description: "events refused with a reason (to the dead-letter topic)");

    /// <summary>Ingests raw JSON items (a batch, or one event of a single-call endpoint).</summary>
    public Task<IngestOutcome> IngestAsync(Source source, EventBatch? shell, IReadOnlyList<JsonElement> items, EventType? impliedType, RequestFacts request, CancellationToken cancellationToken)
    {
        var candidates = new List<Candidate>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var raw = items[i];
            if (raw.ValueKind != JsonValueKind.Object)
            {
                candidates.Add(new Candidate(null, raw.GetRawText(), "an event must be a JSON object"));
                continue;
            }

            try
            {
                var item = raw.Deserialize(EcrmJsonContext.Default.EventEnvelope)!;
                item.Type = impliedType ?? item.Type;
                candidates.Add(new Candidate(item, raw.GetRawText(), null));
            }
            catch (JsonException e)
            {
                candidates.Add(new Candidate(null, raw.GetRawText(), $"not a valid event: {e.Message}"));
            }
        }

        return AcceptAsync(source.Name, source.DefaultChannel, shell, candidates, request, source, cancellationToken);
    }

    /// <summary>Ingests an event the collector built itself (an email open or click).</summary>
    public Task<IngestOutcome> IngestAsync(string sourceName, EventEnvelope item, RequestFacts request, CancellationToken cancellationToken) =>
        AcceptAsync(sourceName, item.Channel, null, [new Candidate(item, null, null)], request, clientSource: null, cancellationToken);

    // clientSource: the source whose client sent the items; null for events the collector built itself, which are trusted.
    private async Task<IngestOutcome> AcceptAsync(string sourceName, Channel? defaultChannel, EventBatch? shell, List<Candidate> candidates, RequestFacts request, Source? clientSource, CancellationToken cancellationToken)
    {
        var limits = options.Value;
        var receivedAt = time.GetUtcNow();
        var messages = new List<OutgoingMessage>(candidates.Count);
        var accepted = 0;
        var rejected = new List<RejectedItem>();
        var droppedBots = 0;
        for (var index = 0; index < candidates.Count; index++)
        {
            var (item, raw, reason) = candidates[index];
            var tooLarge = false;
            if (item is not null && reason is null)
            {
                if (request.BrowserId is { } browserId)
                {
                    item.AnonymousId ??= string.IsNullOrEmpty(item.UserId) ? browserId : null;
                    var context = item.Context ??= new EventContext();
                    context.Extra ??= [];
                    context.Extra.TryAdd("device", JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["id"] = browserId }, EcrmJsonContext.Default.DictionaryStringString));
                }

                reason = stamper.Stamp(item, shell, receivedAt, defaultChannel);
            }

            if (item is not null && reason is null)
            {
                item.Source = sourceName;
                if (clientSource is not null)
                {
                    BrowserIdentity.Check(item, clientSource, auth.Value);
                }

                if (enricher.Enrich(item, request.Ip, request.UserAgent, request.FromBrowser) && limits.DropBots)
                {
                    droppedBots++;
                    continue;
                }

                var value = JsonSerializer.SerializeToUtf8Bytes(item, EcrmJsonContext.Default.EventEnvelope);
                if (value.Length <= limits.MaxEventBytes)
                {
                    messages.Add(new(producer.EventsTopic, item.CustomerKey!, value));
                    accepted++;
                    continue;
                }

                tooLarge = true;
                reason = $"event is {value.Length} bytes, over the {limits.MaxEventBytes}-byte limit";
            }

            rejected.Add(new RejectedItem(index, reason!) { TooLarge = tooLarge });
            messages.Add(new(producer.DeadLetterTopic, item?.CustomerKey ?? "", DeadLetter.Encode(sourceName, reason!, receivedAt, raw ?? (item is null ? "null" : JsonSerializer.Serialize(item, EcrmJsonContext.Default.EventEnvelope)), index)));
        }

        AppendOutcome appended;
        try
        {
            appended = await log.AppendAsync(messages, cancellationToken);
        }
        catch (IOException e)
        {
            throw new EventLogUnavailableException($"neither Kafka nor the spool took the events ({e.Message})");
        }

        if (appended == AppendOutcome.Refused)
        {
            throw new EventLogUnavailableException("Kafka is unreachable and the spool is full");
        }

        _accepted.Add(accepted, new KeyValuePair<string, object?>("source", sourceName));
        if (rejected.Count > 0)
        {
            _rejected.Add(rejected.Count, new KeyValuePair<string, object?>("source", sourceName));
        }

        return new IngestOutcome(accepted, rejected, droppedBots);
    }


    private readonly record struct Candidate(EventEnvelope? Item, string? Raw, string? Reason);
}
