using System.Net;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Xunit;
using static Ecrm.Collector.Tests.TrackingApiTests;

namespace Ecrm.Collector.Tests;

/// <summary>
/// Identity verification at the collector: a browser source's events are flagged unverified unless
/// they carry the site server's signature of their user id; a server source's never are; and a client
/// cannot set flags of its own. On the real Kafka protocol.
/// </summary>
public sealed class BrowserIdentityTests : IClassFixture<KafkaFixture>, IDisposable
{
    private const string Secret = "identity-secret-of-the-shop";
    private readonly KafkaFixture _kafka;
    private readonly string _topic;
    private readonly WebApplicationFactory<Program> _factory;

    public BrowserIdentityTests(KafkaFixture kafka)
    {
        _kafka = kafka;
        _topic = kafka.CreateTopic("identity");
        kafka.Cluster.CreateTopic(_topic + ".dlq", 1, 3);
        _factory = TrackingApiTests.Collector(kafka.BootstrapServers, _topic, 30,
            ("Collector:Sources:0:Name", "shop"),
            ("Collector:Sources:0:WriteKey", "wk-shop"),
            ("Collector:Sources:0:AllowedOrigins:0", "https://shop.example"),
            ("Collector:Sources:1:Name", "backend"),
            ("Collector:Sources:1:WriteKey", "sk-backend"),
            ("Auth:IdentitySecrets:0:WriteKey", "wk-shop"),
            ("Auth:IdentitySecrets:0:Secret", Secret));
    }

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task OnlyASignedUserIdFromABrowserSourceGoesUnflaggedAndTheSignatureIsNotForwarded()
    {
        var signed = IdentityVerification.Sign(Secret, "kim");
        var body = "{\"batch\":["
            + Identify("unsigned", "kim", null)
            + "," + Identify("signed", "kim", signed)
            + "," + Identify("signed-upper-case", "kim", signed.ToUpperInvariant())
            + "," + Identify("signature-of-another-user", "lee", signed)
            + "," + Identify("anonymous", null, null)
            + ",{\"type\":\"track\",\"event\":\"x\",\"userId\":\"kim\",\"messageId\":\"self-flagged\",\"flags\":[\"bot\"],\"context\":{\"userHash\":\"" + signed + "\"}}"
            + "]}";

        Assert.Equal(HttpStatusCode.OK, (await Post("wk-shop", body)).StatusCode);

        var items = ConsumeEvents(_kafka, _topic, 6).ToDictionary(m => m.Item.MessageId!, m => m.Item);
        Assert.True(EventFlags.Has(items["unsigned"], EventFlags.UnverifiedIdentity));
        Assert.False(EventFlags.Has(items["signed"], EventFlags.UnverifiedIdentity));
        Assert.False(EventFlags.Has(items["signed-upper-case"], EventFlags.UnverifiedIdentity));
        Assert.True(EventFlags.Has(items["signature-of-another-user"], EventFlags.UnverifiedIdentity));
        Assert.True(EventFlags.Has(items["anonymous"], EventFlags.UnverifiedIdentity));
        Assert.Null(items["self-flagged"].Flags); // verified, and its own "bot" flag was not the collector's to keep
        Assert.All(items.Values, item => Assert.False(item.Context?.Extra?.ContainsKey(IdentityVerification.ContextField) ?? false));
    }

    [Fact]
    public async Task AServerSourceKeepsFullRights()
    {
        Assert.Equal(HttpStatusCode.OK, (await Post("sk-backend", "{\"batch\":[" + Identify("from-backend", "kim", null) + "]}")).StatusCode);

        Assert.Null(Assert.Single(ConsumeEvents(_kafka, _topic, 1)).Item.Flags);
    }

    private static string Identify(string messageId, string? userId, string? userHash) =>
        "{\"type\":\"identify\",\"messageId\":\"" + messageId + "\",\"anonymousId\":\"anon-1\""
        + (userId is null ? "" : ",\"userId\":\"" + userId + "\"")
        + ",\"traits\":{\"email\":\"kim@shop.example\"}"
        + (userHash is null ? "" : ",\"context\":{\"userHash\":\"" + userHash + "\"}") + "}";

    private Task<HttpResponseMessage> Post(string writeKey, string body)
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(writeKey);
        return client.PostAsync("/v1/batch", Json(body));
    }
}
