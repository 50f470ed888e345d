using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Ecrm.Collector.Email;
using Ecrm.Common.Events;
using Ecrm.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Xunit;
using static Ecrm.Collector.Tests.TrackingApiTests;

namespace Ecrm.Collector.Tests;

/// <summary>Signed email links and open pixels, end to end into Kafka.</summary>
public sealed class EmailApiTests : IClassFixture<KafkaFixture>, IDisposable
{
    private const string Target = "https://shop.example/tv/oled-55/specs?utm_source=email";
    private readonly KafkaFixture _kafka;
    private readonly string _topic;
    private readonly WebApplicationFactory<Program> _factory;

    public EmailApiTests(KafkaFixture kafka)
    {
        _kafka = kafka;
        _topic = kafka.CreateTopic("email");
        kafka.Cluster.CreateTopic(_topic + ".dlq", 1, 3);
        _factory = TrackingApiTests.Collector(kafka.BootstrapServers, _topic, 30,
            ("Email:SigningKeys:0", "the-new-key-0123456789abcdef0123456789"),
            ("Email:SigningKeys:1", "email-signing-key-for-tests-0123456789"));
    }

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task OpenPixelRecordsAnOpenAndAnswersAGif()
    {
        var link = await MintAsync(new MintLinkRequest("oled-launch", "user-42", Target, "tv-oled-55", 1, null));

        var response = await NoRedirectClient().GetAsync(link.OpenPixelUrl);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/gif", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("GIF89a"u8.ToArray(), (await response.Content.ReadAsByteArrayAsync())[..6]);
        var (key, item) = Assert.Single(ConsumeEvents(_kafka, _topic, 1));
        Assert.Equal("user-42", key);
        Assert.Equal(("Email Opened", Channel.Email, "email"), (item.Event, item.Channel!.Value, item.Source));
        Assert.Equal("oled-launch", item.Properties!.Value.GetProperty("campaign").GetString());
        Assert.Equal("tv-oled-55", item.Context!.Ecrm!.Topic);
    }

    [Fact]
    public async Task TrackedLinkRecordsTheClickThenRedirects()
    {
        var link = await MintAsync(new MintLinkRequest("oled-launch", "user-43", Target, null, null, null));

        var response = await NoRedirectClient().GetAsync(link.ClickUrl);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(Target, response.Headers.Location!.ToString());
        var (_, item) = Assert.Single(ConsumeEvents(_kafka, _topic, 1));
        Assert.Equal("Email Link Clicked", item.Event);
        Assert.Equal(Target, item.Properties!.Value.GetProperty("linkUrl").GetString());
        Assert.Null(item.Context!.Ecrm);
    }

