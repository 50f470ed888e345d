using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Storage;
using Ecrm.Testing;
using StackExchange.Redis;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>
/// The built browser tracker in headless Chromium (sdk-js/test/e2e/real-stack.mjs), through the real
/// collector, Kafka and engine into Redis and ClickHouse, and the recommendation widget on the real recommender.
/// </summary>
[Collection(BackendsCollection.Name)]
public sealed class TrackerEndToEndTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse) : IAsyncLifetime
{
    private const string Topic = "tv-oled-55";
    private readonly EcrmServices _services = new(kafka, redis, clickHouse);
    private ConnectionMultiplexer _redis = null!;

    public Task InitializeAsync() => this.InitializeOrDisposeAsync(async () =>
    {
        _services.Set("Recommender__AllowedOrigins__0", "*");
        await _services.StartAsync();
        await _services.PublishDemoCatalogsAsync();
        _redis = RedisConnection.Connect(_services.RedisConfiguration);
    });

    public async Task DisposeAsync()
    {
        _redis?.Dispose();
        await _services.DisposeAsync();
    }

    [Fact]
    public async Task PageViewSectionViewRouteChangeAndClickEachMoveTheDialogueOneStage()
    {
        using var browser = await BrowserScenario.RunAsync("stages", _services);
        var visitor = browser.Result.Str("anonymousId")!;
        var messageIds = browser.Result.GetProperty("messageIds").EnumerateArray().Select(e => e.GetString()).ToArray();
        await browser.FinishAsync();

        // The page path is stage 1, the section viewed "interest" (2), the client-side route /compare 3, the click "purchase" 4.
        var dialogues = new DialogueReader(_redis);
        await Eventually("the dialogue to reach stage 4", async () => (await dialogues.ReadOneAsync(visitor, Topic))?.Stage == 4);
        Assert.Equal(DialogueStatus.Converted, (await dialogues.ReadOneAsync(visitor, Topic))!.Status);
        var expected = string.Concat(messageIds.Select((id, i) => $"{id}\t{i}\t{i + 1}\n"));
        var transitions = "";
        await Eventually("the four transitions in ClickHouse", async () =>
        {
            transitions = await clickHouse.QueryAsync($"SELECT message_id, from_stage, to_stage FROM {_services.ClickHouseDatabase}.transitions FINAL WHERE customer_key = {ArchiveSql.Quote(visitor)} ORDER BY to_stage FORMAT TSV");
            return transitions == expected;
        }, () => $"transitions:\n{transitions}\nexpected:\n{expected}browser:\n{browser.Output}");
    }

    [Fact]
    public async Task EventsMadeOfflineArriveOnceTheNetworkReturnsAndExactlyOnce()
    {
        using var browser = await BrowserScenario.RunAsync("offline", _services);
        var result = browser.Result;
        var visitor = result.Str("anonymousId")!;
        var messageIds = result.GetProperty("messageIds").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.True(result.GetProperty("failedAttempts").GetInt32() >= 1, "the tracker never tried while offline");
        await browser.FinishAsync();

        // Everything the collector acknowledged is in Kafka: each offline event exactly once.
        var inKafka = EventsTopic.ReadAll(kafka.BootstrapServers, _services.Topic).Select(e => e.Str("messageId")).ToList();
        Assert.All(messageIds, id => Assert.Equal(1, inKafka.Count(m => m == id)));
        Assert.All(messageIds, id => Assert.Equal(1, result.GetProperty("sent").GetProperty(id).GetInt32()));

        // And the engine folded each once: three web interactions on the visitor's dialogue.
        await Eventually("three interactions on the dialogue", async () => (await new DialogueReader(_redis).ReadOneAsync(visitor, Topic))?.InteractionsByChannel.GetValueOrDefault("web") == 3);
    }

