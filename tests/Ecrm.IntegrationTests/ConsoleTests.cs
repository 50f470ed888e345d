using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ecrm.Testing;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Ecrm.IntegrationTests;

/// <summary>
/// The marketer console in headless Chromium (dialogue-engine/console/test/e2e/console.mjs) against the
/// real engine with demo traffic: login, the topic overview, the funnel chart's drawn bars and labels
/// against the funnel API, a segment count that follows its condition, the customer's timeline; then,
/// with the admin key, the trigger rules with their firings, conversions and dead letters, and the
/// pipeline's health. Screenshots land in tests/artifacts/console-*.png.
/// </summary>
[Collection(BackendsCollection.Name)]
public sealed partial class ConsoleTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse, ITestOutputHelper output) : IAsyncLifetime
{
    private const string Topic = "tv-oled-55";
    private const string Shopper = "console-shopper";
    private const string ShopperVisitor = "console-visitor-1";
    private const string InterestRule = "oled-interest";
    private const string CartRule = "oled-cart-failing";
    private readonly EcrmServices _stack = new(kafka, redis, clickHouse);
    private readonly WebhookReceiver _receiver = new();
    private readonly WebhookReceiver _failing = new() { Status = 500 };

    public Task InitializeAsync() => this.InitializeOrDisposeAsync(async () =>
    {
        if (!File.Exists(RepoPaths.Combine("dialogue-engine", "wwwroot", "console", "app.js")))
        {
            throw new XunitException("the console is not built: run npm ci && npm run build in dialogue-engine/console (./test.sh does)");
        }

        // Quick retries, so the failing receiver's firings reach the dead letters within the test.
        _stack.Set("Triggers__RetryBaseMs", "100");
        _stack.Set("Triggers__MaxAttempts", "2");
        _stack.Set("Triggers__ArchiveWindowMs", "200");
        await _stack.StartAsync();
        await _stack.PublishDemoCatalogsAsync();
        var (exitCode, log) = await _stack.RunCommandAsync("benchmarks/Ecrm.LoadDriver", "Ecrm.LoadDriver",
            ["demo", "--collector", _stack.CollectorUrl.ToString(), "--write-key", EcrmServices.WriteKey,
             "--catalog", RepoPaths.Combine("dev", "demo", "topic-catalog.json"), "--customers", "300", "--seed", "11", "--history-days", "20"],
            TimeSpan.FromMinutes(3));
        Assert.True(exitCode == 0, log);
        var sent = int.Parse(SentEvents().Match(log).Groups[1].Value, CultureInfo.InvariantCulture);

        // One customer whose story we know: an anonymous visit, an email open and the specs page, then a login.
        string[] story =
        [
            Event("page", 3, "web", "\"context\":{\"page\":{\"path\":\"/tv/oled-55\"}}"),
            Event("track", 2, "email", "\"event\":\"Email Opened\",\"properties\":{\"campaign\":\"oled-launch\"}"),
            Event("page", 1, "web", "\"context\":{\"page\":{\"path\":\"/tv/oled-55/specs\"}}"),
            Event("identify", 1, "web", $"\"userId\":\"{Shopper}\",\"traits\":{{\"region\":\"Gangnam\",\"points\":12000}}"),
        ];
        using (var collector = EcrmServices.Client(_stack.CollectorUrl))
        using (var body = new StringContent("{\"batch\":[" + string.Join(',', story) + "]}", Encoding.UTF8, "application/json"))
        {
            Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", body)).StatusCode);
        }

        sent += story.Length;
        await EventuallyAsync("every event is archived", async () =>
            (await clickHouse.QueryAsync($"SELECT count() FROM {_stack.ClickHouseDatabase}.events FINAL FORMAT TSV")).Trim() == sent.ToString(CultureInfo.InvariantCulture));
        using var reader = EcrmServices.Client(_stack.EngineUrl, EcrmServices.ApiKey);
        await EventuallyAsync("the shopper's dialogue and timeline", async () =>
        {
            var view = await reader.GetFromJsonAsync<JsonElement>($"api/customers/{Shopper}");
            return view.GetProperty("dialogues").GetArrayLength() == 1 && view.GetProperty("timeline") is { ValueKind: JsonValueKind.Array } timeline && timeline.GetArrayLength() >= 3;
        });
        await StartTriggersAsync();
    });

    public async Task DisposeAsync()
    {
        await _stack.DisposeAsync();
        _receiver.Dispose();
        _failing.Dispose();
    }

