using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ecrm.Common.Events;
using Ecrm.Common.Storage;

namespace Ecrm.DialogueEngine.Triggers;

public static class TriggerJobKinds
{
    /// <summary>Evaluate the rule when due: a wait for its cancel condition, or an immediate firing (due now).</summary>
    public const string Wait = "wait";

    /// <summary>Carry out the action of a recorded firing; retried with backoff.</summary>
    public const string Delivery = "delivery";
}

/// <summary>One job in a shard's due set: a rule and the transition that set it off.</summary>
public sealed record TriggerJob
{
    public required string Kind { get; init; }
    public required string Rule { get; init; }
    public required DialogueChange Transition { get; init; }
    public int Attempt { get; init; }
    public string? FiringId { get; init; }
    public DateTimeOffset? FiredAt { get; init; }
    public string? LastError { get; init; }

    [JsonIgnore]
    public string FiringKey => TriggerKeys.FiringKey(Rule, Transition.Topic, Transition.Episode, Transition.Customer);

    /// <summary>A short, stable id of (rule, topic, episode, customer): the receivers' dedupe key.</summary>
    public static string FiringIdOf(string firingKey) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(firingKey)).AsSpan(0, 16));
}

/// <summary>A firing that used up its delivery attempts; replayable through the API.</summary>
public sealed record DeadLetter(string FiringId, string Rule, string Customer, string Topic, int Episode, int Attempts, string Error, DateTimeOffset DeadAt, TriggerJob Job);

public sealed record TriggerPayloadTrigger(string Id, string? Name, string Action);

public sealed record TriggerPayloadCustomer(string Id, Dictionary<string, JsonElement> Traits);

/// <summary>The email or SMS a provider is asked to send: template, fields, and the collector's tracked link (and pixel).</summary>
public sealed record TriggerMessage(string Channel, string? Template, Dictionary<string, string>? Fields, string? To, string Campaign, string ClickUrl, string? OpenPixelUrl);

/// <summary>The JSON every action sends (webhook body, Kafka value, provider request).</summary>
public sealed record TriggerPayload(
    string FiringId,
    TriggerPayloadTrigger Trigger,
    TriggerPayloadCustomer Customer,
    DialogueState? Dialogue,
    DialogueChange Transition,
    DateTimeOffset FiredAt,
    DateTimeOffset SentAt,
    int Attempt,
    TriggerMessage? Message);

public sealed record TriggerList(IReadOnlyList<TriggerRule> Triggers);

public sealed record FiringView(
    string FiringId, string Customer, string Topic, int Episode, int FromStage, int ToStage, string Channel,
    string Status, int Attempts, string Error, DateTimeOffset TransitionAt, DateTimeOffset FiredAt, DateTimeOffset UpdatedAt);

public sealed record FiringList(IReadOnlyList<FiringView> Firings, long Total, Dictionary<string, long> ByStatus);

public sealed record DeadLetterList(IReadOnlyList<DeadLetter> DeadLetters);

public sealed record ReplayResult(string FiringId, bool Queued);

public sealed record MintLinkBody(string Campaign, string CustomerId, string TargetUrl, string? Topic, int? Stage);

public sealed record MintedLinkBody(string ClickUrl, string OpenPixelUrl, DateTimeOffset ExpiresAt);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    AllowTrailingCommas = true,
    ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(TriggerRule))]
[JsonSerializable(typeof(TriggerJob))]
[JsonSerializable(typeof(DeadLetter))]
[JsonSerializable(typeof(TriggerPayload))]
[JsonSerializable(typeof(TriggerList))]
[JsonSerializable(typeof(FiringList))]
[JsonSerializable(typeof(DeadLetterList))]
[JsonSerializable(typeof(ReplayResult))]
[JsonSerializable(typeof(MintLinkBody))]
[JsonSerializable(typeof(MintedLinkBody))]
internal sealed partial class TriggerJsonContext : JsonSerializerContext;

/// <summary>JSON without nulls for what goes over the wire to receivers.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TriggerPayload))]
[JsonSerializable(typeof(MintLinkBody))]
internal sealed partial class TriggerWireJsonContext : JsonSerializerContext;
