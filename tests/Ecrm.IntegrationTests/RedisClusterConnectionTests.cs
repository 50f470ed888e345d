using Ecrm.Common.Storage;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>How the one Redis connection helper treats its configuration, on one server and on a Redis Cluster.</summary>
[Collection(BackendsCollection.Name)]
public sealed class RedisClusterConnectionTests(RedisClusterFixture cluster, RedisFixture oneServer)
{
    [Fact]
    public void ADatabaseOtherThanZeroIsRefusedOnAClusterAtConnectWithTheReason()
    {
        var error = Assert.Throws<InvalidOperationException>(() => RedisConnection.Connect(cluster.Configuration + ",defaultDatabase=3"));

        Assert.Contains("defaultDatabase=3", error.Message, StringComparison.Ordinal);
        Assert.Contains("database 0 only", error.Message, StringComparison.Ordinal);
        using var singleServer = RedisConnection.Connect(oneServer.Configuration + ",defaultDatabase=3");
        Assert.Equal(3, singleServer.GetDatabase().Database);
    }

    [Fact]
    public async Task KeysOnEveryPrimaryFindsKeysOfEverySlotAcrossThePrimaries()
    {
        var database = cluster.Connection.GetDatabase();
        var customers = Enumerable.Range(0, 30).Select(_ => $"scan-{Guid.NewGuid():N}").ToArray();
        await Task.WhenAll(customers.Select(c => database.StringSetAsync(RedisKeys.Owner(c), "someone")));
        var primaries = customers.Select(c => cluster.Connection.GetServer(cluster.Connection.GetEndPoints()[0]).ClusterConfiguration!
            .GetBySlot(cluster.Connection.HashSlot(RedisKeys.Owner(c)))!.EndPoint!.ToString()).Distinct().Count();

        var found = (await cluster.Connection.KeysOnEveryPrimaryAsync(RedisKeyScan.PrefixPattern("ecrm:{c:scan-")).ToListAsync()).Select(k => (string)k!).ToHashSet();

        Assert.Equal(3, primaries);
        Assert.All(customers, c => Assert.Contains((string)RedisKeys.Owner(c)!, found));
        await Task.WhenAll(customers.Select(c => database.KeyDeleteAsync(RedisKeys.Owner(c))));
    }
}
