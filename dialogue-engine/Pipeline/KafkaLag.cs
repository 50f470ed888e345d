using System.Collections.Concurrent;
using Confluent.Kafka;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Ecrm.DialogueEngine.Triggers;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Pipeline;

/// <summary>One partition of one consumer group: its committed offset (null before the first commit), the end of the partition, and the difference.</summary>
public sealed record PartitionLag(string Role, string Group, string Topic, int Partition, long? Committed, long End, long Lag);

/// <summary>
/// The engine's consumer groups' lag as Kafka sees it: each group's committed offsets against the
/// partitions' ends. Asked of the brokers rather than taken from the consumers, so it covers every
/// engine instance of a group and keeps growing while a consumer is stuck. A reader per group, never
/// subscribed, so it only fetches offsets and never joins the group.
/// </summary>
public sealed class KafkaLag(IOptions<KafkaOptions> kafka, IOptions<TriggerOptions> triggers) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);
    private readonly ConcurrentDictionary<string, IConsumer<byte[], byte[]>> _readers = new(StringComparer.Ordinal);
    private IAdminClient? _admin;

    /// <summary>(role, group, topics) of the groups the engine runs: folding, archive, triggers.</summary>
    public IReadOnlyList<(string Role, string Group, string[] Topics)> Groups =>
    [
        ("fold", kafka.Value.ConsumerGroup, [kafka.Value.EventsTopic]),
        ("archive", kafka.Value.ArchiveConsumerGroup, [kafka.Value.EventsTopic, kafka.Value.TransitionsTopic]),
        ("triggers", triggers.Value.ConsumerGroup, [kafka.Value.TransitionsTopic]),
    ];

    /// <summary>Each group's role (fold, archive, triggers), by group id.</summary>
    public IReadOnlyDictionary<string, string> Roles =>
        Groups.GroupBy(g => g.Group, StringComparer.Ordinal).ToDictionary(g => g.Key, g => string.Join('+', g.Select(x => x.Role)), StringComparer.Ordinal);

    /// <summary>Blocking broker calls: run it off the request thread.</summary>
    public IReadOnlyList<PartitionLag> Read()
    {
        _admin ??= KafkaClientFactory.CreateAdminClient(kafka.Value);
        var partitions = new Dictionary<string, List<TopicPartition>>(StringComparer.Ordinal);
        foreach (var topic in Groups.SelectMany(g => g.Topics).Distinct(StringComparer.Ordinal))
        {
            var metadata = _admin.GetMetadata(topic, Timeout).Topics.Single();
            if (metadata.Error.IsError)
            {
                throw new KafkaException(metadata.Error);
            }

            partitions[topic] = [.. metadata.Partitions.Select(p => new TopicPartition(topic, p.PartitionId)).OrderBy(p => p.Partition.Value)];
        }

        var rows = new List<PartitionLag>();
        var watermarks = new Dictionary<TopicPartition, WatermarkOffsets>();
        foreach (var (role, group, topics) in Groups)
        {
            var reader = _readers.GetOrAdd(group, g => KafkaClientFactory.CreateReader<byte[], byte[]>(kafka.Value, g));
            var wanted = topics.SelectMany(t => partitions[t]).ToList();
            var committed = reader.Committed(wanted, Timeout);
            foreach (var offset in committed)
            {
                if (!watermarks.TryGetValue(offset.TopicPartition, out var marks))
                {
                    marks = reader.QueryWatermarkOffsets(offset.TopicPartition, Timeout);
                    watermarks[offset.TopicPartition] = marks;
                }

                // A group that never committed starts from the earliest message still kept.
                long? at = offset.Offset == Offset.Unset ? null : offset.Offset.Value;
                var end = marks.High.Value;
                rows.Add(new PartitionLag(role, group, offset.Topic, offset.Partition.Value, at, end, Math.Max(0, end - (at ?? marks.Low.Value))));
            }
        }

        return rows;
    }

    public void Dispose()
    {
        foreach (var reader in _readers.Values)
        {
            reader.Dispose();
        }

        _admin?.Dispose();
    }
}
