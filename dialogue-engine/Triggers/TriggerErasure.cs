using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Storage;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Triggers;

/// <summary>
/// Forgets erased customers in the trigger engine's Redis state: their pending waits and deliveries
/// (so nothing fires for them after the erasure), their idempotency and frequency keys, their firing
/// records still waiting for the archive, and their dead letters. The archived firings are deleted
/// with the rest of the archive. A job a worker claimed a moment before may still be delivered once.
/// </summary>
public sealed class TriggerErasure(IConnectionMultiplexer redis)
{
    /// <summary>Removes what the trigger engine holds of these ids; answers how many entries went.</summary>
    public async Task<long> ForgetAsync(IReadOnlyCollection<string> customers)
    {
        var database = redis.GetDatabase();
        var forgotten = new HashSet<string>(customers, StringComparer.Ordinal);
        long removed = 0;
        foreach (var shard in customers.Select(TriggerKeys.ShardOf).Distinct())
        {
            removed += await ForgetJobsAsync(database, shard, forgotten);
            removed += await ForgetOutboxAsync(database, shard, forgotten);
            await foreach (var key in redis.KeysOnEveryPrimaryAsync(RedisKeyScan.PrefixPattern(TriggerKeys.ShardPrefix(shard))))
            {
                if (TriggerKeys.CustomerOfShardKey(key!) is { } customer && forgotten.Contains(customer))
                {
                    removed += await database.KeyDeleteAsync(key) ? 1 : 0;
                }
            }
        }

        foreach (var entry in await database.HashGetAllAsync(TriggerKeys.DeadLetters))
        {
            var dead = JsonSerializer.Deserialize((string)entry.Value!, TriggerJsonContext.Default.DeadLetter);
            if (dead is not null && forgotten.Contains(dead.Customer))
            {
                removed += await database.HashDeleteAsync(TriggerKeys.DeadLetters, entry.Name) ? 1 : 0;
            }
        }

        return removed;
    }

    private static async Task<long> ForgetJobsAsync(IDatabase database, int shard, HashSet<string> forgotten)
    {
        long removed = 0;
        var jobIds = await database.HashScanAsync(TriggerKeys.Jobs(shard), pageSize: 1000).Select(entry => entry.Name).ToListAsync();
        foreach (var jobId in jobIds)
        {
            if (!forgotten.Contains(TriggerKeys.CustomerOfJob(jobId!)))
            {
                continue;
            }

            // The body and its place in the due set go together, or a worker could claim a body-less id.
            var both = database.CreateTransaction();
            var deleted = both.HashDeleteAsync(TriggerKeys.Jobs(shard), jobId);
            _ = both.SortedSetRemoveAsync(TriggerKeys.Due(shard), jobId);
            await both.ExecuteAsync();
            removed += await deleted ? 1 : 0;
        }

        return removed;
    }

    private static async Task<long> ForgetOutboxAsync(IDatabase database, int shard, HashSet<string> forgotten)
    {
        long removed = 0;
        foreach (var line in await database.ListRangeAsync(TriggerKeys.Outbox(shard)))
        {
            if (TriggerArchive.CustomerOf((string)line!) is { } customer && forgotten.Contains(customer))
            {
                removed += await database.ListRemoveAsync(TriggerKeys.Outbox(shard), line);
            }
        }

        return removed;
    }
}
