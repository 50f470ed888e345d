using StackExchange.Redis;

namespace Ecrm.Common.Storage;

/// <summary>The one way Ecrm connects to Redis (services, tests and benchmarks alike).</summary>
public static class RedisConnection
{
    /// <summary>
    /// The synchronous (and response) timeout when the configuration sets none: StackExchange.Redis 2.x's
    /// default. 1.x waits 1 s, which a SCAN page missed on a loaded 2-core machine while three services
    /// started beside it (the replay tests' set-up failed with "Timeout performing SCAN" in CI).
    /// </summary>
    public const int DefaultSyncTimeoutMs = 5000;

    public static ConnectionMultiplexer Connect(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        // Start even when Redis is down; readiness reports it and the client reconnects by itself.
        options.AbortOnConnectFail = false;
        // An unset timeout is left out of the options' string form; an operator's own value is kept.
        if (!options.ToString().Contains("syncTimeout=", StringComparison.OrdinalIgnoreCase))
        {
            options.SyncTimeout = DefaultSyncTimeoutMs;
        }

        var connection = ConnectionMultiplexer.Connect(options);
        // StackExchange.Redis 1.x otherwise completes every async call on one shared queue, inline: a
        // caller that blocks after an await (the Kafka consume loop) would stall every other Redis caller.
        // Commands still go out in order; only their completions may run concurrently.
        connection.PreserveAsyncOrder = false;
        // A Redis Cluster has database 0 only; another defaultDatabase would fail every command later,
        // one by one (PING, and so readiness, still passes), so it is refused at start-up instead.
        if (options.DefaultDatabase is > 0 && connection.GetEndPoints().Any(endpoint => connection.GetServer(endpoint).ServerType == ServerType.Cluster))
        {
            connection.Dispose();
            throw new InvalidOperationException(
                $"the Redis configuration sets defaultDatabase={options.DefaultDatabase}, but {configuration} is a Redis Cluster, which has database 0 only: remove defaultDatabase");
        }

        return connection;
    }
}

/// <summary>Key scans that see the whole keyspace, on one Redis or on a Redis Cluster alike.</summary>
public static class RedisKeyScan
{
    /// <summary>
    /// Every key matching the SCAN pattern, on every primary. A Redis Cluster spreads the keyspace over
    /// its primaries and a SCAN sees one node only, so a scan of one endpoint would miss the keys of
    /// the other shards; replicas are skipped, as they hold copies of what their primary returns.
    /// </summary>
    public static IEnumerable<RedisKey> KeysOnEveryPrimary(this IConnectionMultiplexer redis, string pattern, int pageSize = 1000)
    {
        var database = redis.GetDatabase().Database;
        foreach (var endpoint in redis.GetEndPoints())
        {
            var server = redis.GetServer(endpoint);
            if (server.IsSlave)
            {
                continue;
            }

            foreach (var key in server.Keys(database, pattern, pageSize))
            {
                yield return key;
            }
        }
    }

    /// <summary>
    /// <see cref="KeysOnEveryPrimary"/> for async code, a page at a time. This client's SCAN blocks, and
    /// after an await on Redis the code may be running on the client's own reader: a SCAN blocking there
    /// waits on itself until the timeout. So each page is pulled on the thread pool.
    /// </summary>
    public static async IAsyncEnumerable<IReadOnlyList<RedisKey>> KeyPagesOnEveryPrimaryAsync(this IConnectionMultiplexer redis, string pattern, int pageSize = 1000)
    {
        using var keys = redis.KeysOnEveryPrimary(pattern, pageSize).GetEnumerator();
        while (true)
        {
            var page = await Task.Run(() =>
            {
                var next = new List<RedisKey>(pageSize);
                while (next.Count < pageSize && keys.MoveNext())
                {
                    next.Add(keys.Current);
                }

                return next;
            });
            if (page.Count == 0)
            {
                yield break;
            }

            yield return page;
        }
    }

    /// <summary>Every matching key on every primary, for async code (see <see cref="KeyPagesOnEveryPrimaryAsync"/>).</summary>
    public static async Task<List<RedisKey>> KeysOnEveryPrimaryAsync(this IConnectionMultiplexer redis, string pattern)
    {
        var all = new List<RedisKey>();
        await foreach (var page in redis.KeyPagesOnEveryPrimaryAsync(pattern))
        {
            all.AddRange(page);
        }

        return all;
    }

    /// <summary>A SCAN pattern matching exactly the keys that start with <paramref name="prefix"/> (its glob characters escaped).</summary>
    public static string PrefixPattern(string prefix)
    {
        var pattern = new System.Text.StringBuilder(prefix.Length + 2);
        foreach (var c in prefix)
        {
            if (c is '*' or '?' or '[' or ']' or '\\')
            {
                pattern.Append('\\');
            }

            pattern.Append(c);
        }

        return pattern.Append('*').ToString();
    }
}
