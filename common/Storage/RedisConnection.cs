using StackExchange.Redis;

namespace Ecrm.Common.Storage;

/// <summary>The one way Ecrm connects to Redis (services, tests and benchmarks alike).</summary>
public static class RedisConnection
{
    /// <summary>
    /// With <paramref name="failFast"/>, a command issued while the connection is down fails at once instead of
    /// waiting in the client's backlog to be sent after it reconnects.
    /// </summary>
    public static ConnectionMultiplexer Connect(string configuration, bool failFast = false)
    {
        var options = ConfigurationOptions.Parse(configuration);
        if (failFast)
        {
            options.BacklogPolicy = BacklogPolicy.FailFast;
        }

        // Start even when Redis is down; readiness reports it and the client reconnects by itself.
        options.AbortOnConnectFail = false;
        var connection = ConnectionMultiplexer.Connect(options);
        // A Redis Cluster has database 0 only; another defaultDatabase would fail every command later,
        // one by one (PING, and so readiness, still passes), so it is refused at start-up instead.
        if (options.DefaultDatabase is > 0 && connection.GetServers().Any(server => server.ServerType == ServerType.Cluster))
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
    /// Every key matching the SCAN pattern, on every primary, a SCAN page at a time. A Redis Cluster
    /// spreads the keyspace over its primaries and a SCAN sees one node only, so a scan of one endpoint
    /// would miss the keys of the other shards; replicas are skipped, as they hold copies of what their
    /// primary returns.
    /// </summary>
    public static async IAsyncEnumerable<RedisKey> KeysOnEveryPrimaryAsync(this IConnectionMultiplexer redis, string pattern, int pageSize = 1000)
    {
        var database = redis.GetDatabase().Database;
        foreach (var server in redis.GetServers())
        {
            if (server.IsReplica)
            {
                continue;
            }

            await foreach (var key in server.KeysAsync(database, pattern, pageSize))
            {
                yield return key;
            }
        }
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
