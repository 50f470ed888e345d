using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Folding;

/// <summary>
/// Publishes stage changes to the transitions topic, keyed by customer. A batch re-delivered after a
/// crash publishes its transitions again: consumers dedupe on (messageId, topic).
/// </summary>
public sealed class TransitionPublisher : IDisposable
{
    private readonly IProducer<string, byte[]> _producer;
    private readonly string _topic;

    public TransitionPublisher(IOptions<KafkaOptions> options)
    {
        _topic = options.Value.TransitionsTopic;
        _producer = new ProducerBuilder<string, byte[]>(new ProducerConfig
        {
            BootstrapServers = options.Value.BootstrapServers,
            Acks = Acks.All,
            EnableIdempotence = true,
            LingerMs = 5,
            MessageTimeoutMs = 30_000,
        }).Build();
    }

    /// <summary>Completes when Kafka acknowledged every transition; throws otherwise, and the batch is retried.</summary>
    public Task PublishAsync(IEnumerable<(EventEnvelope Item, StageTransition Transition)> transitions, CancellationToken cancellationToken) =>
        Task.WhenAll(transitions.Select(t => _producer.ProduceAsync(_topic, new Message<string, byte[]>
        {
            Key = t.Transition.Customer,
            Value = Encode(t.Item, t.Transition),
        }, cancellationToken)));

    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(5));
        _producer.Dispose();
    }

    private static byte[] Encode(EventEnvelope item, StageTransition transition)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("customer", transition.Customer);
            writer.WriteString("topic", transition.Topic);
            writer.WriteNumber("fromStage", transition.FromStage);
            writer.WriteNumber("toStage", transition.ToStage);
            writer.WriteString("channel", ChannelNames.Of(item.Channel ?? Channel.Server));
            writer.WriteString("messageId", item.MessageId);
            writer.WriteString("timestamp", item.Timestamp ?? item.ReceivedAt ?? DateTimeOffset.UnixEpoch);
            writer.WriteNumber("catalogVersion", transition.CatalogVersion);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
