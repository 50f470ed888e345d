using System.ComponentModel.DataAnnotations;

namespace Ecrm.Collector.Ingestion;

public sealed record CollectorOptions
{
    public const string Section = "Collector";

    /// <summary>The largest single event, as Segment's tracking API allows.</summary>
    [Range(1024, 1024 * 1024)]
    public int MaxEventBytes { get; init; } = 32 * 1024;

    /// <summary>The largest request body of a batch.</summary>
    [Range(1024, 8 * 1024 * 1024)]
    public int MaxBatchBytes { get; init; } = 500 * 1024;

    [Range(1, 100_000)]
    public int MaxBatchEvents { get; init; } = 2500;

    /// <summary>How long a request waits for the brokers' acknowledgement before answering 503.</summary>
    [Range(1, 300)]
    public int AckTimeoutSeconds { get; init; } = 30;
}
