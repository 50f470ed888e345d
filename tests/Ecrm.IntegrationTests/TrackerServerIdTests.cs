using Ecrm.Common.Storage;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>The collector's first-party HttpOnly browser id (Collector:IdentityCookieName) and the tracker's useServerCookie, in Chromium.</summary>
[Collection(BackendsCollection.Name)]
public sealed class TrackerServerIdTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse) : IAsyncLifetime
{
    private readonly EcrmServices _services = new(kafka, redis, clickHouse);

    public Task InitializeAsync() => this.InitializeOrDisposeAsync(async () =>
    {
        _services.Set("Collector__IdentityCookieName", "ecrm_sid");
        await _services.StartAsync();
        await _services.PublishDemoCatalogsAsync();
    });

    public async Task DisposeAsync() => await _services.DisposeAsync();

    [Fact]
    public async Task TrackerTakesTheServerIdBackAfterItsOwnStorageIsWiped()
    {
        using var browser = await BrowserScenario.RunAsync("serverid", _services);
        var result = browser.Result;
        await browser.FinishAsync();
        var first = result.Str("first")!;

        // The first visit's cookie took the tracker's own id, so the first visit is one visitor.
        Assert.Equal(first, result.Str("serverCookie", "value"));
        Assert.Equal("true", result.Str("serverCookie", "httpOnly"));
        // Script storage wiped: a new script id at first, then the collector's id, on the events and in storage.
        var fresh = result.Str("fresh")!;
        Assert.NotEqual(first, fresh);
        Assert.Equal(first, result.Str("adopted"));
        Assert.Equal(first, result.Str("added", "anonymousId"));
        Assert.Equal(first, result.Str("stored", "aid"));
        Assert.Contains("ecrm_aid=" + first, result.Str("stored", "cookie"), StringComparison.Ordinal);
        Assert.DoesNotContain("ecrm_sid", result.Str("stored", "cookie"), StringComparison.Ordinal);

        // The page view sent before the answer carries the browser id, which links it in the archive.
        var events = EventsTopic.ReadAll(kafka.BootstrapServers, _services.Topic);
        var second = Assert.Single(events, e => e.Str("anonymousId") == fresh && e.Str("type") == "page");
        Assert.Equal(first, second.Str("context", "device", "id"));

        // "Product Added" (stage 3) lands on the first visit's dialogue.
        using var connection = RedisConnection.Connect(_services.RedisConfiguration);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var stage = 0;
        while (DateTime.UtcNow < deadline && stage != 3)
        {
            stage = ((await new DialogueReader(connection).ReadOneAsync(first, "tv-oled-55"))?.Stage ?? 0);
            await Task.Delay(200);
        }

        Assert.Equal(3, stage);
    }
}
