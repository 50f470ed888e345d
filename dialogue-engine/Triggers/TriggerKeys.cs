using System.Text;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Triggers;

/// <summary>
/// The trigger engine's Redis keys. Rules and dead letters share one hash tag (few, small). Jobs
/// (waits and deliveries) are spread over <see cref="Shards"/> hash tags by customer, so they spread
/// over a Redis Cluster, and every key one job touches (the due set, the job bodies, the firing and
/// frequency keys, the archive outbox) sits in the same slot: each step is one atomic script.
/// </summary>
public static class TriggerKeys
{
    /// <summary>Fixed: a customer's jobs must always land on the same shard.</summary>
    public const int Shards = 16;

    public static RedisKey Rules => "{ecrm:triggers}:rules";

    /// <summary>Dead letters by firing id, each a JSON <see cref="DeadLetter"/>.</summary>
    public static RedisKey DeadLetters => "{ecrm:triggers}:dead";

    public static RedisKey Rate(string rule, long minute) => $"{{ecrm:triggers}}:rate:{rule}:{minute}";

    public static int ShardOf(string customer)
    {
        // FNV-1a over UTF-8: stable across processes, unlike string.GetHashCode.
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(customer))
        {
            hash = (hash ^ b) * 16777619u;
        }

        return (int)(hash % Shards);
    }

    /// <summary>A sorted set of job ids by due time (unix ms); a claimed job is pushed to the end of its lease.</summary>
    public static RedisKey Due(int shard) => $"{{ecrm:trg:{shard}}}:due";

    /// <summary>Job bodies by job id, each a JSON <see cref="TriggerJob"/>.</summary>
    public static RedisKey Jobs(int shard) => $"{{ecrm:trg:{shard}}}:jobs";

    /// <summary>Firing records waiting to be written to ClickHouse (JSONEachRow lines).</summary>
    public static RedisKey Outbox(int shard) => $"{{ecrm:trg:{shard}}}:outbox";

    public static RedisKey OutboxLock(int shard) => $"{{ecrm:trg:{shard}}}:outbox-lock";

    /// <summary>Set once a (rule, topic, episode, customer) fired: the idempotency key.</summary>
    public static RedisKey Fired(string firingKey, string customer) => $"{{ecrm:trg:{ShardOf(customer)}}}:fired:{firingKey}";

    /// <summary>Set for the rule's per-customer-and-topic period after a firing.</summary>
    public static RedisKey Limit(string rule, string customer, string topic) => $"{{ecrm:trg:{ShardOf(customer)}}}:limit:{rule}|{topic}|{customer}";

    /// <summary>The identity of a firing: rule, topic, episode, customer (topic ids and rule ids hold no '|').</summary>
    public static string FiringKey(string rule, string topic, int episode, string customer) => $"{rule}|{topic}|{episode}|{customer}";

    public static string WaitId(string firingKey) => "w:" + firingKey;

    /// <summary>What every key of one shard starts with (its hash tag), for scans.</summary>
    public static string ShardPrefix(int shard) => $"{{ecrm:trg:{shard}}}:";

    /// <summary>The customer of a job id (<see cref="WaitId"/>, <see cref="DeliveryId"/>): what follows the firing key's third '|'.</summary>
    public static string CustomerOfJob(string jobId) => After(jobId, separators: 3) ?? "";

    /// <summary>
    /// The customer a shard key belongs to (<see cref="Fired"/>, <see cref="Limit"/>), or null for the
    /// shard's own keys. Customer ids may hold '|', so the count of separators decides, not the last one.
    /// </summary>
    public static string? CustomerOfShardKey(string key)
    {
        var name = key.AsSpan(key.IndexOf('}') + 2);
        return name.StartsWith("fired:") ? After(key, separators: 3)
            : name.StartsWith("limit:") ? After(key, separators: 2)
            : null;
    }

    private static string? After(string value, int separators)
    {
        var index = -1;
        for (var i = 0; i < separators; i++)
        {
            index = value.IndexOf('|', index + 1);
            if (index < 0)
            {
                return null;
            }
        }

        return value[(index + 1)..];
    }

    public static string DeliveryId(string firingKey) => "d:" + firingKey;
}