    [Fact]
    public async Task ClickThatNeitherKafkaNorTheSpoolTakesStillRedirectsAndIsCountedAndLoggedAsLost()
    {
        using var cluster = new DevKafka.MockKafkaCluster(brokerCount: 1);
        cluster.CreateTopic("lost-clicks", 1, 1);
        var logs = new CollectingLoggerProvider();
        using var factory = TrackingApiTests.Collector(cluster.BootstrapServers, "lost-clicks", 1, ("Collector:SpoolMaxBytes", "200"))
            .WithWebHostBuilder(builder => builder.ConfigureLogging(logging => logging.AddProvider(logs)));
        cluster.SetBrokerDown(1, down: true);
        var token = new EmailTokens(Options.Create(new EmailOptions { SigningKeys = ["email-signing-key-for-tests-0123456789"] }), TimeProvider.System)
            .Sign(new EmailTokenPayload(EmailTokenPayload.Click, "oled-launch", "user-46", null, null, Target, DateTimeOffset.UtcNow.AddDays(1).ToUnixTimeSeconds()));

        var response = await factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false }).GetAsync($"/e/c/{token}");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(Target, response.Headers.Location!.ToString());
        var operatorClient = factory.CreateClient();
        operatorClient.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        var metrics = await operatorClient.GetStringAsync("/metrics");
        Assert.Contains("ecrm_collector_email_clicks_lost_total 1\n", metrics, StringComparison.Ordinal);
        var lost = Assert.Single(logs.Messages, m => m.Contains("Email click lost", StringComparison.Ordinal));
        Assert.Contains("campaign oled-launch, customer user-46", lost, StringComparison.Ordinal);
        Assert.Contains("\"event\":\"Email Link Clicked\"", lost, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TamperedTokenGets400AndNoRedirect()
    {
        var link = await MintAsync(new MintLinkRequest("oled-launch", "user-44", Target, null, null, null));
        var token = link.ClickUrl[(link.ClickUrl.LastIndexOf('/') + 1)..];
        var payload = JsonDocument.Parse(Convert.FromBase64String(Pad(token[..token.IndexOf('.')]))).RootElement;
        // Same signature, but the target swapped for an attacker's site.
        var forged = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
        {
            ["k"] = "c", ["c"] = "oled-launch", ["u"] = "user-44", ["r"] = "https://evil.example/", ["e"] = payload.GetProperty("e").GetInt64(),
        })).TrimEnd('=').Replace('+', '-').Replace('/', '_') + token[token.IndexOf('.')..];
        var client = NoRedirectClient();

        foreach (var bad in new[] { forged, token[..^2] + (token[^2] == 'A' ? "BB" : "AA"), "x.y", "nodot", token + "x" })
        {
            var response = await client.GetAsync($"/e/c/{bad}");

            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Null(response.Headers.Location);
        }

        Assert.Empty(ConsumeEvents(_kafka, _topic, 0, TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public async Task ExpiredTokenGets400()
    {
        var expired = new EmailTokens(Options.Create(new EmailOptions { SigningKeys = ["the-new-key-0123456789abcdef0123456789"] }), TimeProvider.System)
            .Sign(new EmailTokenPayload(EmailTokenPayload.Click, "c", "u", null, null, Target, DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds()));

        var response = await NoRedirectClient().GetAsync($"/e/c/{expired}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("expired", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Null(response.Headers.Location);
    }

    [Fact]
    public async Task TokenSignedWithAnOlderKeyStillVerifiesAndAnUnknownKeyDoesNot()
    {
        EmailTokens Signer(string key) => new(Options.Create(new EmailOptions { SigningKeys = [key] }), TimeProvider.System);
        var payload = new EmailTokenPayload(EmailTokenPayload.Click, "c", "u", null, null, Target, DateTimeOffset.UtcNow.AddDays(1).ToUnixTimeSeconds());

        var older = await NoRedirectClient().GetAsync($"/e/c/{Signer("email-signing-key-for-tests-0123456789").Sign(payload)}");
        var unknown = await NoRedirectClient().GetAsync($"/e/c/{Signer("someone-elses-key-0123456789abcdef").Sign(payload)}");

        Assert.Equal(HttpStatusCode.Redirect, older.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
    }

    [Fact]
    public async Task OpenTokenCannotBeUsedAsALink()
    {
        var link = await MintAsync(new MintLinkRequest("oled-launch", "user-45", Target, null, null, null));
        var openToken = link.OpenPixelUrl[(link.OpenPixelUrl.LastIndexOf('/') + 1)..^4];

        var response = await NoRedirectClient().GetAsync($"/e/c/{openToken}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Theory]
    [InlineData("javascript:alert(1)")]
    [InlineData("//evil.example")]
    [InlineData("/relative")]
    [InlineData("ftp://files.example/x")]
    public async Task MintingRefusesTargetsThatAreNotWebUrls(string target)
    {
        var response = await Admin().PostAsJsonAsync("/v1/email/links", new MintLinkRequest("c", "u", target, null, null, null));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("targetUrl", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MintingNeedsTheAdminKey()
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "not-admin");

        var response = await client.PostAsJsonAsync("/v1/email/links", new MintLinkRequest("c", "u", Target, null, null, null));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task AMintRequestOverItsSmallLimitGets413()
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);

        var response = await client.PostAsJsonAsync("/v1/email/links", new MintLinkRequest(new string('c', 20_000), "u", Target, null, null, null));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task LinksUseTheConfiguredPublicAddressNeverTheRequestsHostAndWithoutOneNothingIsMinted()
    {
        var request = new MintLinkRequest("oled-launch", "user-42", Target, null, null, null);
        using (var configured = _factory.WithWebHostBuilder(builder => builder.UseSetting("Email:PublicBaseUrl", "https://t.shop.example/")))
        {
            var client = configured.CreateClient();
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
            client.DefaultRequestHeaders.Host = "attacker.example";
            var link = (await (await client.PostAsJsonAsync("/v1/email/links", request)).Content.ReadFromJsonAsync<MintedLink>())!;
            Assert.StartsWith("https://t.shop.example/e/c/", link.ClickUrl, StringComparison.Ordinal);
            Assert.StartsWith("https://t.shop.example/e/o/", link.OpenPixelUrl, StringComparison.Ordinal);
        }

        using var unset = _factory.WithWebHostBuilder(builder => builder.UseSetting("Email:PublicBaseUrl", ""));
        var admin = unset.CreateClient();
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        var refused = await admin.PostAsJsonAsync("/v1/email/links", request);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains("Email:PublicBaseUrl", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private async Task<MintedLink> MintAsync(MintLinkRequest request)
    {
        var response = await Admin().PostAsJsonAsync("/v1/email/links", request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<MintedLink>())!;
    }

    private HttpClient Admin()
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        return client;
    }

    private HttpClient NoRedirectClient() => _factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

    private static string Pad(string base64Url)
    {
        var text = base64Url.Replace('-', '+').Replace('_', '/');
        return text + new string('=', (4 - text.Length % 4) % 4);
    }
}

/// <summary>Keeps every log message of a test host, to check what an operator would see.</summary>
internal sealed class CollectingLoggerProvider : ILoggerProvider
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _messages = new();

    public IReadOnlyCollection<string> Messages => _messages;

    public ILogger CreateLogger(string categoryName) => new Logger(_messages);

    public void Dispose()
    {
    }

    private sealed class Logger(System.Collections.Concurrent.ConcurrentQueue<string> messages) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            messages.Enqueue(formatter(state, exception));
    }
}