    /// <summary>
    /// Two rules, then six live customers reach the specs page (stage 2: the interest rule fires) and
    /// three of them the compare page (stage 3: a conversion after firing each, and a firing of the cart
    /// rule, whose receiver fails until those firings are dead letters).
    /// </summary>
    private async Task StartTriggersAsync()
    {
        using var admin = EcrmServices.Client(_stack.EngineUrl, EcrmServices.AdminKey);
        foreach (var (id, stage, url) in new[] { (InterestRule, 2, _receiver.Url()), (CartRule, 3, _failing.Url()) })
        {
            using var rule = new StringContent(
                $$$"""{"id":"{{{id}}}","name":"OLED stage {{{stage}}}","when":{"topic":"{{{Topic}}}","toStage":{{{stage}}}},"action":{"type":"webhook","url":"{{{url}}}","secret":"a-webhook-secret-of-the-console-test"}}""",
                Encoding.UTF8, "application/json");
            using var created = await admin.PostAsync("api/triggers", rule);
            Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        }

        var live = Enumerable.Range(1, 6).Select(i => $"console-live-{i}").ToArray();
        await SendAsync(live.Select(c => LiveEvent(c, "/tv/oled-55/specs")));
        await _receiver.WaitForAsync(live.Length, TimeSpan.FromSeconds(60), r => live.Any(c => Encoding.UTF8.GetString(r.Body).Contains(c, StringComparison.Ordinal)));
        await SendAsync(live.Take(3).Select(c => LiveEvent(c, "/tv/oled-55/compare")));
        await EventuallyAsync("the interest rule's conversions are archived", async () =>
            (await admin.GetFromJsonAsync<JsonElement>($"api/triggers/{InterestRule}/conversions?window=1d")).GetProperty("converted").GetInt64() == 3);
        await EventuallyAsync("the cart rule's dead letters", async () =>
            (await admin.GetFromJsonAsync<JsonElement>($"api/triggers/dead-letters?rule={CartRule}")).GetProperty("deadLetters").GetArrayLength() >= 3);
        await EventuallyAsync("the cart rule's firings are archived", async () =>
            (await admin.GetFromJsonAsync<JsonElement>($"api/triggers/{CartRule}/firings")).GetProperty("total").GetInt64() >= 3);

        // From now on the receiver works: a replayed dead letter gets through.
        _failing.Status = 200;
    }

