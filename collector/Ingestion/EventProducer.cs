using Confluent.Kafka;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Ingestion;

/// <summary>A message bound for a topic: an event, or a dead letter.</summary>
public sealed record OutgoingMessage(string Topic, string Key, byte[] Value);

/// <summary>
/// The collector's one Kafka producer: acks=all with idempotence, so a request is acknowledged only
/// once every in-sync replica holds every event of it, and a retried send is never written twice.
/// </summary>
public sealed partial class EventProducer : IHostedService, IDisposable
{
    private readonly IProducer<string, byte[]> _producer;
    private readonly string _topic;
    private readonly string _deadLetterTopic;
    private readonly Lock _lifetime = new();
    private bool _disposed;
    private readonly ILogger<EventProducer> _logger;

    public EventProducer(IOptions<KafkaOptions> kafka, IOptions<CollectorOptions> collector, ILogger<EventProducer> logger)
    {
        _topic = kafka.Value.EventsTopic;
        _deadLetterTopic = kafka.Value.DeadLetterTopic;
        _logger = logger;
        _producer = KafkaClientFactory.CreateDurableProducer(kafka.Value, logger, config =>
        {
            config.LingerMs = collector.Value.KafkaLingerMs;
            config.QueueBufferingMaxKbytes = collector.Value.KafkaQueueMaxKbytes;
            config.QueueBufferingMaxMessages = collector.Value.KafkaQueueMaxMessages;
            config.MessageTimeoutMs = collector.Value.AckTimeoutSeconds * 1000;
            // A message already sent times out only when its produce request does (30 s by default), so
            // against a hung broker a request would wait that long instead of spooling after the ack timeout.
            config.RequestTimeoutMs = collector.Value.AckTimeoutSeconds * 1000;
        }, (_, error) => LogKafkaError(error.Reason, error.IsFatal));
    }

    public string EventsTopic => _topic;

    public string DeadLetterTopic => _deadLetterTopic;

    /// <summary>
    /// Produces every message and waits for every acknowledgement. Returns the messages the brokers
    /// did not take (never sent, or timed out without a definite answer); empty means all are in Kafka.
    /// Messages are keyed by customer, so one customer's events stay in order on one partition.
    /// </summary>
    public async Task<IReadOnlyList<OutgoingMessage>> ProduceAllAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken)
    {
        var deliveries = new Task<DeliveryResult<string, byte[]>>[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            try
            {
                deliveries[i] = _producer.ProduceAsync(messages[i].Topic, new Message<string, byte[]> { Key = messages[i].Key, Value = messages[i].Value }, cancellationToken);
            }
            catch (KafkaException e)
            {
                deliveries[i] = Task.FromException<DeliveryResult<string, byte[]>>(e);
            }
        }

        try
        {
            await Task.WhenAll(deliveries);
            return [];
        }
        catch (KafkaException)
        {
            // Each delivery is looked at below; a message whose fate is unknown counts as not taken, and
            // sending it again is made harmless downstream by its message id.
        }

        var failed = new List<OutgoingMessage>();
        for (var i = 0; i < messages.Count; i++)
        {
            if (!deliveries[i].IsCompletedSuccessfully)
            {
                failed.Add(messages[i]);
            }
        }

        LogNotAcknowledged(failed.Count, messages.Count);
        return failed;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Sends what is still queued before the process exits.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        // Hosts may dispose the container before or while stopping services (the test host does):
        // the flush and the disposal must not overlap, and a flush after disposal has nothing to do.
        lock (_lifetime)
        {
            if (!_disposed)
            {
                _producer.Flush(TimeSpan.FromSeconds(10));
            }
        }

        return Task.CompletedTask;
    }

    public void Dispose()
    {
        lock (_lifetime)
        {
            if (!_disposed)
            {
                _disposed = true;
                _producer.Dispose();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka did not acknowledge {Failed} of {Count} messages")]
    private partial void LogNotAcknowledged(int failed, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka producer error (fatal: {IsFatal}): {Reason}")]
    private partial void LogKafkaError(string reason, bool isFatal);
}
