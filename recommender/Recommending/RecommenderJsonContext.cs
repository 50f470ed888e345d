using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ecrm.Recommender.Recommending;

/// <summary>The responses on the request path, serialised by generated code instead of reflection (web defaults, as the HTTP options).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Recommendation))]
internal sealed partial class RecommenderJsonContext : JsonSerializerContext;
