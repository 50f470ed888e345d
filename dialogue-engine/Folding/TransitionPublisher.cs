using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Folding;

/// <summary>
/// Publishes stage changes and identity links to the transitions topic, keyed by customer, and the events
/// a fold could not apply to the dead-letter topic. A batch re-delivered after a crash publishes them
/// again: consumers dedupe on (messageId, topic, kind).
/// </summary>
public sealed class TransitionPublisher : IDisposable
{
    private readonly IProducer<string, byte[]> _producer;
    private readonly string _topic;
    private readonly string _deadLetterTopic;

    public TransitionPublisher(IOptions<KafkaOptions> options, ILogger<TransitionPublisher> logger)
    {
        _topic = options.Value.TransitionsTopic;
        _deadLetterTopic = options.Value.DeadLetterTopic;
        _producer = KafkaClientFactory.CreateDurableProducer(options.Value, logger, config =>
        {
            config.LingerMs = 5;
            config.MessageTimeoutMs = 30_000;
            config.SocketTimeoutMs = options.Value.SocketTimeoutMs;
            // A produce request on a silent connection fails after this and the batch is retried.
            config.RequestTimeoutMs = options.Value.SocketTimeoutMs;
        });
    }

    /// <summary>Completes when Kafka acknowledged every change and dead letter; throws otherwise, and the batch is retried.</summary>
    public Task PublishAsync(IEnumerable<DialogueChange> changes, IEnumerable<Message<string, byte[]>> deadLetters, CancellationToken cancellationToken) =>
        Task.WhenAll(changes.Select(change => _producer.ProduceAsync(_topic, new Message<string, byte[]>
        {
            Key = change.Customer,
            Value = JsonSerializer.SerializeToUtf8Bytes(change, EcrmJsonContext.Default.DialogueChange),
        }, cancellationToken)).Concat(deadLetters.Select(deadLetter => _producer.ProduceAsync(_deadLetterTopic, deadLetter, cancellationToken))));

    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(5));
        _producer.Dispose();
    }
}
