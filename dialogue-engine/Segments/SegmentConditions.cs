using System.Text.Json;
using System.Text.Json.Serialization;
using Ecrm.Common.Archive;

namespace Ecrm.DialogueEngine.Segments;

public sealed record SavedSegment(string Id, string Name, SegmentConditions Conditions);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, AllowTrailingCommas = true, ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(SegmentConditions))]
[JsonSerializable(typeof(SavedSegment))]
[JsonSerializable(typeof(SegmentBody))]
internal sealed partial class SegmentJsonContext : JsonSerializerContext;
