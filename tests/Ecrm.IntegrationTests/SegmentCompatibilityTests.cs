using System.Net.Http.Json;
using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Storage;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>
/// Segment's and RudderStack's own libraries, unchanged, against the real collector: Segment's Node.js library
/// (@segment/analytics-node), and in headless Chromium Segment's analytics.js (@segment/analytics-next) and
/// RudderStack's JS SDK v3 (@rudderstack/analytics-js), configured only as the README says.
/// </summary>
[Collection(BackendsCollection.Name)]
public sealed class SegmentCompatibilityTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse) : IAsyncLifetime
{
    private readonly EcrmServices _services = new(kafka, redis, clickHouse);

    public Task InitializeAsync() => this.InitializeOrDisposeAsync(async () =>
    {
        await _services.StartAsync();
        await _services.PublishDemoCatalogsAsync();
    });

    public async Task DisposeAsync() => await _services.DisposeAsync();

    [Fact]
    public async Task SegmentNodeLibraryWorksUnchanged()
    {
        var script = RepoPaths.Combine("sdk-js", "test", "compat", "segment-node-client.mjs");
        Assert.True(Directory.Exists(RepoPaths.Combine("sdk-js", "node_modules", "@segment", "analytics-node")),
            "sdk-js/node_modules lacks @segment/analytics-node: run npm ci in sdk-js (./test.sh does)");
        var customer = $"segment-{Guid.NewGuid():N}";

        using var node = ServerProcess.Start("node", [script, _services.CollectorUrl.ToString().TrimEnd('/'), EcrmServices.WriteKey, customer]);
        // Waits for the output too: a client that ends quickly had exited before its "sent" was read.
        var exitCode = await node.WaitForExitAsync(TimeSpan.FromSeconds(40));
        Assert.True(exitCode == 0 && node.Output.Contains("sent", StringComparison.Ordinal), $"the Segment client failed:\n{node.Output}");

        using var connection = RedisConnection.Connect(_services.RedisConfiguration);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var stage = 0;
        while (DateTime.UtcNow < deadline && stage < 3)
        {
            stage = ((await new DialogueReader(connection).ReadOneAsync(customer, "tv-oled-55"))?.Stage ?? 0);
            await Task.Delay(200);
        }

        Assert.Equal(3, stage);
        var types = "";
        while (DateTime.UtcNow < deadline && types != "group,identify,page,track")
        {
            types = string.Join(',', (await clickHouse.QueryAsync(
                $"SELECT type FROM {_services.ClickHouseDatabase}.events WHERE customer_key = {ArchiveSql.Quote(customer)} ORDER BY type FORMAT TSV")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
            await Task.Delay(200);
        }

        Assert.Equal("group,identify,page,track", types);
    }
    /// <summary>
    /// The collector paths each browser SDK used for its identify, page, track and group, and the batch's two events.
    /// (The closed page's request is not reported by the browser: analytics-next sends it to /v1/b with keepalive,
    /// RudderStack with sendBeacon to /beacon/v1/batch?writeKey=.)
    /// </summary>
    private static readonly Dictionary<string, string[]> PathsOf = new()
    {
        ["segment"] = ["/v1/i", "/v1/p", "/v1/t", "/v1/g", "/v1/b", "/v1/b"],
        ["rudder"] = ["/v1/identify", "/v1/page", "/v1/track", "/v1/group", "/v1/batch", "/v1/batch"],
    };

    [Theory]
    [InlineData("segment")]
    [InlineData("rudder")]
    public async Task BrowserSdkInChromiumWorksUnchanged(string client)
    {
        foreach (var package in (string[])["@segment/analytics-next", "@rudderstack/analytics-js", "playwright-core"])
        {
            Assert.True(Directory.Exists(RepoPaths.Combine("sdk-js", "node_modules", package)), $"sdk-js/node_modules lacks {package}: run npm ci in sdk-js (./test.sh does)");
        }

        var customer = $"{client}-{Guid.NewGuid():N}";
        var script = RepoPaths.Combine("sdk-js", "test", "compat", "browser-clients.mjs");
        using var browser = await BrowserScenario.RunAsync(script, client, _services, new Dictionary<string, string> { ["userId"] = customer });
        var result = browser.Result;
        Assert.True(result.Str("error") is null, $"the {client} page failed: {result.Str("error")}\n{browser.Output}");
        var steps = result.GetProperty("steps");
        JsonElement[] sent = [steps.GetProperty("identify"), steps.GetProperty("page"), steps.GetProperty("track"), steps.GetProperty("group"), .. steps.GetProperty("batch").EnumerateArray(), steps.GetProperty("closed")];
        await browser.FinishAsync();

        // Nothing came from a CDN or a vendor's control plane, and the browser let every request through CORS.
        Assert.Equal("[]", result.GetProperty("elsewhere").GetRawText());
        Assert.Equal(PathsOf[client], sent.Take(6).Select(e => e.Str("path")));
        Assert.Equal("false", result.Str("sentBeforeClose"));
        var posts = result.GetProperty("wire").EnumerateArray().Where(w => w.Str("method") == "POST" && w.Str("path") != "/v1/m" && w.Str("path")!.StartsWith("/v1", StringComparison.Ordinal)).ToArray();
        Assert.All(posts, post => Assert.Equal("200", post.Str("status")));
        if (client == "rudder")
        {
            // The headers the collector's CORS once refused: each request carried them and was answered.
            Assert.All(posts, post => Assert.NotNull(post.Str("headers", "anonymousid")));
            Assert.All(posts, post => Assert.NotNull(post.Str("headers", "sentat")));
        }
        else
        {
            Assert.All(posts, post => Assert.StartsWith("Basic ", post.Str("headers", "authorization"), StringComparison.Ordinal));
            Assert.All(posts, post => Assert.StartsWith("text/plain", post.Str("headers", "content-type"), StringComparison.Ordinal));
            Assert.Equal("true", result.Str("metricsAnswered"));
        }

        // Kafka holds each of the page's events exactly once, and nothing else (the metrics call is no event).
        var ids = sent.Select(e => e.Str("id")).ToArray();
        Assert.Equal(ids.Length, ids.Distinct().Count());
        var inKafka = EventsTopic.ReadAll(kafka.BootstrapServers, _services.Topic).Select(e => e.Str("messageId")).ToList();
        Assert.Equal(ids.Order(), inKafka.Order());

        // The customer's dialogue: product page (1), cart (3), specs (2), cart again, and the order of the closed page (4).
        using var connection = RedisConnection.Connect(_services.RedisConfiguration);
        var database = connection.GetDatabase();
        var dialogues = new DialogueReader(connection);
        DialogueState? dialogue = null;
        await Poll.UntilAsync("the dialogue's five web interactions, the last the order",
            async () => (dialogue = await dialogues.ReadOneAsync(customer, "tv-oled-55")) is { Stage: 4 } && dialogue.InteractionsByChannel.GetValueOrDefault("web") == 5,
            explain: () => System.Text.Json.JsonSerializer.Serialize(dialogue));
        Assert.Equal("\"Gangnam\"", (string?)await database.HashGetAsync(RedisKeys.Traits(customer), "region"));

        // And its timeline: every event, by type and name.
        using var reader = EcrmServices.Client(_services.EngineUrl, EcrmServices.ApiKey);
        var expected = sent.Select(TypeAndName).Order().ToArray();
        var timeline = Array.Empty<string>();
        await Poll.UntilAsync("the customer's timeline of every event", async () =>
        {
            var view = await reader.GetFromJsonAsync<JsonElement>($"api/customers/{customer}?timeline=50");
            timeline = view.GetProperty("timeline") is { ValueKind: JsonValueKind.Array } entries
                ? entries.EnumerateArray().Select(TypeAndName).Order().ToArray()
                : [];
            return timeline.SequenceEqual(expected);
        }, explain: () => $"timeline {string.Join(", ", timeline)}; expected {string.Join(", ", expected)}");

        if (client == "segment")
        {
            using var metrics = new HttpClient { BaseAddress = _services.ManagementUrl("collector") };
            var text = await metrics.GetStringAsync("metrics");
            Assert.Matches(@"(?m)^ecrm_collector_client_metrics_total(\{[^}]*\})? [1-9]", text);
        }
    }

    /// <summary>"track:Order Completed", "page:", "identify:": what the browser sent and the timeline shows alike.</summary>
    private static string TypeAndName(JsonElement e) => $"{e.Str("type")}:{(e.Str("type") == "track" ? e.Str("event") : null)}";
}
