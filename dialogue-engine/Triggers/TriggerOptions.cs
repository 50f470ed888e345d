using System.ComponentModel.DataAnnotations;

namespace Ecrm.DialogueEngine.Triggers;

public sealed record TriggerOptions
{
    public const string Section = "Triggers";

    /// <summary>Whether this instance runs the trigger consumer group, the due-job poller and the firings archiver.</summary>
    public bool Run { get; init; } = true;

    /// <summary>The trigger engine's own consumer group on the transitions topic.</summary>
    [Required]
    public string ConsumerGroup { get; init; } = "ecrm-triggers";

    [Range(1, 100_000)]
    public int MaxBatchMessages { get; init; } = 500;

    /// <summary>Short: a trigger acts the minute a stage changes, so the consumer does not wait long to fill a batch.</summary>
    [Range(1, 10_000)]
    public int BatchWindowMs { get; init; } = 5;

    /// <summary>
    /// The longest a fetch waits at the broker for new transitions. librdkafka's default (500 ms) shows
    /// as up to half a second of delay on brokers that hold fetches for the full wait (the embedded mock cluster).
    /// </summary>
    [Range(1, 5000)]
    public int FetchWaitMaxMs { get; init; } = 20;

    /// <summary>How often the poller looks for due waits and retries when nothing woke it.</summary>
    [Range(10, 60_000)]
    public int PollMs { get; init; } = 100;

    /// <summary>How long a claimed job stays invisible to other pollers; a crashed worker's jobs come back after it.</summary>
    [Range(5, 3600)]
    public int LeaseSeconds { get; init; } = 60;

    /// <summary>Jobs (evaluations and deliveries) worked on at once by this instance.</summary>
    [Range(1, 1024)]
    public int Concurrency { get; init; } = 32;

    /// <summary>Delivery attempts before a firing goes to the dead letters.</summary>
    [Range(1, 50)]
    public int MaxAttempts { get; init; } = 5;

    /// <summary>The first retry's delay; each next one doubles, up to <see cref="MaxRetryDelaySeconds"/>.</summary>
    [Range(1, 3_600_000)]
    public int RetryBaseMs { get; init; } = 1000;

    [Range(1, 86_400)]
    public int MaxRetryDelaySeconds { get; init; } = 3600;

    [Range(1, 300)]
    public int WebhookTimeoutSeconds { get; init; } = 10;

    /// <summary>Plain http webhooks to any allowed host; off, because payloads carry customer data.</summary>
    public bool AllowHttp { get; init; }

    /// <summary>
    /// Hosts (names or addresses, as written in a rule's URL) that webhooks and providers may reach
    /// although they are not public, over http too: an on-premises CRM, a test receiver on loopback.
    /// Every other host must resolve to public addresses only.
    /// </summary>
    public string[] AllowedHosts { get; init; } = [];

    /// <summary>How long (rule, customer, topic, episode) firing keys are remembered, so a re-delivered transition never fires twice.</summary>
    [Range(1, 3650)]
    public int IdempotencyDays { get; init; } = 90;

    /// <summary>The collector that mints signed email links and pixels (<c>POST /v1/email/links</c>); needed by email and SMS actions.</summary>
    public string CollectorUrl { get; init; } = "";

    /// <summary>An admin key of that collector.</summary>
    public string CollectorAdminKey { get; init; } = "";

    /// <summary>How long firings gather before they are written to ClickHouse.</summary>
    [Range(10, 60_000)]
    public int ArchiveWindowMs { get; init; } = 1000;
}
