using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Archive;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Ecrm.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>
/// The console's trigger and pipeline endpoints on the real servers: conversions after firing from the
/// ClickHouse archive, and Kafka lag read from the mock cluster's committed offsets.
/// </summary>
[Collection(ArchiveCollection.Name)]
public sealed class TriggerConversionAndPipelineTests : IClassFixture<KafkaFixture>, IAsyncLifetime
{
    private const string Topic = "tv-oled-55";
    private readonly KafkaFixture _kafka;
    private readonly WebhookReceiver _receiver = new();
    private readonly TriggerEngineHost _engine;
    private readonly string _rule = $"conv-{Guid.NewGuid():N}"[..20];

    public TriggerConversionAndPipelineTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse)
    {
        _kafka = kafka;
        _engine = new TriggerEngineHost(kafka, redis.IsolatedConfiguration(), clickHouse, $"conv_{Guid.NewGuid():N}"[..20], settings: new Dictionary<string, string>
        {
            // A port nothing listens on, and a service left unconfigured.
            ["Pipeline:CollectorMetricsUrl"] = $"http://127.0.0.1:{ServerProcess.FreePort()}/metrics",
            ["Pipeline:RecommenderMetricsUrl"] = "",
        });
    }

    public async Task InitializeAsync()
    {
        _engine.Start();
        await _engine.CreateRuleAsync($$$"""{"id":"{{{_rule}}}","when":{"topic":"{{{Topic}}}","toStage":2},"action":{"type":"webhook","url":"{{{_receiver.Url()}}}","secret":"a-webhook-secret-of-the-rule-0123"}}""");
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        _receiver.Dispose();
    }

    [Fact]
    public async Task ConversionsCountFiringsFollowedByADeeperStageOfTheTopicWithinTheWindow()
    {
        var clickHouse = _engine.Services.GetRequiredService<ArchiveClient>();
        await ArchiveSchema.EnsureAsync(clickHouse, CancellationToken.None);
        var t0 = new DateTimeOffset(DateTime.UtcNow.Date.AddDays(-1).AddHours(9), TimeSpan.Zero);
        var earlier = t0.AddDays(-2);
        await InsertAsync(clickHouse, ArchiveSchema.TriggerFirings,
            Firing("f-fast", _rule, "c-fast", 2, t0),                     // stage 3 after 1 h
            Firing("f-slow", _rule, "c-slow", 2, t0),                     // stage 3 after 3 h
            Firing("f-never", _rule, "c-o'never", 2, t0),                 // only other topics, same stage, or before the firing
            Firing("f-quiet", _rule, "c-fast", 2, t0, "suppressed"),      // acted on nobody
            Firing("f-other", "another-rule", "c-fast", 2, t0),           // another rule's firing
            Firing("f-early", _rule, "c-early", 2, earlier),              // another day, stage 4 after 30 min
            Firing("f-early", _rule, "c-early", 2, earlier, "delivered", version: 2)); // its later state: counted once
        await InsertAsync(clickHouse, ArchiveSchema.Transitions,
            Transition("c-fast", Topic, 3, t0.AddHours(1)),
            Transition("c-slow", Topic, 3, t0.AddHours(3)),
            Transition("c-o'never", "sofa-3-seat", 4, t0.AddMinutes(10)),
            Transition("c-o'never", Topic, 2, t0.AddMinutes(5)),
            Transition("c-o'never", Topic, 4, t0.AddHours(-1)),
            Transition("c-early", Topic, 4, earlier.AddMinutes(30)));

        var range = $"from={earlier:yyyy-MM-dd}&to={t0:yyyy-MM-dd}";
        var twoHours = await _engine.Api.GetFromJsonAsync<JsonElement>($"api/triggers/{_rule}/conversions?{range}&window=2h");
        Assert.Equal((4L, 2L, "2h"), (twoHours.GetProperty("fired").GetInt64(), twoHours.GetProperty("converted").GetInt64(), twoHours.GetProperty("window").GetString()));
        Assert.Equal(0.5, twoHours.GetProperty("rate").GetDouble(), 6);
        Assert.Equal(
            [($"{earlier:yyyy-MM-dd}", 1L, 1L), ($"{t0:yyyy-MM-dd}", 3L, 1L)],
            twoHours.GetProperty("days").EnumerateArray().Select(d => (d.GetProperty("date").GetString(), d.GetProperty("fired").GetInt64(), d.GetProperty("converted").GetInt64())));

        var fourHours = await _engine.Api.GetFromJsonAsync<JsonElement>($"api/triggers/{_rule}/conversions?{range}&window=4h");
        Assert.Equal((4L, 3L), (fourHours.GetProperty("fired").GetInt64(), fourHours.GetProperty("converted").GetInt64()));

        // Only the firings inside the range count.
        var lastDay = await _engine.Api.GetFromJsonAsync<JsonElement>($"api/triggers/{_rule}/conversions?from={t0:yyyy-MM-dd}&to={t0:yyyy-MM-dd}&window=4h");
        Assert.Equal((3L, 2L), (lastDay.GetProperty("fired").GetInt64(), lastDay.GetProperty("converted").GetInt64()));
    }

    [Theory]
    [InlineData("window=2h'%20OR%201=1", "window")]
    [InlineData("from=yesterday", "from")]
    [InlineData("limit=5", "limit")]
    public async Task ConversionsRefuseABadParameterNamingIt(string query, string field)
    {
        using var response = await _engine.Api.GetAsync($"api/triggers/{_rule}/conversions?{query}");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith($"{field}:", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString(), StringComparison.Ordinal);

        using var missing = await _engine.Api.GetAsync("api/triggers/no-such-rule/conversions");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task PipelineReportsKafkaLagPerPartitionOfEachGroupAndWhichServicesAreAway()
    {
        // The folding and archive groups do not run in this host: whatever reaches the events topic waits.
        using (var producer = KafkaClientFactory.CreateDurableProducer(new KafkaOptions { BootstrapServers = _kafka.BootstrapServers }))
        {
            for (var i = 0; i < 7; i++)
            {
                await producer.ProduceAsync(_engine.EventsTopic, new Message<string, byte[]> { Key = $"k{i}", Value = "{}"u8.ToArray() });
            }
        }

        // The trigger group reads its transitions and commits (every 5 s by default).
        await _engine.PublishAsync("c-lag", Topic, 1, 2);
        await _receiver.WaitForAsync(1, TimeSpan.FromSeconds(30));
        using var unkeyed = _engine.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await unkeyed.GetAsync("api/pipeline")).StatusCode);

        JsonElement report = default;
        await Poll.UntilAsync("the trigger group's commit", async () =>
        {
            report = await _engine.Api.GetFromJsonAsync<JsonElement>("api/pipeline");
            var triggers = Lag(report, "triggers");
            return triggers.Sum(p => p.End) == 1 && triggers.Sum(p => p.Lag) == 0 && triggers.Any(p => p.Committed == 1);
        }, TimeSpan.FromSeconds(30), () => report.ToString());

        Assert.Equal(JsonValueKind.Null, report.GetProperty("lagError").ValueKind);
        var fold = Lag(report, "fold");
        Assert.Equal(3, fold.Count);
        Assert.Equal(7, fold.Sum(p => p.Lag));
        Assert.All(fold, p => Assert.Null(p.Committed));
        Assert.Equal(6, Lag(report, "archive").Count);
        Assert.Equal(8, Lag(report, "archive").Sum(p => p.Lag));

        var services = report.GetProperty("services");
        Assert.Equal("ok", services.GetProperty("engine").GetProperty("status").GetString());
        Assert.Equal("unreachable", services.GetProperty("collector").GetProperty("status").GetString());
        Assert.Contains("/metrics", services.GetProperty("collector").GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal("not configured", services.GetProperty("recommender").GetProperty("status").GetString());

        // A second sample a second later has rates (0 here, nothing is folding) and a history of two points.
        await Task.Delay(1100);
        var next = await _engine.Api.GetFromJsonAsync<JsonElement>("api/pipeline");
        Assert.True(next.GetProperty("sampleSeconds").GetDouble() >= 1);
        Assert.True(next.GetProperty("history").GetArrayLength() >= 2);
        Assert.Equal(8 + 7, next.GetProperty("history").EnumerateArray().Last().GetProperty("lag").GetInt64());
    }

    private static List<(int Partition, long? Committed, long End, long Lag)> Lag(JsonElement report, string role) =>
        [.. report.GetProperty("lag").EnumerateArray().Where(p => p.GetProperty("role").GetString() == role).Select(p => (
            p.GetProperty("partition").GetInt32(),
            p.GetProperty("committed").ValueKind == JsonValueKind.Null ? (long?)null : p.GetProperty("committed").GetInt64(),
            p.GetProperty("end").GetInt64(),
            p.GetProperty("lag").GetInt64()))];

    private static Task InsertAsync(ArchiveClient clickHouse, string table, params Dictionary<string, object>[] rows) =>
        clickHouse.InsertJsonEachRowAsync(table, Encoding.UTF8.GetBytes(string.Join('\n', rows.Select(r => JsonSerializer.Serialize(r))) + "\n"), CancellationToken.None);

    private static Dictionary<string, object> Firing(string id, string rule, string customer, int toStage, DateTimeOffset at, string status = "delivered", int version = 1) => new Dictionary<string, object>
    {
        ["firing_id"] = id, ["rule_id"] = rule, ["customer_key"] = customer, ["topic"] = Topic, ["episode"] = 1, ["from_stage"] = toStage - 1,
        ["to_stage"] = toStage, ["channel"] = "web", ["transition_message_id"] = Guid.NewGuid().ToString(), ["transition_at"] = Seconds(at),
        ["transition_at_ms"] = at.ToUnixTimeMilliseconds(), ["status"] = status, ["attempts"] = 1, ["error"] = "", ["fired_at"] = Seconds(at),
        ["fired_at_ms"] = at.ToUnixTimeMilliseconds(), ["updated_at_ms"] = at.ToUnixTimeMilliseconds(), ["version"] = version,
    };

    private static Dictionary<string, object> Transition(string customer, string topic, int toStage, DateTimeOffset at) => new Dictionary<string, object>
    {
        ["message_id"] = Guid.NewGuid().ToString(), ["customer_key"] = customer, ["topic"] = topic, ["from_stage"] = toStage - 1, ["to_stage"] = toStage,
        ["episode"] = 1, ["channel"] = "web", ["timestamp"] = Seconds(at), ["timestamp_ms"] = at.ToUnixTimeMilliseconds(), ["catalog_version"] = 1,
        ["archived_at_ms"] = at.ToUnixTimeMilliseconds(),
    };

    private static string Seconds(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
}