    [Fact]
    public async Task PageClosedRightAfterAnEventStillDeliversIt()
    {
        using var browser = await BrowserScenario.RunAsync("close", _services);
        var visitor = browser.Result.Str("anonymousId")!;
        var messageId = browser.Result.Str("messageId")!;

        var added = await EventsTopic.WaitForAsync(kafka.BootstrapServers, _services.Topic, "event of the closed page", e => e.Str("messageId") == messageId);
        Assert.Equal("Product Added", added.Str("event"));
        Assert.Equal(visitor, added.Str("anonymousId"));
        // "Product Added" of sku oled-55 is stage 3 in the demo catalog.
        await Eventually("the dialogue to reach stage 3", async () => ((await new DialogueReader(_redis).ReadOneAsync(visitor, Topic))?.Stage ?? 0) == 3);
        await browser.FinishAsync();
    }

    [Fact]
    public async Task OptedOutVisitorSendsNothingAndKeepsOnlyTheFlag()
    {
        using var browser = await BrowserScenario.RunAsync("optout", _services);
        var result = browser.Result;
        await browser.FinishAsync();

        Assert.Equal(0, result.GetProperty("requestsAfterOptOut").GetInt32());
        Assert.Equal("""{"ecrm_consent":"0"}""", result.GetProperty("stored").GetProperty("localStorage").GetRawText());
        Assert.Equal("", result.Str("stored", "cookie"));
        Assert.Equal(JsonValueKind.Null, result.GetProperty("stored").GetProperty("anonymousId").ValueKind);

        // The browser is closed and every request it made was answered: Kafka holds all it will ever get,
        // and that is only what was sent before the opt-out.
        var before = result.GetProperty("before").EnumerateArray().Select(e => e.GetString()).Order().ToArray();
        Assert.NotEmpty(before);
        Assert.Equal(before, EventsTopic.ReadAll(kafka.BootstrapServers, _services.Topic).Select(e => e.Str("messageId")).Order());
    }

    [Fact]
    public async Task RecommendationWidgetRendersTheRecommendersItemsAndTracksTheClick()
    {
        using var browser = await BrowserScenario.RunAsync("recommend", _services);
        var data = browser.Result.GetProperty("data");
        var recommendationId = data.Str("recommendationId")!;
        var items = data.GetProperty("items").EnumerateArray().ToArray();

        // The page is annotated stage 2 of the OLED TV: the recommender answers with its stage-3 content,
        // and the widget renders those items as links.
        Assert.Equal(2, items.Length);
        Assert.All(items, item => Assert.Equal((Topic, 3), (item.Str("topic"), item.GetProperty("stage").GetInt32())));
        var links = browser.Result.GetProperty("links").EnumerateArray().ToArray();
        Assert.Equal(items.Select(i => i.Str("title")), links.Select(l => l.Str("title")));
        Assert.All(links.Zip(items), pair => Assert.EndsWith(pair.Second.Str("url")!, pair.First.Str("href"), StringComparison.Ordinal));

        var clicked = await EventsTopic.WaitForAsync(kafka.BootstrapServers, _services.Topic, "Recommendation Clicked", e => e.Str("event") == "Recommendation Clicked");
        Assert.Equal(recommendationId, clicked.Str("properties", "recommendationId"));
        Assert.Equal(items[0].Str("id"), clicked.Str("properties", "itemId"));
        Assert.Equal("1", clicked.Str("properties", "position"));
        Assert.Equal("pdp-specs", clicked.Str("properties", "slot"));
        Assert.Equal(browser.Result.Str("anonymousId"), clicked.Str("anonymousId"));
        var viewed = EventsTopic.ReadAll(kafka.BootstrapServers, _services.Topic).Where(e => e.Str("event") == "Recommendation Viewed").ToArray();
        Assert.Equal(items.Select(i => i.Str("id")).Order(), viewed.Select(v => v.Str("properties", "itemId")).Order());
        Assert.All(viewed, v => Assert.Equal(recommendationId, v.Str("properties", "recommendationId")));
        await browser.FinishAsync();
    }

    private static Task Eventually(string what, Func<Task<bool>> condition, Func<string>? explain = null) =>
        Poll.UntilAsync($"waiting for {what}", condition, explain: explain);
}
