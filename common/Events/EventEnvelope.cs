using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ecrm.Common.Events;

/// <summary>
/// One customer interaction from any channel, shaped after the Segment spec so that existing
/// Segment clients map onto it unchanged. The collector validates and stamps it; Kafka carries it
/// as UTF-8 JSON to the dialogue engine.
/// </summary>
public sealed class EventEnvelope
{
    public string? MessageId { get; set; }

    public EventType? Type { get; set; }

    /// <summary>The event name of a <c>track</c> call, for example "Product Added".</summary>
    public string? Event { get; set; }

    /// <summary>The page or screen name of a <c>page</c> or <c>screen</c> call.</summary>
    public string? Name { get; set; }

    public Channel? Channel { get; set; }

    [JsonConverter(typeof(LenientStringConverter))]
    public string? AnonymousId { get; set; }

    [JsonConverter(typeof(LenientStringConverter))]
    public string? UserId { get; set; }

    /// <summary>The earlier id of an <c>alias</c> call.</summary>
    [JsonConverter(typeof(LenientStringConverter))]
    public string? PreviousId { get; set; }

    [JsonConverter(typeof(LenientStringConverter))]
    public string? GroupId { get; set; }

    public JsonElement? Properties { get; set; }

    public JsonElement? Traits { get; set; }

    public EventContext? Context { get; set; }

    public JsonElement? Integrations { get; set; }

    /// <summary>When the event happened, by the client's clock.</summary>
    public DateTimeOffset? OriginalTimestamp { get; set; }

    /// <summary>When the client sent it, by the client's clock.</summary>
    public DateTimeOffset? SentAt { get; set; }

    /// <summary>When the collector received it, by the server's clock.</summary>
    public DateTimeOffset? ReceivedAt { get; set; }

    /// <summary>When the event happened, corrected for the client's clock skew.</summary>
    public DateTimeOffset? Timestamp { get; set; }

    /// <summary>What the collector noticed about the event: <see cref="EventFlags"/>.</summary>
    public List<string>? Flags { get; set; }

    /// <summary>The collector source (write key owner) the event came through.</summary>
    public string? Source { get; set; }

    /// <summary>Accepted in request bodies for clients that cannot send headers; never forwarded.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? WriteKey { get; set; }

    /// <summary>The key a customer's events are partitioned and folded by: the user id once known.</summary>
    [JsonIgnore]
    public string? CustomerKey => string.IsNullOrEmpty(UserId) ? AnonymousId : UserId;

    /// <summary>When the interaction happened, as every fold, transition and archive row records it.</summary>
    [JsonIgnore]
    public DateTimeOffset EffectiveTimestamp => Timestamp ?? ReceivedAt ?? DateTimeOffset.UnixEpoch;
}

[JsonConverter(typeof(JsonStringEnumConverter<EventType>))]
public enum EventType
{
    [JsonStringEnumMemberName("track")] Track,
    [JsonStringEnumMemberName("page")] Page,
    [JsonStringEnumMemberName("screen")] Screen,
    [JsonStringEnumMemberName("identify")] Identify,
    [JsonStringEnumMemberName("alias")] Alias,
    [JsonStringEnumMemberName("group")] Group,
}

/// <summary>Where an interaction happened. Segment's "browser" is read as <see cref="Web"/>.</summary>
[JsonConverter(typeof(ChannelConverter))]
public enum Channel
{
    Web,
    Email,
    Mobile,
    Server,
}

public sealed class EventContext
{
    public PageContext? Page { get; set; }
    public string? UserAgent { get; set; }
    public string? Ip { get; set; }
    public CampaignContext? Campaign { get; set; }
    public ApplicationContext? App { get; set; }
    public ScreenContext? Screen { get; set; }
    public string? Locale { get; set; }
    public string? Timezone { get; set; }
    public LibraryContext? Library { get; set; }

    /// <summary>The client reduced to families by the collector (the raw user agent is dropped by default).</summary>
    public ClientContext? Client { get; set; }

    /// <summary>A topic and stage the page element itself declared (<c>data-ecrm-topic</c>, <c>data-ecrm-stage</c>).</summary>
    public StageAnnotation? Ecrm { get; set; }

    /// <summary>Everything else a client sends in its context (device, os, network ...), kept as it came.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

public sealed class ClientContext
{
    public string? Browser { get; set; }
    public string? Os { get; set; }

    /// <summary>desktop, mobile, tablet or bot.</summary>
    public string? Device { get; set; }
}

public static class EventFlags
{
    /// <summary>The client's clock put the event in the future; its timestamp was clamped to receivedAt.</summary>
    public const string TimestampClamped = "timestamp_clamped";

    /// <summary>The user agent is a known bot or crawler.</summary>
    public const string Bot = "bot";

    /// <summary>
    /// The event came with a public (browser) write key and no valid signature of its user id
    /// (<c>IdentityVerification</c>): it still counts, but the engine merges it into no known customer
    /// and lets it change no protected trait of one.
    /// </summary>
    public const string UnverifiedIdentity = "identity_unverified";

    public static bool Has(EventEnvelope item, string flag) => item.Flags?.Contains(flag) == true;
}

public sealed class PageContext
{
    public string? Url { get; set; }
    public string? Path { get; set; }
    public string? Referrer { get; set; }
    public string? Title { get; set; }
    public string? Search { get; set; }
}

public sealed class CampaignContext
{
    public string? Name { get; set; }
    public string? Source { get; set; }
    public string? Medium { get; set; }
    public string? Term { get; set; }
    public string? Content { get; set; }
}

public sealed class ApplicationContext
{
    public string? Name { get; set; }
    public string? Version { get; set; }
    public string? Build { get; set; }
    public string? Namespace { get; set; }
}

public sealed class ScreenContext
{
    public string? Name { get; set; }
    public int? Width { get; set; }
    public int? Height { get; set; }
    public double? Density { get; set; }
}

public sealed class LibraryContext
{
    public string? Name { get; set; }
    public string? Version { get; set; }
}

/// <summary>A stage given directly by the content: a 1-based number or a stage name.</summary>
public sealed class StageAnnotation
{
    public string? Topic { get; set; }
    public JsonElement? Stage { get; set; }
}
