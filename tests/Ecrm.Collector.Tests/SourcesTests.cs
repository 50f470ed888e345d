using System.Net;
using Ecrm.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Xunit;
using static Ecrm.Collector.Tests.TrackingApiTests;

namespace Ecrm.Collector.Tests;

/// <summary>Sources: keys, enabled flags, allowed origins (CORS) and rate limits.</summary>
public sealed class SourcesTests : IClassFixture<KafkaFixture>, IDisposable
{
    private readonly WebApplicationFactory<Program> _factory;

    public SourcesTests(KafkaFixture kafka)
    {
        var topic = kafka.CreateTopic("sources");
        kafka.Cluster.CreateTopic(topic + ".dlq", 1, 3);
        _factory = TrackingApiTests.Collector(kafka.BootstrapServers, topic, 30,
            ("Auth:WriteKeys:0", ""),
            ("Collector:Sources:0:Name", "shop"),
            ("Collector:Sources:0:WriteKey", "wk-shop"),
            ("Collector:Sources:0:AllowedOrigins:0", "https://shop.example"),
            ("Collector:Sources:0:EventsPerSecond", "5"),
            ("Collector:Sources:1:Name", "retired"),
            ("Collector:Sources:1:WriteKey", "wk-retired"),
            ("Collector:Sources:1:Enabled", "false"));
    }

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task DisabledSourceGets401()
    {
        var response = await Post("wk-retired", OneEvent);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("source 'retired' is disabled", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SourceOverItsRateLimitGets429WithRetryAfter()
    {
        // The bucket holds 2 s worth (10 events); a batch of 10 empties it and a second batch of 10 is
        // refused. (A single event would need only 200 ms of refill, which a slow first request can take.)
        var ten = $$"""{"batch":[{{string.Join(',', Enumerable.Repeat("""{"type":"track","event":"x","userId":"u"}""", 10))}}]}""";

        var first = await Post("wk-shop", ten, origin: "https://shop.example");
        var second = await Post("wk-shop", ten, origin: "https://shop.example");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal((HttpStatusCode)429, second.StatusCode);
        Assert.True(second.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task PreflightIsAnsweredForAllowedOriginsOnly()
    {
        var client = _factory.CreateClient();

        var allowed = await client.SendAsync(Preflight("https://shop.example"));
        var refused = await client.SendAsync(Preflight("https://evil.example"));

        Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
        Assert.Equal("https://shop.example", allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("Authorization", allowed.Headers.GetValues("Access-Control-Allow-Headers").Single(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.False(refused.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task OriginNotAllowedForTheKeysSourceGets403()
    {
        var response = await Post("wk-shop", OneEvent, origin: "https://other.example");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("not allowed for source 'shop'", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private const string OneEvent = """{"batch":[{"type":"track","event":"x","userId":"u"}]}""";

    private static HttpRequestMessage Preflight(string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/v1/batch");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "authorization,content-type");
        return request;
    }

    private async Task<HttpResponseMessage> Post(string writeKey, string body, string? origin = null)
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(writeKey);
        if (origin is not null)
        {
            client.DefaultRequestHeaders.Add("Origin", origin);
        }

        return await client.PostAsync("/v1/batch", Json(body));
    }
}
