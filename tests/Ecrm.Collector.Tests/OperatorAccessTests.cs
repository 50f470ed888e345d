using System.Net;
using System.Net.Http.Headers;
using Ecrm.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Xunit;
using static Ecrm.Collector.Tests.TrackingApiTests;

namespace Ecrm.Collector.Tests;

/// <summary>
/// The operations endpoints on the public port: /metrics only to an API or admin key, /health/ready
/// without naming the back ends, /health/live to anyone. (The management port, told by the connection's
/// local port, is shown on real sockets in EndToEndTests.)
/// </summary>
public sealed class OperatorAccessTests : IClassFixture<KafkaFixture>, IDisposable
{
    private readonly WebApplicationFactory<Program> _factory;

    public OperatorAccessTests(KafkaFixture kafka)
    {
        var topic = kafka.CreateTopic("operators");
        kafka.Cluster.CreateTopic(topic + ".dlq", 1, 3);
        _factory = TrackingApiTests.Collector(kafka.BootstrapServers, topic, 30, ("Auth:ApiKeys:0", "ak-ops"), ("Management:Port", "59999"));
    }

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task MetricsNeedAReadOrAdminKeyOnThePublicPort()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await Client(null).GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Client(Basic(WriteKey)).GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Client(new AuthenticationHeaderValue("Bearer", WriteKey)).GetAsync("/metrics")).StatusCode);
        Assert.Contains("ecrm_", await Client(new AuthenticationHeaderValue("Bearer", "ak-ops")).GetStringAsync("/metrics"), StringComparison.Ordinal);
        Assert.Contains("ecrm_", await Client(new AuthenticationHeaderValue("Bearer", AdminKey)).GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadinessNamesItsDependenciesOnlyToOperators()
    {
        var outsider = await Client(null).GetAsync("/health/ready");
        var operatorView = await Client(new AuthenticationHeaderValue("Bearer", AdminKey)).GetStringAsync("/health/ready");

        Assert.Equal(HttpStatusCode.OK, outsider.StatusCode);
        Assert.Equal("""{"status":"Healthy"}""", await outsider.Content.ReadAsStringAsync());
        Assert.Contains("\"kafka\"", operatorView, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await Client(null).GetAsync("/health/live")).StatusCode);
    }

    private HttpClient Client(AuthenticationHeaderValue? authorization)
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = authorization;
        return client;
    }
}

/// <summary>The collector's routes are exactly those the README's route and key table lists for it.</summary>
public sealed class CollectorRouteTableTests(KafkaFixture kafka) : IClassFixture<KafkaFixture>
{
    [Fact]
    public void EveryRouteIsInTheReadmeTable()
    {
        using var factory = TrackingApiTests.Collector(kafka.BootstrapServers, kafka.CreateTopic("routes"));

        Assert.Equal(RouteKeyTable.Of("collector").Select(r => $"{r.Method} {r.Route}").Order(StringComparer.Ordinal), RouteKeyTable.EndpointsOf(factory.Services));
    }
}