    private async Task SendAsync(IEnumerable<string> events)
    {
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        using var body = new StringContent("{\"batch\":[" + string.Join(',', events) + "]}", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", body)).StatusCode);
    }

    private static string LiveEvent(string customer, string path) =>
        $$$$"""{"type":"page","userId":"{{{{customer}}}}","channel":"web","messageId":"{{{{Guid.NewGuid()}}}}","originalTimestamp":"{{{{DateTimeOffset.UtcNow:O}}}}","context":{"page":{"path":"{{{{path}}}}"}}}""";

    [Fact]
    public async Task MarketerSignsInReadsTheFunnelBuildsASegmentAndLooksUpACustomer()
    {
        var result = await RunConsoleAsync();
        using var reader = EcrmServices.Client(_stack.EngineUrl, EcrmServices.ApiKey);

        // Login: a wrong key is refused, the right one is kept for the tab; sign-out forgets it.
        Assert.True(result.GetProperty("loginShown").GetBoolean());
        Assert.Contains("not accepted", result.Str("wrongKeyMessage"), StringComparison.Ordinal);
        Assert.True(result.GetProperty("keyStored").GetBoolean());
        Assert.True(result.GetProperty("loggedOut").GetBoolean());
        Assert.True(result.GetProperty("everyApiCallHadKey").GetBoolean());
        // The browser logs the refused calls: the wrong key (401), the read key on triggers (403), the invalid rule (400).
        Assert.All(result.GetProperty("consoleErrors").EnumerateArray(), e => Assert.Matches("40[013]", e.GetString()!));

        // The overview: a small funnel chart per topic with traffic, drawn as SVG bars.
        var cards = result.GetProperty("overview").GetProperty("cards").EnumerateArray().ToArray();
        var funnels = (await reader.GetFromJsonAsync<JsonElement>($"api/funnels?{Range()}&sort=conversion")).GetProperty("funnels").EnumerateArray().ToArray();
        Assert.Equal(funnels.Select(f => f.Str("topic")).Order(), cards.Select(c => c.Str("topic")).Order());
        Assert.All(cards, c => Assert.True(c.GetProperty("bars").GetInt32() >= 4, $"{c.Str("topic")}: {c.GetProperty("bars")} paths"));

        // The funnel: one drawn bar per stage with customers, labelled with the API's names and counts.
        var funnel = await reader.GetFromJsonAsync<JsonElement>($"api/funnels/{Topic}?{Range()}");
        var stages = funnel.GetProperty("stages").EnumerateArray().Select(s => (Name: s.Str("name")!, Customers: s.GetProperty("customers").GetInt64())).ToArray();
        Assert.True(stages[0].Customers > 0, "the demo traffic reached no OLED TV funnel");
        output.WriteLine($"funnel API: {funnel.GetRawText()}");
        var drawn = result.GetProperty("funnel");
        Assert.True(drawn.GetProperty("rendered").GetBoolean());
        Assert.Equal(stages, drawn.GetProperty("stages").EnumerateArray().Select(s => (s.Str("name")!, s.GetProperty("customers").GetInt64())));
        Assert.Equal(stages.Count(s => s.Customers > 0), drawn.GetProperty("stageBars").GetArrayLength());
        var texts = drawn.GetProperty("texts").EnumerateArray().Select(t => t.GetString()).ToHashSet();
        Assert.All(stages, s => Assert.Contains(s.Name, texts));
        Assert.All(stages, s => Assert.Contains(s.Customers.ToString("N0", CultureInfo.InvariantCulture), texts));
        Assert.Contains($"Funnel of 55-inch OLED TV. {stages[0].Name}: {stages[0].Customers} customers", drawn.Str("ariaLabel"), StringComparison.Ordinal);
        Assert.Contains("breakdown=channel", result.Str("breakdownUrl"), StringComparison.Ordinal);
        Assert.Contains("Web", result.GetProperty("breakdown").GetProperty("texts").EnumerateArray().Select(t => t.GetString()));
        Assert.True(result.GetProperty("trend").GetProperty("rendered").GetBoolean());

        // The segment builder: the live count follows the stage condition and agrees with the API.
        var before = result.GetProperty("segmentBefore").GetProperty("count").GetInt64();
        var after = result.GetProperty("segmentAfter").GetProperty("count").GetInt64();
        Assert.Equal(await CountAsync(reader, 1), before);
        Assert.Equal(await CountAsync(reader, 3), after);
        Assert.True(after < before, $"stage >= 3 ({after}) should be fewer than stage >= 1 ({before})");
        Assert.Equal(after + 1, result.GetProperty("export").GetProperty("lines").GetInt64());

        // The customer look-up: the dialogue with its stage and the cross-channel timeline.
        var customer = result.GetProperty("customer");
        Assert.Equal(Shopper, customer.Str("customerId"));
        Assert.Contains(ShopperVisitor, customer.GetProperty("identities").EnumerateArray().Select(i => i.GetString()));
        var dialogue = Assert.Single(customer.GetProperty("dialogues").EnumerateArray());
        Assert.Equal((Topic, 2, 2), (dialogue.Str("topic"), dialogue.GetProperty("stage").GetInt32(), dialogue.GetProperty("filled").GetInt32()));
        var history = customer.GetProperty("timeline").EnumerateArray().Single(g => g.Str("topic") == Topic);
        Assert.Equal(["web", "email", "web"], history.GetProperty("events").EnumerateArray().Select(e => e.Str("channel")));
        Assert.True(customer.GetProperty("timelineChart").GetBoolean());

        // A read key is told that triggers need the admin key (and is not signed out).
        Assert.True(result.GetProperty("triggersNeedAdmin").GetBoolean());

        // Triggers, with the admin key: the figures on screen are the API's.
        using var admin = EcrmServices.Client(_stack.EngineUrl, EcrmServices.AdminKey);
        var triggers = result.GetProperty("triggers");
        Assert.Contains(InterestRule, triggers.GetProperty("rules").EnumerateArray().Select(r => r.GetString()));
        Assert.Contains(CartRule, triggers.GetProperty("rules").EnumerateArray().Select(r => r.GetString()));
        var conversions = await admin.GetFromJsonAsync<JsonElement>($"api/triggers/{InterestRule}/conversions?window=1d");
        var firings = await admin.GetFromJsonAsync<JsonElement>($"api/triggers/{InterestRule}/firings");
        Assert.Equal(3, conversions.GetProperty("converted").GetInt64());
        Assert.Equal(conversions.GetProperty("converted").GetInt64().ToString("N0", CultureInfo.InvariantCulture), triggers.Str("converted"));
        Assert.Equal(firings.GetProperty("total").GetInt64().ToString("N0", CultureInfo.InvariantCulture), triggers.Str("firings"));
        Assert.True(triggers.GetProperty("conversion").GetProperty("rendered").GetBoolean());
        Assert.True(triggers.GetProperty("firingsChart").GetProperty("paths").GetInt32() > 0);
        Assert.True(triggers.GetProperty("recent").GetInt32() >= 6);
        Assert.Contains(triggers.GetProperty("errors").EnumerateArray(), e => e.GetString()!.StartsWith("when.toStage:", StringComparison.Ordinal));
        Assert.False((await admin.GetFromJsonAsync<JsonElement>("api/triggers/console-made")).GetProperty("enabled").GetBoolean());
        Assert.True(triggers.GetProperty("deadLetters").GetArrayLength() >= 3);
        var replayed = triggers.Str("replayed")!;
        // Its two failed attempts, then the replay's delivery.
        await _failing.WaitForAsync(3, TimeSpan.FromSeconds(30), r => Encoding.UTF8.GetString(r.Body).Contains(replayed, StringComparison.Ordinal));
        Assert.DoesNotContain(replayed, (await admin.GetFromJsonAsync<JsonElement>($"api/triggers/dead-letters?rule={CartRule}")).GetRawText(), StringComparison.Ordinal);

        // Pipeline health: every service reachable, a bar per partition of the engine's three groups.
        var health = result.GetProperty("health");
        Assert.Equal(["collector:ok", "engine:ok", "recommender:ok"], health.GetProperty("services").EnumerateObject().Select(p => $"{p.Name}:{p.Value.GetString()}").Order());
        var pipeline = await admin.GetFromJsonAsync<JsonElement>("api/pipeline");
        output.WriteLine($"pipeline API: {pipeline.GetRawText()}");
        var partitions = pipeline.GetProperty("lag").EnumerateArray().ToArray();
        Assert.Equal(["archive", "fold", "triggers"], partitions.Select(p => p.Str("role")!).Distinct().Order());
        var lagTexts = health.GetProperty("lag").GetProperty("texts").EnumerateArray().Select(t => t.GetString()).ToHashSet();
        Assert.All(partitions, p => Assert.Contains($"{p.Str("role")} · {p.Str("topic")!.Split('.')[^1]} #{p.GetProperty("partition").GetInt32()}", lagTexts));
        Assert.True(long.TryParse(health.Str("lagKpi"), NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out _), health.Str("lagKpi"));
        Assert.True(health.GetProperty("rates").GetProperty("rendered").GetBoolean());
        Assert.True(pipeline.GetProperty("services").GetProperty("collector").GetProperty("totals").GetProperty("accepted").GetDouble() > 0);

        // Nothing spills sideways on a phone, and the screenshots are kept.
        Assert.True(result.GetProperty("narrowOverflow").GetInt32() <= 0, $"the page is {result.GetProperty("narrowOverflow")} px wider than a phone");
        foreach (var shot in result.GetProperty("screenshots").EnumerateArray().Select(s => s.GetString()!))
        {
            Assert.True(new FileInfo(shot).Length > 10_000, shot);
            output.WriteLine($"screenshot: {shot}");
        }
    }

    private static string Range()
    {
        var today = DateTime.UtcNow.Date;
        return $"from={today.AddDays(-29):yyyy-MM-dd}&to={today:yyyy-MM-dd}&window=7d";
    }

    private static async Task<long> CountAsync(HttpClient reader, int minStage)
    {
        using var body = new StringContent(
            $"{{\"conditions\":{{\"dialogue\":[{{\"topic\":\"{Topic}\",\"minStage\":{minStage}}}],\"excludeSuppressed\":true}}}}", Encoding.UTF8, "application/json");
        using var response = await reader.PostAsync("api/segments/count", body);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("count").GetInt64();
    }

    private async Task<JsonElement> RunConsoleAsync()
    {
        var settings = JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["engine"] = _stack.EngineUrl.ToString().TrimEnd('/'),
            ["apiKey"] = EcrmServices.ApiKey,
            ["adminKey"] = EcrmServices.AdminKey,
            ["trigger"] = InterestRule,
            ["deadTrigger"] = CartRule,
            ["topic"] = Topic,
            ["customerId"] = ShopperVisitor,
            ["artifacts"] = RepoPaths.Combine("tests", "artifacts"),
        });
        using var process = ServerProcess.Start("node", [RepoPaths.Combine("dialogue-engine", "console", "test", "e2e", "console.mjs"), settings]);
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromMinutes(3));
        var line = process.Output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
        if (exitCode != 0 || line is null)
        {
            throw new XunitException($"the console walk-through failed (exit {exitCode}):\n{process.Output}\nengine:\n{_stack.Logs("dialogue-engine")}");
        }

        return JsonDocument.Parse(line["RESULT ".Length..]).RootElement.Clone();
    }

    private static string Event(string type, int daysAgo, string channel, string fields) =>
        "{\"type\":\"" + type + "\",\"anonymousId\":\"" + ShopperVisitor + "\",\"channel\":\"" + channel + "\",\"messageId\":\"" + Guid.NewGuid()
        + "\",\"originalTimestamp\":\"" + DateTimeOffset.UtcNow.AddDays(-daysAgo).AddMinutes(-10).ToString("O") + "\"," + fields + "}";

    private static Task EventuallyAsync(string what, Func<Task<bool>> condition) =>
        Poll.UntilAsync($"waiting for {what}", condition, TimeSpan.FromSeconds(60));

    [GeneratedRegex(@"sent (\d+) events")]
    private static partial Regex SentEvents();
}
