using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ecrm.Common.Events;

/// <summary>The one source-generated serializer context for the envelope and the wire shapes around it.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowTrailingCommas = true,
    ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(EventEnvelope))]
[JsonSerializable(typeof(EventBatch))]
[JsonSerializable(typeof(EventContext))]
[JsonSerializable(typeof(DialogueChange))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(int))]
public sealed partial class EcrmJsonContext : JsonSerializerContext;

/// <summary>The body of Segment's <c>POST /v1/batch</c>.</summary>
public sealed class EventBatch
{
    public List<EventEnvelope>? Batch { get; set; }
    public EventContext? Context { get; set; }
    public JsonElement? Integrations { get; set; }
    public DateTimeOffset? SentAt { get; set; }
    public string? WriteKey { get; set; }
}
