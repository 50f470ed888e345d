using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Recommender.Models;
using Ecrm.Recommender.Training;
using Ecrm.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Ecrm.Recommender.Tests;

/// <summary>Training from, and CTR out of, a small archive inserted into a real clickhouse-server.</summary>
public sealed class ArchiveTrainingTests(RedisFixture redis, ClickHouseFixture clickHouse) : IClassFixture<RedisFixture>, IClassFixture<ClickHouseFixture>
{
    private static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddDays(-3).ToUnixTimeMilliseconds());
    private readonly string _database = $"rt_{Guid.NewGuid():N}"[..16];

    [Fact]
    public async Task InteractionsAreOnePerCustomerAndTopicWithTheDeepestStageAndTheLastTime()
    {
        var client = await ArchiveAsync();
        await InsertAsync(client,
            Event("m1", "anon-1", ("tv", 1), minutes: 0),
            Event("m2", "anon-1", ("tv", 2), minutes: 5),
            Event("m3", "cust-1", ("bar", 4), minutes: 10),
            Event("m3", "cust-1", ("bar", 4), minutes: 10), // the archive may hold a row twice
            Event("m4", "cust-2", ("tv", 3), minutes: 20),
            Event("m5", "cust-2", ("tv", 1), minutes: 30), // a later, shallower visit keeps the deeper stage
            Event("m6", "cust-2", ("bar", 1), minutes: 40),
            Event("m7", "cust-2", null, minutes: 50), // no topic: not an interaction
            Event("m8", "old-1", ("tv", 4), minutes: -60 * 24 * 400)); // before the training window
        await InsertLinkAsync(client, "anon-1", "cust-1");

        var interactions = await new ArchiveInteractions(client).ReadAsync(DateTimeOffset.UtcNow.AddDays(-365), CancellationToken.None);

        Assert.Equal(
            [("cust-1", "bar", 4.0, Start.AddMinutes(10)), ("cust-1", "tv", 2.0, Start.AddMinutes(5)), ("cust-2", "bar", 1.0, Start.AddMinutes(40)), ("cust-2", "tv", 3.0, Start.AddMinutes(30))],
            interactions.OrderBy(i => i.User).ThenBy(i => i.Item).Select(i => (i.User, i.Item, i.Weight, i.Time)));
    }

    [Fact]
    public async Task TrainingReadsTheArchiveSavesAVersionedModelAndPutsItInService()
    {
        var client = await ArchiveAsync();
        await InsertHistoryAsync(client);
        await using var host = Host();
        await host.StartAsync();

        var trained = await host.Services.GetRequiredService<ModelTraining>().TrainAsync([ModelKind.Sar, ModelKind.Ease], progress: null, CancellationToken.None);

        Assert.Equal([ModelKind.Sar, ModelKind.Ease], trained.Select(t => t.Kind));
        Assert.All(trained, t =>
        {
            Assert.Equal(75, t.Users);
            Assert.Equal(5, t.Items);
            Assert.True(File.Exists(t.Path));
            Assert.Equal(t.Version, host.Models.Get(t.Kind)!.Version);
        });
        // The model scores from the customer's live dialogues.
        await host.SetDialogueAsync("live-1", "tv", stage: 2);
        var recommendation = await host.Recommender.RecommendAsync("live-1", 5, new HashSet<string>());
        Assert.Equal(("bar-intro", "customers interested in OLED TV also looked at Soundbar"), (recommendation.Items[2].Id, recommendation.Items[2].Reason));
    }

    [Fact]
    public async Task TheTrainCommandTrainsFromTheArchiveIntoTheModelFolder()
    {
        var client = await ArchiveAsync();
        await InsertHistoryAsync(client);
        var folder = Directory.CreateTempSubdirectory("ecrm-train-").FullName;

        var exitCode = await TrainCommand.RunAsync([
            "train", "--model", "sar", "--contentRoot", RepoPaths.Combine("recommender"),
            $"--ClickHouse:Url={clickHouse.Url}", $"--ClickHouse:Database={_database}", $"--Recommender:ModelDirectory={folder}",
            "--Logging:LogLevel:Default=Warning"]);

        Assert.Equal(0, exitCode);
        var file = Assert.Single(Directory.GetFiles(folder, "sar-*.model"));
        Assert.True(ModelFile.Load(file).KnowsUser("u0"));
        Directory.Delete(folder, recursive: true);
    }

    [Fact]
    public async Task ScheduledTrainingPutsAModelInServiceOnItsOwn()
    {
        var client = await ArchiveAsync();
        await InsertHistoryAsync(client);
        await using var host = Host(new() { ["Recommender:TrainingIntervalMinutes"] = "60", ["Recommender:Model"] = "Sar" });
        await host.StartAsync();

        for (var wait = 0; host.Models.Get(ModelKind.Sar) is null; wait++)
        {
            Assert.True(wait < 200, "the scheduled training did not put a model in service");
            await Task.Delay(100);
        }

        Assert.Single(Directory.GetFiles(host.ModelDirectory, "sar-*.model"));
    }

    [Fact]
    public async Task CtrIsReportedPerSlotAndVariantFromTrackedImpressionsAndClicks()
    {
        var client = await ArchiveAsync();
        var events = new List<string>();
        void Track(string id, string name, string recommendationId, string slot) =>
            events.Add(Row(id, "v-1", "track", name, null, 1, JsonSerializer.Serialize(new
            {
                type = "track", @event = name, messageId = id,
                properties = new { recommendationId, itemId = "tv-intro", position = 1, slot },
            })));
        for (var i = 0; i < 10; i++)
        {
            Track($"va{i}", "Recommendation Viewed", "a.r1", "home");
            Track($"vb{i}", "Recommendation Viewed", "b.r2", "home");
        }

        for (var i = 0; i < 4; i++)
        {
            Track($"vc{i}", "Recommendation Viewed", "a.r3", "cart");
        }

        Track("va0", "Recommendation Viewed", "a.r1", "home"); // a duplicate row counts once
        Track("ca0", "Recommendation Clicked", "a.r1", "home");
        Track("cb0", "Recommendation Clicked", "b.r2", "home");
        Track("cb1", "Recommendation Clicked", "b.r2", "home");
        Track("cb2", "Recommendation Clicked", "b.r2", "home");
        Track("cc0", "Recommendation Clicked", "a.r3", "cart");
        events.Add(Row("other", "v-1", "track", "Product Added", null, 1, """{"type":"track","event":"Product Added","properties":{"slot":"home"}}"""));
        await client.InsertJsonEachRowAsync("events", Encoding.UTF8.GetBytes(string.Join('\n', events)), CancellationToken.None);
        await using var host = Host();
        await host.StartAsync();
        using var http = host.Client();

        var report = await http.GetFromJsonAsync<JsonElement>("/v1/stats/ctr?days=7");

        var slots = report.GetProperty("slots").EnumerateArray()
            .Select(r => (r.GetProperty("slot").GetString(), r.GetProperty("variant").GetString(), r.GetProperty("impressions").GetInt64(), r.GetProperty("clicks").GetInt64(), r.GetProperty("ctr").GetDouble()));
        Assert.Equal([("cart", "a", 4L, 1L, 0.25), ("home", "a", 10L, 1L, 0.1), ("home", "b", 10L, 3L, 0.3)], slots);
        var variants = report.GetProperty("variants").EnumerateArray()
            .Select(r => (r.GetProperty("variant").GetString(), r.GetProperty("impressions").GetInt64(), r.GetProperty("clicks").GetInt64(), r.GetProperty("ctr").GetDouble()));
        Assert.Equal([("a", 14L, 2L, 0.1429), ("b", 10L, 3L, 0.3)], variants);
    }

    private RecommenderHost Host(Dictionary<string, string>? settings = null) => new(redis, new Dictionary<string, string>(settings ?? [])
    {
        ["ClickHouse:Url"] = clickHouse.Url,
        ["ClickHouse:Database"] = _database,
    });

    private async Task<ArchiveClient> ArchiveAsync()
    {
        var client = clickHouse.Client(_database);
        await ArchiveSchema.EnsureAsync(client, CancellationToken.None);
        return client;
    }

    /// <summary><see cref="RecommenderHost.History"/> as archived events, one per interaction, with the stage as reached.</summary>
    private static Task InsertHistoryAsync(ArchiveClient client) =>
        InsertAsync(client, [.. RecommenderHost.History().Select((i, n) => Event($"h{n}", i.User, (i.Item, (int)i.Weight), minutes: n))]);

    private static Task InsertAsync(ArchiveClient client, params string[] rows) =>
        client.InsertJsonEachRowAsync("events", Encoding.UTF8.GetBytes(string.Join('\n', rows)), CancellationToken.None);

    private static Task InsertLinkAsync(ArchiveClient client, string linked, string customer) =>
        client.InsertJsonEachRowAsync("identity_links", Encoding.UTF8.GetBytes(
            $$"""{"linked_id":"{{linked}}","customer_key":"{{customer}}","message_id":"link-{{linked}}","timestamp":{{Start.ToUnixTimeSeconds()}},"archived_at_ms":1}"""), CancellationToken.None);

    private static string Event(string id, string customer, (string Topic, int Stage)? match, int minutes) =>
        Row(id, customer, "page", "", match, minutes, """{"type":"page"}""");

    private static string Row(string id, string customer, string type, string name, (string Topic, int Stage)? match, int minutes, string payload)
    {
        var at = Start.AddMinutes(minutes);
        return JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["message_id"] = id,
            ["customer_key"] = customer,
            ["anonymous_id"] = "",
            ["user_id"] = customer,
            ["type"] = type,
            ["event"] = name,
            ["channel"] = "web",
            ["timestamp"] = at.ToUnixTimeSeconds(),
            ["timestamp_ms"] = at.ToUnixTimeMilliseconds(),
            ["received_at"] = at.ToUnixTimeSeconds(),
            ["received_at_ms"] = at.ToUnixTimeMilliseconds(),
            ["kafka_partition"] = 0,
            ["kafka_offset"] = 0,
            ["topics"] = match is { } m ? new[] { m.Topic } : Array.Empty<string>(),
            ["stages"] = match is { } s ? new[] { s.Stage } : Array.Empty<int>(),
            ["payload"] = payload,
            ["archived_at_ms"] = 1L,
        });
    }
}
