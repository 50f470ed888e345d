using System.ComponentModel.DataAnnotations;

namespace Ecrm.Common.Hosting;

public sealed record KafkaOptions
{
    public const string Section = "Kafka";

    /// <summary>Comma-separated host:port list. run.sh hands over the embedded mock cluster's list here.</summary>
    [Required]
    public string BootstrapServers { get; init; } = "127.0.0.1:9092";

    [Required, RegularExpression("^[A-Za-z0-9._-]{1,249}$")]
    public string EventsTopic { get; init; } = "ecrm.events";

    [Required]
    public string ConsumerGroup { get; init; } = "ecrm-dialogue-engine";

    /// <summary>
    /// The archive's own consumer group: it reads the events and transitions topics at its own pace,
    /// so a slow or absent ClickHouse never holds back the folding.
    /// </summary>
    [Required]
    public string ArchiveConsumerGroup { get; init; } = "ecrm-archive";

    /// <summary>
    /// Where events Ecrm could not take go, with the reason, so nothing refused is lost: items the collector
    /// rejects, and events the engine's fold cannot apply (<see cref="Ecrm.Common.Events.DeadLetter"/>).
    /// </summary>
    [Required, RegularExpression("^[A-Za-z0-9._-]{1,249}$")]
    public string DeadLetterTopic { get; init; } = "ecrm.events.dlq";

    /// <summary>Where the engine publishes every stage change, for the recommender and trigger consumers.</summary>
    [Required, RegularExpression("^[A-Za-z0-9._-]{1,249}$")]
    public string TransitionsTopic { get; init; } = "ecrm.dialogue.transitions";

    /// <summary>
    /// How long a consumer group member may go silent before the group gives its partitions to the
    /// others: the takeover time after an engine crashes. Kafka brokers accept 6 s and up by default.
    /// </summary>
    [Range(1000, 300_000)]
    public int SessionTimeoutMs { get; init; } = 45_000;

    /// <summary>
    /// How long the engine's Kafka clients wait on a request before dropping the connection
    /// (librdkafka's socket.timeout.ms, 60 s by default). A broker that comes back after an outage
    /// can leave a connection open but silent; the fault suite saw consumers stall a full minute on one.
    /// </summary>
    [Range(1000, 300_000)]
    public int SocketTimeoutMs { get; init; } = 10_000;

    /// <summary>
    /// librdkafka debug contexts for the engine's and collector's Kafka clients (for example
    /// <c>cgrp,consumer,protocol</c>), written to the structured log at Debug level; empty in production.
    /// </summary>
    [RegularExpression("^[a-z,]*$")]
    public string Debug { get; init; } = "";
}

public sealed record RedisOptions
{
    public const string Section = "Redis";

    /// <summary>A StackExchange.Redis configuration string; list several nodes for a Redis Cluster.</summary>
    [Required]
    public string Configuration { get; init; } = "127.0.0.1:6379";
}
