using Ecrm.Testing;
using Xunit;

namespace Ecrm.Recommender.Tests;

/// <summary>The recommender's routes are exactly those the README's route and key table lists for it (RouteKeyWalkTests calls each).</summary>
public sealed class RecommenderRouteTableTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task EveryRouteIsInTheReadmeTable()
    {
        await using var recommender = new RecommenderHost(redis);

        Assert.Equal(RouteKeyTable.Of("recommender").Select(r => $"{r.Method} {r.Route}").Order(StringComparer.Ordinal), RouteKeyTable.EndpointsOf(recommender.Services));
    }
}
