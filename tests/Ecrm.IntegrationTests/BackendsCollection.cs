using Ecrm.Testing;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>One Redis, one ClickHouse and one Kafka cluster for the whole assembly; tests keep apart by topic and database names.</summary>
[CollectionDefinition(Name)]
public sealed class BackendsCollection : ICollectionFixture<KafkaFixture>, ICollectionFixture<RedisFixture>, ICollectionFixture<ClickHouseFixture>
{
    public const string Name = "backends";
}
