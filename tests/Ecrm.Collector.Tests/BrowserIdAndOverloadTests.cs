using System.Net;
using Ecrm.Testing;
using Xunit;
using static Ecrm.Collector.Tests.TrackingApiTests;

namespace Ecrm.Collector.Tests;

/// <summary>The first-party HttpOnly browser id, and the concurrency limit.</summary>
public sealed class BrowserIdAndOverloadTests : IClassFixture<KafkaFixture>
{
    private readonly KafkaFixture _kafka;

    public BrowserIdAndOverloadTests(KafkaFixture kafka) => _kafka = kafka;

    [Fact]
    public async Task BrowserGetsAnHttpOnlyIdThatStandsInForAMissingAnonymousId()
    {
        var topic = _kafka.CreateTopic("cookie");
        using var factory = TrackingApiTests.Collector(_kafka.BootstrapServers, topic, 30, ("Collector:IdentityCookieName", "ecrm_sid"));
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(WriteKey);
        client.DefaultRequestHeaders.Add("Origin", "https://shop.example");

        var first = await client.PostAsync("/v1/batch", Json("""{"batch":[{"type":"page","messageId":"c-1","context":{"page":{"path":"/"}}}]}"""));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var setCookie = first.Headers.GetValues("Set-Cookie").Single();
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        var id = setCookie.Split(';')[0]["ecrm_sid=".Length..];
        var (key, item) = Assert.Single(ConsumeEvents(_kafka, topic, 1));
        Assert.Equal(id, key);
        Assert.Equal(id, item.Context!.Extra!["device"].GetProperty("id").GetString());

        // The browser sends the cookie back: the same id, and no new cookie.
        client.DefaultRequestHeaders.Add("Cookie", $"ecrm_sid={id}");
        var second = await client.PostAsync("/v1/batch", Json("""{"batch":[{"type":"page","anonymousId":"script-id","messageId":"c-2"}]}"""));
        Assert.False(second.Headers.Contains("Set-Cookie"));
        var events = ConsumeEvents(_kafka, topic, 2);
        var kept = events.Single(e => e.Item.MessageId == "c-2").Item;
        Assert.Equal("script-id", kept.AnonymousId);
        Assert.Equal(id, kept.Context!.Extra!["device"].GetProperty("id").GetString());
    }

    [Fact]
    public async Task NewBrowserCookieTakesTheScriptsIdAndTheResponseNamesTheBrowserId()
    {
        var topic = _kafka.CreateTopic("cookie-echo");
        using var factory = TrackingApiTests.Collector(_kafka.BootstrapServers, topic, 30, ("Collector:IdentityCookieName", "ecrm_sid"));
        HttpClient Browser(string? cookie)
        {
            var client = factory.CreateClient();
            client.DefaultRequestHeaders.Authorization = Basic(WriteKey);
            client.DefaultRequestHeaders.Add("Origin", "https://shop.example");
            if (cookie is not null)
            {
                client.DefaultRequestHeaders.Add("Cookie", "ecrm_sid=" + cookie);
            }

            return client;
        }

        // A first visit: the cookie takes the id the tracker already put on its events, so nothing splits.
        var first = await Browser(null).PostAsync("/v1/batch", Json("""{"batch":[{"type":"page","anonymousId":"aid-script-1","messageId":"e-1"}]}"""));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.StartsWith("ecrm_sid=aid-script-1;", first.Headers.GetValues("Set-Cookie").Single(), StringComparison.Ordinal);
        Assert.Equal("""{"success":true,"anonymousId":"aid-script-1"}""", await first.Content.ReadAsStringAsync());

        // A browser whose script storage was wiped still has the cookie: the response names the cookie's id.
        var known = await Browser("srv-9").PostAsync("/v1/batch", Json("""{"batch":[{"type":"page","anonymousId":"fresh-2","messageId":"e-2"}]}"""));
        Assert.False(known.Headers.Contains("Set-Cookie"));
        Assert.Equal("""{"success":true,"anonymousId":"srv-9"}""", await known.Content.ReadAsStringAsync());

        // An id that is not a plain token never becomes a cookie value.
        var odd = await Browser(null).PostAsync("/v1/batch", Json("""{"batch":[{"type":"page","anonymousId":"a b;c","messageId":"e-3"}]}"""));
        Assert.Matches("^ecrm_sid=[0-9a-f]{32};", odd.Headers.GetValues("Set-Cookie").Single());

        // A server-side sender (no Origin, no cookie) has no browser id.
        var server = factory.CreateClient();
        server.DefaultRequestHeaders.Authorization = Basic(WriteKey);
        var plain = await server.PostAsync("/v1/batch", Json("""{"batch":[{"type":"page","anonymousId":"s-1","messageId":"e-4"}]}"""));
        Assert.Equal("""{"success":true}""", await plain.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task RequestsBeyondTheConcurrencyLimitGet503()
    {
        // A broker that is down keeps the first request waiting for its acknowledgement.
        using var cluster = new DevKafka.MockKafkaCluster(brokerCount: 1);
        cluster.CreateTopic("busy", 1, 1);
        using var factory = TrackingApiTests.Collector(cluster.BootstrapServers, "busy", 3, ("Collector:MaxConcurrentRequests", "1"));
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(WriteKey);
        cluster.SetBrokerDown(1, down: true);

        var slow = client.PostAsync("/v1/batch", Json("""{"batch":[{"type":"track","event":"x","userId":"u"}]}"""));
        await Task.Delay(500);
        var refused = await client.PostAsync("/v1/batch", Json("""{"batch":[{"type":"track","event":"x","userId":"u"}]}"""));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(1), refused.Headers.RetryAfter?.Delta);
        Assert.Equal(HttpStatusCode.OK, (await slow).StatusCode);
    }
}
