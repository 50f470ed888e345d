using System.ComponentModel.DataAnnotations;

namespace Ecrm.Recommender;

public sealed record RecommenderOptions
{
    public const string Section = "Recommender";

    /// <summary>A content catalog published at start-up when Redis holds none yet.</summary>
    public string ContentSeedFile { get; init; } = "";

    [Range(1, 1000)]
    public int DefaultCount { get; init; } = 10;

    [Range(1, 1000)]
    public int MaxCount { get; init; } = 100;

    /// <summary>Browser origins that may call the recommendation endpoints (CORS); "*" allows any.</summary>
    public string[] AllowedOrigins { get; init; } = [];

    /// <summary>How often each instance checks Redis for newer topic and content catalogs.</summary>
    [Range(100, 600_000)]
    public int CatalogPollMs { get; init; } = 1000;
}
