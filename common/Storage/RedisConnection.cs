using StackExchange.Redis;

namespace Ecrm.Common.Storage;

/// <summary>The one way Ecrm connects to Redis (services, tests and benchmarks alike).</summary>
public static class RedisConnection
{
    public static ConnectionMultiplexer Connect(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        // Start even when Redis is down; readiness reports it and the client reconnects by itself.
        options.AbortOnConnectFail = false;
        var connection = ConnectionMultiplexer.Connect(options);
        // StackExchange.Redis 1.x otherwise completes every async call on one shared queue, inline: a
        // caller that blocks after an await (the Kafka consume loop) would stall every other Redis caller.
        // Commands still go out in order; only their completions may run concurrently.
        connection.PreserveAsyncOrder = false;
        return connection;
    }
}
