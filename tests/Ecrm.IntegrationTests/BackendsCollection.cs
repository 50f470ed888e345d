using Ecrm.Testing;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>
/// One Redis, one Redis Cluster, one ClickHouse and one Kafka cluster for the whole assembly; tests keep
/// apart by topic and database names (and on the Redis Cluster, which has one database, by their own customers).
/// </summary>
[CollectionDefinition(Name)]
public sealed class BackendsCollection : ICollectionFixture<KafkaFixture>, ICollectionFixture<RedisFixture>, ICollectionFixture<RedisClusterFixture>, ICollectionFixture<ClickHouseFixture>
{
    public const string Name = "backends";
}
