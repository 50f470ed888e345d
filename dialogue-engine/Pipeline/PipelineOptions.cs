using System.ComponentModel.DataAnnotations;

namespace Ecrm.DialogueEngine.Pipeline;

/// <summary>Where the engine reads the other services' <c>/metrics</c> for the console's pipeline health.</summary>
public sealed record PipelineOptions
{
    public const string Section = "Pipeline";

    /// <summary>The collector's metrics, e.g. http://127.0.0.1:8080/metrics; empty: not shown.</summary>
    public string CollectorMetricsUrl { get; init; } = "";

    /// <summary>The recommender's metrics, e.g. http://127.0.0.1:8082/metrics; empty: not shown.</summary>
    public string RecommenderMetricsUrl { get; init; } = "";

    /// <summary>How long a scrape may take before the service counts as unreachable.</summary>
    [Range(100, 30_000)]
    public int ScrapeTimeoutMs { get; init; } = 2000;
}
