using System.Collections.Concurrent;
using Confluent.Kafka;
using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Consuming;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Folding;

/// <summary>
/// Notices a Redis that came back without folds it had acknowledged, and says where to fold again.
/// After each batch's folds, the last offset folded per partition is written to Redis
/// (<see cref="RedisKeys.FoldWatermarks"/>), behind the folds on the same connection: Redis persists its
/// writes in order (the AOF, or an RDB snapshot), so whatever it lost is a tail, and a watermark it still
/// holds vouches for every fold before it. When Redis may have restarted (the connection failed, or
/// partitions were just assigned), the next batch first compares Redis's watermarks with what this engine
/// knows was applied (the offsets it wrote, or the group's committed offsets) and, where Redis's are lower,
/// throws a <see cref="RewindException"/>: the consumer reads those partitions again from Redis's
/// watermark, and the per-customer dedupe (<see cref="DialogueStore"/>) skips the folds that survived.
/// The engine's connection fails fast while Redis is away (no command waits in a backlog to run on the
/// restarted server before this check).
/// </summary>
public sealed partial class FoldWatermarks
{
    private readonly IConnectionMultiplexer _redis;
    private readonly RedisKey _key;
    private readonly ILogger<FoldWatermarks> _logger;
    private readonly ConcurrentDictionary<TopicPartition, long> _applied = new();
    private volatile bool _mayHaveRestarted = true;

    public FoldWatermarks(IConnectionMultiplexer redis, IOptions<KafkaOptions> kafka, ILogger<FoldWatermarks> logger)
    {
        _redis = redis;
        _key = RedisKeys.FoldWatermarks(kafka.Value.ConsumerGroup);
        _logger = logger;
        redis.ConnectionFailed += (_, _) => _mayHaveRestarted = true;
        redis.ConnectionRestored += (_, _) => _mayHaveRestarted = true;
    }

    /// <summary>Partitions were assigned: everything before their committed offsets was applied, and Redis must hold it.</summary>
    public void Assigned(IReadOnlyList<TopicPartitionOffset> committed)
    {
        foreach (var partition in committed)
        {
            if (partition.Offset.Value > 0)
            {
                _applied[partition.TopicPartition] = partition.Offset.Value - 1;
            }
        }

        _mayHaveRestarted = true;
    }

    /// <summary>Before a batch folds: throws a <see cref="RewindException"/> when Redis lost folds it had acknowledged.</summary>
    public async Task CheckAsync()
    {
        if (!_mayHaveRestarted)
        {
            return;
        }

        _mayHaveRestarted = false;
        HashEntry[] stored;
        try
        {
            stored = await _redis.GetDatabase().HashGetAllAsync(_key);
        }
        catch
        {
            _mayHaveRestarted = true;
            throw;
        }

        var held = stored.ToDictionary(e => (string)e.Name!, e => (long)e.Value, StringComparer.Ordinal);
        var lost = new Dictionary<TopicPartition, long>();
        foreach (var (partition, applied) in _applied)
        {
            if (held.TryGetValue(Field(partition), out var watermark) && watermark < applied)
            {
                lost[partition] = watermark + 1;
                LogLost(partition.Partition.Value, watermark, applied);
            }
        }

        if (lost.Count > 0)
        {
            throw new RewindException(lost, $"Redis restarted without folds it had acknowledged on {lost.Count} partition(s); folding them again");
        }
    }

    /// <summary>After a batch folded: its last offset per partition, where this engine has not recorded a later one.</summary>
    public Task RecordAsync(IReadOnlyList<ConsumeResult<string, byte[]>> batch)
    {
        var last = new Dictionary<TopicPartition, long>();
        foreach (var result in batch)
        {
            last[result.TopicPartition] = Math.Max(result.Offset.Value, last.GetValueOrDefault(result.TopicPartition, -1));
        }

        var entries = new List<HashEntry>(last.Count);
        foreach (var (partition, offset) in last)
        {
            if (offset > _applied.GetValueOrDefault(partition, -1))
            {
                _applied[partition] = offset;
                entries.Add(new HashEntry(Field(partition), offset));
            }
        }

        return entries.Count == 0 ? Task.CompletedTask : _redis.GetDatabase().HashSetAsync(_key, [.. entries]);
    }

    /// <summary>Partitions handed to another member: their watermarks are that member's to keep.</summary>
    public void Revoked(IEnumerable<TopicPartition> partitions)
    {
        foreach (var partition in partitions)
        {
            _applied.TryRemove(partition, out _);
        }
    }

    private static string Field(TopicPartition partition) => $"{partition.Topic}:{partition.Partition.Value}";

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis holds folds of partition {Partition} up to offset {Watermark}, but {Applied} was acknowledged: it lost its last writes (a crash between fsyncs); folding again from {Watermark} + 1")]
    private partial void LogLost(int partition, long watermark, long applied);
}
