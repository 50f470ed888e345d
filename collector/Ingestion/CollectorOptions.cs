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

    /// <summary>How long a request waits for the brokers' acknowledgement before spooling what they did not take.</summary>
    [Range(1, 300)]
    public int AckTimeoutSeconds { get; init; } = 5;

    /// <summary>Where events go while Kafka is unreachable (relative to the content root unless absolute).</summary>
    [Required]
    public string SpoolDirectory { get; init; } = "spool";

    /// <summary>The most the spool holds; beyond it the collector answers 503 with Retry-After.</summary>
    [Range(0, long.MaxValue)]
    public long SpoolMaxBytes { get; init; } = 1L << 30;

    /// <summary>Offline-queued events (mobile) older than this are refused.</summary>
    [Range(1, 3650)]
    public int MaxEventAgeDays { get; init; } = 30;

    /// <summary>Events stamped further in the future than this are clamped to receivedAt and flagged.</summary>
    [Range(0, 86_400)]
    public int FutureToleranceSeconds { get; init; } = 300;

    /// <summary>Zero the host part of IP addresses (the last octet of IPv4, the last 80 bits of IPv6).</summary>
    public bool AnonymizeIp { get; init; } = true;

    /// <summary>
    /// Identify traits stored hashed (HMAC-SHA256 with <see cref="TraitHashKey"/> of the trimmed,
    /// lower-cased value), for personal data that segments may match but nobody should read back.
    /// </summary>
    public string[] HashedTraits { get; init; } = [];

    /// <summary>The key of the trait hashes; without one the hash is plain SHA-256, which a dictionary of e-mail addresses reverses.</summary>
    public string TraitHashKey { get; init; } = "";

    /// <summary>Replace the user agent string with browser family, OS family and device class.</summary>
    public bool ReduceUserAgent { get; init; } = true;

    /// <summary>Drop events from known bots and crawlers (they are flagged either way).</summary>
    public bool DropBots { get; init; }

    /// <summary>Where the collector serves the browser tracker: a neutral, first-party path.</summary>
    [Required, RegularExpression("^/[A-Za-z0-9._/-]+$")]
    public string TrackerScriptPath { get; init; } = "/assets/e.js";

    /// <summary>The built tracker, relative to the collector's content root.</summary>
    [Required]
    public string TrackerScriptFile { get; init; } = "../sdk-js/dist/ecrm.min.js";

    /// <summary>
    /// When set, the collector keeps a first-party HttpOnly cookie of this name holding a browser id:
    /// Safari caps cookies set by scripts at 7 days, but not this one. The id goes on every event as
    /// context.device.id, and stands in as anonymousId for events that carry no id of their own.
    /// </summary>
    [RegularExpression("^[A-Za-z0-9_-]*$")]
    public string IdentityCookieName { get; init; } = "";

    /// <summary>The cookie's domain, e.g. ".shop.example" to share it with the site; empty means the collector's host.</summary>
    public string IdentityCookieDomain { get; init; } = "";

    /// <summary>
    /// At most this many ingestion requests are worked on at once; more get 503 with Retry-After, so
    /// memory stays bounded: each may hold a batch of up to <see cref="MaxBatchBytes"/> and its parsed
    /// events (1,024 in flight reached 1.8 GB on 2 cores, BENCHMARKS.md). 256 keeps 2 cores busy.
    /// </summary>
    [Range(1, 100_000)]
    public int MaxConcurrentRequests { get; init; } = 256;

    /// <summary>
    /// How long the producer waits to fill a batch (librdkafka's linger.ms). Every request waits for its
    /// acknowledgement, so this is added to each single-event request's latency; concurrent requests
    /// still share produce requests.
    /// </summary>
    [Range(0, 1000)]
    public double KafkaLingerMs { get; init; } = 2;

    /// <summary>
    /// The most the producer holds unacknowledged (librdkafka's queue.buffering.max.kbytes and
    /// .max.messages): with <see cref="MaxConcurrentRequests"/> this bounds the collector's memory.
    /// A message that does not fit counts as not taken and goes to the spool, like one Kafka refused.
    /// </summary>
    [Range(1024, 4 * 1024 * 1024)]
    public int KafkaQueueMaxKbytes { get; init; } = 128 * 1024;

    [Range(1000, 10_000_000)]
    public int KafkaQueueMaxMessages { get; init; } = 300_000;

    /// <summary>The sources: who may send, from which origins, how fast.</summary>
    public SourceOptions[] Sources { get; init; } = [];
}

/// <summary>A source owns a write key: a website, an email system, an app, a server.</summary>
public sealed record SourceOptions
{
    [Required]
    public string Name { get; init; } = "";

    [Required]
    public string WriteKey { get; init; } = "";

    /// <summary>The channel of events that do not name one (web, email, mobile, server).</summary>
    public string? Channel { get; init; }

    /// <summary>
    /// Browser origins allowed to send with this key (CORS); "*" allows any. None means server-side only:
    /// requests that carry an Origin are refused.
    /// </summary>
    public string[] AllowedOrigins { get; init; } = [];

    public bool Enabled { get; init; } = true;

    /// <summary>Sustained events per second; 0 is unlimited. Bursts of twice this are allowed.</summary>
    [Range(0, 10_000_000)]
    public int EventsPerSecond { get; init; }
}
