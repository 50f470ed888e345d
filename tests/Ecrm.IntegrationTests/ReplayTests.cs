using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ecrm.Common.Storage;
using Ecrm.Testing;
using StackExchange.Redis;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>Replay on a single redis-server.</summary>
[Collection(BackendsCollection.Name)]
public sealed class ReplayTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse)
    : ReplayScenarios(kafka, redis, clickHouse);

/// <summary>Replay on a 3-primary Redis Cluster: <c>--clear</c> must empty every primary, and the state is compared across all of them.</summary>
[Collection(BackendsCollection.Name)]
public sealed class RedisClusterReplayTests(KafkaFixture kafka, RedisClusterFixture redis, ClickHouseFixture clickHouse)
    : ReplayScenarios(kafka, redis, clickHouse);

/// <summary>
/// The replay command rebuilds, from the ClickHouse archive alone, the same Redis state that live
/// folding built: every dialogue, episode history, identity link and trait.
/// </summary>
public abstract partial class ReplayScenarios(KafkaFixture kafka, IRedisBackend redis, ClickHouseFixture clickHouse) : IAsyncLifetime
{
    private readonly EcrmServices _stack = new(kafka, redis, clickHouse);
    private ConnectionMultiplexer _redis = null!;

    public Task InitializeAsync() => this.InitializeOrDisposeAsync(async () =>
    {
        // The generated history spans 60 days, beyond the collector's default limit for queued events.
        _stack.Set("Collector__MaxEventAgeDays", "90");
        await _stack.StartAsync();
        _redis = RedisConnection.Connect(_stack.RedisConfiguration + ",allowAdmin=true");
        // replay --clear empties every customer key of the database, and the snapshots compare them all:
        // the test owns the keyspace. On the cluster's one database earlier stacks' customers are still
        // there (and logical databases are reused after 16 stacks), so it starts from none.
        await Task.WhenAll((await _redis.KeysOnEveryPrimaryAsync(RedisKeys.AllCustomersPattern).ToListAsync()).Select(key => _redis.GetDatabase().KeyDeleteAsync(key)));
        await _stack.PublishDemoCatalogsAsync();
    });

    public async Task DisposeAsync()
    {
        _redis?.Dispose();
        await _stack.DisposeAsync();
    }

