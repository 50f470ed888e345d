using Confluent.Kafka;
using Ecrm.Common.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ecrm.Common.Kafka;

/// <summary>
/// The one place Ecrm's Kafka clients are configured and built: services, tools and tests alike. Each
/// client gets the bundled librdkafka (<see cref="KafkaNativeLibrary"/>), the cluster and debug contexts
/// of <see cref="KafkaOptions"/>, and librdkafka's log in the structured log; a caller states only how
/// its client differs.
/// </summary>
public static class KafkaClientFactory
{
    static KafkaClientFactory() => KafkaNativeLibrary.Install();

    /// <summary>
    /// A producer whose acknowledgement means every in-sync replica holds the message (acks=all), and
    /// whose retries never write a message twice (idempotence): what every Ecrm producer needs, since
    /// each acknowledges or commits something only once Kafka holds it.
    /// </summary>
    public static IProducer<string, byte[]> CreateDurableProducer(
        KafkaOptions kafka, ILogger? logger = null, Action<ProducerConfig>? tune = null, Action<IClient, Error>? onError = null)
    {
        logger ??= NullLogger.Instance;
        var config = new ProducerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            Acks = Acks.All,
            EnableIdempotence = true,
            // Every producer waits on its acknowledgements: a produce request must not sit in Nagle's buffer.
            SocketNagleDisable = true,
        };
        tune?.Invoke(config);
        return new ProducerBuilder<string, byte[]>(config.WithDebugContexts(kafka))
            .SetLogHandler(KafkaClientLogs.To(logger))
            .SetErrorHandler(onError ?? KafkaClientLogs.ErrorsTo(logger))
            .Build();
    }

    /// <summary>
    /// The configuration of a consumer group member that stores each offset itself once its message is
    /// processed (at-least-once), and starts a new group at the earliest message kept.
    /// </summary>
    public static ConsumerConfig GroupMemberConfig(KafkaOptions kafka, string groupId) => new()
    {
        BootstrapServers = kafka.BootstrapServers,
        GroupId = groupId,
        AutoOffsetReset = AutoOffsetReset.Earliest,
        EnableAutoCommit = true,
        EnableAutoOffsetStore = false,
        SessionTimeoutMs = kafka.SessionTimeoutMs,
        HeartbeatIntervalMs = Math.Min(3000, kafka.SessionTimeoutMs / 3),
        SocketTimeoutMs = kafka.SocketTimeoutMs,
    };

    /// <summary>A builder for a consumer of <paramref name="config"/>, logging into <paramref name="logger"/>; the caller adds its own handlers.</summary>
    public static ConsumerBuilder<TKey, TValue> ConsumerBuilder<TKey, TValue>(KafkaOptions kafka, ConsumerConfig config, ILogger? logger = null) =>
        new ConsumerBuilder<TKey, TValue>(config.WithDebugContexts(kafka)).SetLogHandler(KafkaClientLogs.To(logger ?? NullLogger.Instance));

    /// <summary>
    /// A consumer that only reads: assigned partitions or a group's committed offsets, never joining a
    /// group or committing (lag readers, checks and tests that audit a topic).
    /// </summary>
    public static IConsumer<TKey, TValue> CreateReader<TKey, TValue>(
        KafkaOptions kafka, string? groupId = null, Action<ConsumerConfig>? tune = null, ILogger? logger = null)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = groupId ?? $"ecrm-reader-{Guid.NewGuid():N}",
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
            EnableAutoOffsetStore = false,
            EnablePartitionEof = true,
        };
        tune?.Invoke(config);
        return ConsumerBuilder<TKey, TValue>(kafka, config, logger).Build();
    }

    /// <summary>An admin client (metadata, topics) that gives up on a broker after <paramref name="socketTimeoutMs"/>.</summary>
    public static IAdminClient CreateAdminClient(KafkaOptions kafka, int? socketTimeoutMs = null, ILogger? logger = null) =>
        new AdminClientBuilder(new AdminClientConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            SocketTimeoutMs = socketTimeoutMs ?? kafka.SocketTimeoutMs,
        }.WithDebugContexts(kafka))
        .SetLogHandler(KafkaClientLogs.To(logger ?? NullLogger.Instance))
        .Build();
}
