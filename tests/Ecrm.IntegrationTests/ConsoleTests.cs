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
/// against the funnel API, a segment count that follows its condition, the customer's timeline.
/// Screenshots land in tests/artifacts/console-*.png.
/// </summary>
[Collection(BackendsCollection.Name)]
public sealed partial class ConsoleTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse, ITestOutputHelper output) : IAsyncLifetime
{
    private const string Topic = "tv-oled-55";
    private const string Shopper = "console-shopper";
    private const string ShopperVisitor = "console-visitor-1";
    private readonly EcrmServices _stack = new(kafka, redis, clickHouse);

    public async Task InitializeAsync()
    {
        if (!File.Exists(RepoPaths.Combine("dialogue-engine", "wwwroot", "console", "app.js")))
        {
            throw new XunitException("the console is not built: run npm ci && npm run build in dialogue-engine/console (./test.sh does)");
        }

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
    }

    public async Task DisposeAsync() => await _stack.DisposeAsync();

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
        Assert.All(result.GetProperty("consoleErrors").EnumerateArray(), e => Assert.Matches("40[13]", e.GetString()!));

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