    [Fact]
    public async Task ReplayFromTheArchiveRebuildsTheStateLiveFoldingBuilt()
    {
        // A few thousand mixed events: web, email and mobile journeys over 60 days (so some dialogues
        // go dormant and reopen), purchases, and logins that merge visitors into customers.
        var (exitCode, output) = await _stack.RunCommandAsync("benchmarks/Ecrm.LoadDriver", "Ecrm.LoadDriver",
            ["demo", "--collector", _stack.CollectorUrl.ToString(), "--write-key", EcrmServices.WriteKey,
             "--catalog", RepoPaths.Combine("dev", "demo", "topic-catalog.json"), "--customers", "1000", "--seed", "17", "--history-days", "60"],
            TimeSpan.FromMinutes(3));
        Assert.True(exitCode == 0, output);
        var sent = int.Parse(SentEvents().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(sent, 2000, 20_000);
        // And two customers whose dialogues certainly open a second episode: one back after 44 days
        // of silence, one back after a purchase.
        using (var collector = EcrmServices.Client(_stack.CollectorUrl))
        {
            string[] episodes =
            [
                Event("ep-dormant", "page", 50, "\"context\":{\"page\":{\"path\":\"/tv/oled-55\"}}"),
                Event("ep-dormant", "page", 49, "\"context\":{\"page\":{\"path\":\"/tv/oled-55/specs\"}}"),
                Event("ep-dormant", "page", 5, "\"context\":{\"page\":{\"path\":\"/tv/oled-55\"}}"),
                Event("ep-bought", "track", 3, "\"event\":\"Order Completed\",\"properties\":{\"sku\":\"oled-55\"}"),
                Event("ep-bought", "page", 1, "\"context\":{\"page\":{\"path\":\"/tv/oled-55\"}}"),
            ];
            using var body = new StringContent("{\"batch\":[" + string.Join(',', episodes) + "]}", System.Text.Encoding.UTF8, "application/json");
            Assert.Equal(System.Net.HttpStatusCode.OK, (await collector.PostAsync("v1/batch", body)).StatusCode);
            sent += episodes.Length;
        }

        await EventuallyAsync("every event is folded and announced", async () => await CountFoldedAndAnnouncedAsync() == sent);
        await EventuallyAsync("every event is archived", async () =>
            (await clickHouse.QueryAsync($"SELECT count() FROM {_stack.ClickHouseDatabase}.events FINAL FORMAT TSV")).Trim() == sent.ToString(CultureInfo.InvariantCulture));
        var live = await SnapshotAsync();
        Assert.Contains(live.Keys, k => k.Contains(":hist:", StringComparison.Ordinal));
        Assert.Contains(live.Keys, k => k.EndsWith(":owner", StringComparison.Ordinal));

        _stack.Kill("dialogue-engine");
        (exitCode, output) = await _stack.RunCommandAsync("dialogue-engine", "Ecrm.DialogueEngine",
            ["replay", "--clear", "--contentRoot", RepoPaths.Combine("dialogue-engine")], TimeSpan.FromMinutes(3));

        Assert.True(exitCode == 0, output);
        Assert.Contains($"replayed {sent:N0} events", output, StringComparison.Ordinal);
        var replayed = await SnapshotAsync();
        var differences = live.Keys.Union(replayed.Keys)
            .Where(k => live.GetValueOrDefault(k) != replayed.GetValueOrDefault(k))
            .Select(k => $"{k}\n  live:     {live.GetValueOrDefault(k)}\n  replayed: {replayed.GetValueOrDefault(k)}")
            .ToList();
        Assert.True(differences.Count == 0, $"{differences.Count} of {live.Count} keys differ:\n{string.Join('\n', differences.Take(10))}");
    }

    private static string Event(string anonymousId, string type, int daysAgo, string fields) =>
        "{\"type\":\"" + type + "\",\"anonymousId\":\"" + anonymousId + "\",\"channel\":\"web\",\"messageId\":\"" + Guid.NewGuid()
        + "\",\"originalTimestamp\":\"" + DateTimeOffset.UtcNow.AddDays(-daysAgo).ToString("O") + "\"," + fields + "}";

    /// <summary>
    /// The events the engine folded and announced: its folded counter, which counts a batch only once its
    /// stage changes are published and marked.
    /// </summary>
    private async Task<long> CountFoldedAndAnnouncedAsync()
    {
        using var http = new HttpClient { BaseAddress = _stack.ManagementUrl("dialogue-engine"), Timeout = TimeSpan.FromSeconds(5) };
        var line = (await http.GetStringAsync("metrics")).Split('\n').FirstOrDefault(l => l.StartsWith("ecrm_engine_events_folded_total ", StringComparison.Ordinal));
        return line is null ? 0 : (long)double.Parse(line[(line.IndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Every customer key but the dedupe state (offsets, recent ids, merge markers: a replay has no Kafka offsets), as text. Scores are rounded: the order of
    /// floating-point additions may differ where a merge and a fold crossed in time.
    /// </summary>
    private async Task<Dictionary<string, string>> SnapshotAsync()
    {
        var database = _redis.GetDatabase();
        var snapshot = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var key in await KeysAsync(RedisKeys.AllCustomersPattern))
        {
            var name = key.ToString();
            if (name.EndsWith(":fold", StringComparison.Ordinal))
            {
                continue;
            }

            snapshot[name] = await database.KeyTypeAsync(key) switch
            {
                RedisType.Hash => Fields((await database.HashGetAllAsync(key)).Select(e => ((string)e.Name!, (string)e.Value!))),
                RedisType.SortedSet => string.Join(';', (await database.SortedSetRangeByRankWithScoresAsync(key)).Select(e => $"{e.Element}={e.Score}").Order(StringComparer.Ordinal)),
                RedisType.Set => string.Join(';', (await database.SetMembersAsync(key)).Select(m => (string)m!).Order(StringComparer.Ordinal)),
                RedisType.List => string.Join(" | ", (await database.ListRangeAsync(key)).Select(item =>
                    Fields(JsonSerializer.Deserialize<Dictionary<string, string>>((string)item!)!.Select(f => (f.Key, f.Value))))),
                _ => (string?)await database.StringGetAsync(key) ?? "",
            };
        }

        return snapshot;
    }

    private static string Fields(IEnumerable<(string Name, string Value)> fields) =>
        string.Join(';', fields
            .Select(f => f.Name == DialogueFields.Score ? (f.Name, Value: double.Parse(f.Value, CultureInfo.InvariantCulture).ToString("F3", CultureInfo.InvariantCulture)) : f)
            .Select(f => $"{f.Name}={f.Value}")
            .Order(StringComparer.Ordinal));

    private async Task<List<RedisKey>> KeysAsync(string pattern) => await _redis.KeysOnEveryPrimaryAsync(pattern).ToListAsync();

    private Task EventuallyAsync(string what, Func<Task<bool>> condition) =>
        Poll.UntilAsync(what, condition, TimeSpan.FromSeconds(60), () => $"engine log:\n{_stack.Logs("dialogue-engine")}");

    [GeneratedRegex(@"sent (\d+) events")]
    private static partial Regex SentEvents();
}
