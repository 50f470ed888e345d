using Ecrm.Testing;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>The engine's routes are exactly those the README's route and key table lists for it (RouteKeyWalkTests calls each).</summary>
[Collection(ArchiveCollection.Name)]
public sealed class EngineRouteTableTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse) : IClassFixture<KafkaFixture>
{
    [Fact]
    public async Task EveryRouteIsInTheReadmeTable()
    {
        await using var engine = new TriggerEngineHost(kafka, redis.IsolatedConfiguration(), clickHouse, $"routes_{Guid.NewGuid():N}"[..20]);
        engine.Start();

        Assert.Equal(RouteKeyTable.Of("engine").Select(r => $"{r.Method} {r.Route}").Order(StringComparer.Ordinal), RouteKeyTable.EndpointsOf(engine.Services));
    }
}
