using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Storage;
using Ecrm.Testing;
using StackExchange.Redis;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>
/// A trigger's email, end to end with the services as processes: a page view moves a dialogue, the
/// engine's trigger asks the email provider (a local receiver) to send a message whose tracked link
/// the collector minted, and following that link moves the dialogue again.
/// </summary>
[Collection(BackendsCollection.Name)]
public sealed class TriggerEmailTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse) : IAsyncLifetime
{
    private const string Topic = "tv-oled-55";
    private const string Secret = "provider-shared-secret-0123456789";
    private readonly EcrmServices _stack = new(kafka, redis, clickHouse);
    private readonly WebhookReceiver _provider = new();
    private readonly string _customer = $"trg-{Guid.NewGuid():N}";
    private ConnectionMultiplexer _redis = null!;

    public Task InitializeAsync() => this.InitializeOrDisposeAsync(async () =>
    {
        await _stack.StartAsync();
        // The engine needs the collector's address, known once the collector runs: start the engine again with it.
        _stack.Set("Triggers__CollectorUrl", _stack.CollectorUrl.ToString());
        _stack.Set("Triggers__CollectorAdminKey", EcrmServices.AdminKey);
        // Fresh consumer groups (nothing is consumed yet): the killed engine's members would hold their
        // partitions until their session times out.
        var groups = Guid.NewGuid().ToString("N")[..12];
        _stack.Set("Kafka__ConsumerGroup", $"engine-{groups}");
        _stack.Set("Kafka__ArchiveConsumerGroup", $"archive-{groups}");
        _stack.Set("Triggers__ConsumerGroup", $"triggers-{groups}");
        _stack.Kill("dialogue-engine");
        await _stack.RestartAsync("dialogue-engine");
        _redis = RedisConnection.Connect(_stack.RedisConfiguration);
        await _stack.PublishDemoCatalogsAsync();
    });

    public async Task DisposeAsync()
    {
        _redis?.Dispose();
        _provider.Dispose();
        await _stack.DisposeAsync();
    }

    [Fact]
    public async Task EmailActionsTrackedLinkWhenFollowedMovesTheDialogue()
    {
        using var admin = EcrmServices.Client(_stack.EngineUrl, EcrmServices.AdminKey);
        var rule = $$"""
            {"id":"oled-details-email","name":"OLED details: send the comparison",
             "when":{"topic":"{{Topic}}","toStage":2},
             "action":{"type":"email","url":"{{_provider.Url("send")}}","secret":"{{Secret}}","campaign":"oled-followup",
                       "targetUrl":"https://shop.example/tv/oled-55/compare","linkStage":3,"template":"oled-compare","fields":{"subject":"Compare the OLED 55"} } }
            """;
        var created = await admin.PostAsync("api/triggers", new StringContent(rule, Encoding.UTF8, "application/json"));
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        await _redis.GetDatabase().HashSetAsync(RedisKeys.Traits(_customer), "email", "\"kim@example.com\"");

        // The customer reads the OLED TV's details: stage 2.
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        var page = "{\"batch\":[{\"type\":\"page\",\"userId\":\"" + _customer + "\",\"messageId\":\"" + Guid.NewGuid() + "\",\"context\":{\"page\":{\"path\":\"/tv/oled-55/specs\"}}}]}";
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", new StringContent(page, Encoding.UTF8, "application/json"))).StatusCode);

        // The provider is asked, with a signed request, to send the email.
        var request = (await _provider.WaitForAsync(1, TimeSpan.FromSeconds(60))).Single();
        Assert.Equal("sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), request.Body)), request.Headers["X-Ecrm-Signature"]);
        var body = JsonDocument.Parse(request.Body).RootElement;
        var message = body.GetProperty("message");
        Assert.Equal(("email", "kim@example.com", "oled-compare", "oled-followup"),
            (message.GetProperty("channel").GetString(), message.GetProperty("to").GetString(), message.GetProperty("template").GetString(), message.GetProperty("campaign").GetString()));
        Assert.Equal(2, body.GetProperty("dialogue").GetProperty("stage").GetInt32());
        var clickUrl = message.GetProperty("clickUrl").GetString()!;
        Assert.StartsWith(_stack.CollectorUrl.ToString().TrimEnd('/') + "/e/c/", clickUrl, StringComparison.Ordinal);
        Assert.EndsWith(".gif", message.GetProperty("openPixelUrl").GetString(), StringComparison.Ordinal);

        // The customer clicks: the collector redirects to the target and the dialogue moves to stage 3.
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        var click = await browser.GetAsync(clickUrl);
        Assert.Equal(HttpStatusCode.Redirect, click.StatusCode);
        Assert.Equal("https://shop.example/tv/oled-55/compare", click.Headers.Location!.ToString());
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var dialogues = new DialogueReader(_redis);
        while ((await dialogues.ReadOneAsync(_customer, Topic))?.Stage != 3)
        {
            Assert.True(DateTime.UtcNow < deadline, "the click did not move the dialogue to stage 3 within 30 s:\n" + _stack.Logs("dialogue-engine"));
            await Task.Delay(100);
        }

        Assert.Equal("email", (await dialogues.ReadOneAsync(_customer, Topic))!.StagesReached.Single(s => s.Stage == 3).Channel);
        Assert.Single(_provider.All);
    }
}
