using Confluent.Kafka;
using Ecrm.Common.Hosting;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Ingestion;

/// <summary>
/// The collector's one Kafka producer: acks=all with idempotence, so a request is acknowledged only
/// once every in-sync replica holds every event of it, and a retried send is never written twice.
/// </summary>
public sealed partial class EventProducer : IHostedService, IDisposable
{
    private readonly IProducer<string, byte[]> _producer;
    private readonly string _topic;
    private readonly string _deadLetterTopic;
    private readonly ILogger<EventProducer> _logger;

    public EventProducer(IOptions<KafkaOptions> kafka, IOptions<CollectorOptions> collector, ILogger<EventProducer> logger)
    {
        _topic = kafka.Value.EventsTopic;
        _deadLetterTopic = collector.Value.DeadLetterTopic;
        _logger = logger;
        _producer = new ProducerBuilder<string, byte[]>(new ProducerConfig
        {
            BootstrapServers = kafka.Value.BootstrapServers,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 2,
            MessageTimeoutMs = collector.Value.AckTimeoutSeconds * 1000,
        })
        .SetErrorHandler((_, error) => LogKafkaError(error.Reason, error.IsFatal))
        .Build();
    }

    /// <summary>
    /// Completes when the brokers acknowledged every event and every dead letter; throws if any was refused.
    /// Messages are keyed by customer, so one customer's events stay in order on one partition.
    /// </summary>
    public async Task ProduceAllAsync(IReadOnlyList<KeyValuePair<string, byte[]>> events, IReadOnlyList<KeyValuePair<string, byte[]>> deadLetters, CancellationToken cancellationToken)
    {
        var deliveries = new List<Task<DeliveryResult<string, byte[]>>>(events.Count + deadLetters.Count);
        foreach (var (key, value) in events)
        {
            deliveries.Add(_producer.ProduceAsync(_topic, new Message<string, byte[]> { Key = key, Value = value }, cancellationToken));
        }

        foreach (var (key, value) in deadLetters)
        {
            deliveries.Add(_producer.ProduceAsync(_deadLetterTopic, new Message<string, byte[]> { Key = key, Value = value }, cancellationToken));
        }

        await Task.WhenAll(deliveries);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Sends what is still queued before the process exits.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        _producer.Flush(TimeSpan.FromSeconds(10));
        return Task.CompletedTask;
    }

    public void Dispose() => _producer.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka producer error (fatal: {IsFatal}): {Reason}")]
    private partial void LogKafkaError(string reason, bool isFatal);
}
