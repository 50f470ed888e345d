using System.Net;
using Ecrm.Collector.Ingestion;
using Ecrm.Common.Events;
using Microsoft.Extensions.Options;
using Xunit;

namespace Ecrm.Collector.Tests;

public sealed class EventEnricherTests
{
    private const string ChromeOnWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    [Theory]
    [InlineData("203.0.113.77", "203.0.113.0")]
    [InlineData("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::")]
    [InlineData("::ffff:198.51.100.9", "198.51.100.0")]
    public void IpAddressesAreAnonymized(string ip, string expected)
    {
        Assert.Equal(expected, EventEnricher.Anonymize(IPAddress.Parse(ip)).ToString());
    }

    [Fact]
    public void ConfiguredTraitsAreStoredAsKeyedHashesAndTheRestAsSent()
    {
        var enricher = new EventEnricher(Options.Create(new CollectorOptions { HashedTraits = ["email", "phone"], TraitHashKey = "k" }));
        var item = new EventEnvelope
        {
            Type = EventType.Identify,
            Traits = System.Text.Json.JsonDocument.Parse("""{"email":" Kim@Example.COM ","phone":821012345678,"name":"Kim","tags":["a"]}""").RootElement,
        };

        enricher.Enrich(item, null, null, fromBrowser: false);

        var traits = item.Traits!.Value;
        // HMAC-SHA256("k", "kim@example.com"), computed apart from the code under test.
        var expected = "hmac-sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData("k"u8, "kim@example.com"u8));
        Assert.Equal(expected, traits.GetProperty("email").GetString());
        Assert.StartsWith("hmac-sha256:", traits.GetProperty("phone").GetString(), StringComparison.Ordinal);
        Assert.Equal("Kim", traits.GetProperty("name").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Array, traits.GetProperty("tags").ValueKind);
        // Hashing a hashed value again changes nothing (a re-sent event).
        enricher.Enrich(item, null, null, fromBrowser: false);
        Assert.Equal(expected, item.Traits!.Value.GetProperty("email").GetString());
    }

    [Theory]
    [InlineData(ChromeOnWindows, "Chrome", "Windows", "desktop")]
    [InlineData("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari", "iOS", "mobile")]
    [InlineData("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge", "Windows", "desktop")]
    [InlineData("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome", "Android", "tablet")]
    [InlineData("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Other", "Other", "bot")]
    [InlineData("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36", "Chrome", "Linux", "bot")]
    public void UserAgentsReduceToFamilies(string userAgent, string browser, string os, string device)
    {
        var client = UserAgents.Reduce(userAgent);

        Assert.Equal((browser, os, device), (client.Browser, client.Os, client.Device));
    }

    [Fact]
    public void BrowserRequestFillsIpAndAgentThenReducesThem()
    {
        var enricher = new EventEnricher(Options.Create(new CollectorOptions()));
        var item = new EventEnvelope { Type = EventType.Page, AnonymousId = "a" };

        var isBot = enricher.Enrich(item, IPAddress.Parse("192.0.2.55"), ChromeOnWindows, fromBrowser: true);

        Assert.False(isBot);
        Assert.Equal("192.0.2.0", item.Context!.Ip);
        Assert.Null(item.Context.UserAgent);
        Assert.Equal("Chrome", item.Context.Client!.Browser);
    }

    [Fact]
    public void ServerRequestDoesNotLendItsAddressToTheCustomer()
    {
        var enricher = new EventEnricher(Options.Create(new CollectorOptions()));
        var item = new EventEnvelope { Type = EventType.Track, UserId = "u" };

        enricher.Enrich(item, IPAddress.Parse("10.1.2.3"), "analytics-node/1.0", fromBrowser: false);

        Assert.Null(item.Context!.Ip);
        Assert.Null(item.Context.Client);
    }

    [Fact]
    public void BotsAreFlagged()
    {
        var enricher = new EventEnricher(Options.Create(new CollectorOptions()));
        var item = new EventEnvelope { Type = EventType.Page, AnonymousId = "a", Context = new EventContext { UserAgent = "Googlebot/2.1" } };

        Assert.True(enricher.Enrich(item, null, null, fromBrowser: false));
        Assert.Equal([EventFlags.Bot], item.Flags);
    }
}
