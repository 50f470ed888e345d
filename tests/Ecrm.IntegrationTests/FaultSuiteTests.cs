using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ecrm.Common.Storage;
using Ecrm.Testing;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;

namespace Ecrm.IntegrationTests;

/// <summary>
/// Multi-channel traffic through the whole path (collector, Kafka, engine, Redis, ClickHouse) with one
/// fault after another injected part-way, on a stack of its own: a Kafka mock cluster, a redis-server
/// persisting as shipped (AOF, appendfsync everysec) and a clickhouse-server that no other test
/// shares, since the faults would break tests running beside it. Afterwards every acknowledged event
/// is looked up in Kafka, the Redis dialogues, the archive and the funnels, and a replay of the
/// archive into another Redis database must rebuild the same dialogues. ECRM_SOAK_MINUTES=N repeats
/// the faults for N minutes (by hand; CI runs them once).
/// </summary>
public sealed class FaultSuiteTests(ITestOutputHelper output) : IAsyncLifetime
{
    // About 20 journeys (140 events) a second: load enough to be mid-request and mid-batch at every
    // fault, light enough for a shared 2-core CI machine running the other tests beside it.
    private const int Lanes = 3;
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Lead = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RecoveryLimit = TimeSpan.FromMinutes(2);

    private readonly KafkaFixture _kafka = new();
    private readonly RedisFixture _redis = RedisFixture.WithAppendOnlyFile();
    private readonly ClickHouseFixture _clickHouse = new();
    private readonly List<(string Fault, JourneyTraffic Traffic, TimeSpan Recovery)> _runs = [];
    private EcrmServices _stack = null!;
    private ConnectionMultiplexer _live = null!;
    private DeliveryAudit _audit = null!;

    public Task InitializeAsync() => this.InitializeOrDisposeAsync(async () =>
    {
        await Task.WhenAll(_redis.InitializeAsync(), _clickHouse.InitializeAsync());
        _stack = new EcrmServices(_kafka, _redis, _clickHouse);
        // Spool after 2 s without Kafka's acknowledgement; a crashed engine's partitions move after 6 s.
        _stack.Set("Collector__AckTimeoutSeconds", "2");
        _stack.Set("Kafka__SessionTimeoutMs", "6000");
        await _stack.StartAsync();
        await _stack.PublishDemoCatalogsAsync();
        _live = RedisConnection.Connect(_stack.RedisConfiguration + ",allowAdmin=true");
        _audit = new DeliveryAudit(_stack, _kafka.BootstrapServers, _clickHouse, _live);
    });

    public async Task DisposeAsync()
    {
        _live?.Dispose();
        if (_stack is not null)
        {
            _audit?.SaveLog("collector");
            _audit?.SaveLog("dialogue-engine");
            await _stack.DisposeAsync();
        }

        await _redis.DisposeAsync();
        await _clickHouse.DisposeAsync();
        _kafka.Dispose();
    }

    [Fact]
    public async Task NoAcknowledgedEventIsLostOrCountedTwiceThroughFaults()
    {
        var soak = TimeSpan.FromMinutes(double.Parse(Environment.GetEnvironmentVariable("ECRM_SOAK_MINUTES") ?? "0", CultureInfo.InvariantCulture));
        var started = Stopwatch.StartNew();
        var kafka = new DeliveryAudit.KafkaContents();
        for (var round = 1; round == 1 || started.Elapsed < soak; round++)
        {
            await FaultAsync($"r{round}kafka", "Kafka broker 1 down, then all brokers 30 s", async () =>
            {
                _kafka.Cluster.SetBrokerDown(1, down: true);
                await Task.Delay(TimeSpan.FromSeconds(3));
                SetAllBrokersDown(true);
                await Task.Delay(TimeSpan.FromSeconds(30));
                SetAllBrokersDown(false);
            });
            await FaultAsync($"r{round}collector", "collector SIGKILL under load, restarted", () =>
            {
                _stack.Kill("collector");
                return Task.CompletedTask;
            }, () => _stack.RestartAsync("collector"));
            await FaultAsync($"r{round}engine", "dialogue engine SIGKILL mid-batch, restarted", () =>
            {
                _stack.Kill("dialogue-engine");
                return Task.CompletedTask;
            }, () => _stack.RestartAsync("dialogue-engine"));
            await FaultAsync($"r{round}redis", "Redis restarted (AOF, appendfsync everysec)", () => Task.CompletedTask, _redis.RestartAsync);
            // No shutdown, and the append-only file's unsynced tail is gone: Redis comes back without folds it had
            // acknowledged, and the engine must notice and fold them again from Kafka by itself (FoldWatermarks).
            await FaultAsync($"r{round}rediskill", "Redis host crash under load: SIGKILL, AOF (everysec) loses its last 32 KB, restarted", () => Task.CompletedTask,
                () => _redis.CrashAndStartAsync(unsyncedBytes: 32 * 1024));
            await FaultAsync($"r{round}clickhouse", "ClickHouse stopped 60 s", async () =>
            {
                _clickHouse.StopServer();
                await Task.Delay(TimeSpan.FromSeconds(60));
            }, _clickHouse.StartServerAsync);
            await FaultAsync($"r{round}latency", "500 ms round trip to broker 1 for 8 s", async () =>
            {
                _kafka.Cluster.SetBrokerRoundTrip(1, TimeSpan.FromMilliseconds(500));
                await Task.Delay(TimeSpan.FromSeconds(8));
                _kafka.Cluster.SetBrokerRoundTrip(1, TimeSpan.Zero);
            });
            kafka.Add(await _audit.ReadKafkaAsync());
        }

        var rows = new List<DeliveryRow>();
        foreach (var (fault, traffic, recovery) in _runs)
        {
            rows.Add(await _audit.CheckAsync(fault, traffic, recovery, kafka));
        }

        var customers = _runs.Sum(r => r.Traffic.Journeys.Count);
        int[] expectedFunnel = [customers, customers, customers, 0];
        var funnel = Array.Empty<int>();
        await Poll.UntilAsync("the funnel counts every customer once", async () => (funnel = await _audit.FunnelAsync()).SequenceEqual(expectedFunnel), TimeSpan.FromSeconds(60));
        var (replayed, differences) = await CompareWithReplayAsync();

        var table = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"Fault suite: {started.Elapsed.TotalSeconds:F0} s; time to recover is from the fault's end until every acknowledged event was folded and archived")
            .AppendLine(DeliveryRow.Header);
        rows.ForEach(row => table.AppendLine(row.ToString()));
        table.AppendLine(CultureInfo.InvariantCulture, $"funnels API, {JourneyTraffic.Topic}: {string.Join(" / ", funnel)} customers per stage, expected {string.Join(" / ", expectedFunnel)}");
        table.AppendLine(CultureInfo.InvariantCulture, $"replay from the archive into another Redis database: {replayed} customers compared, {differences.Count} differ");
        output.WriteLine(table.ToString());
        Console.WriteLine(table.ToString());

        Assert.All(rows, row => Assert.True(row.Lost == 0 && row.Duplicates == 0, $"{row}\n{row.Details}"));
        Assert.True(differences.Count == 0, string.Join('\n', differences.Take(5)));
    }

    /// <summary>
    /// Traffic starts, the fault is injected and lifted (<paramref name="inject"/>), and from that moment
    /// no new journey starts; <paramref name="recover"/> (a restart) counts toward the time to recover.
    /// </summary>
    private async Task FaultAsync(string run, string fault, Func<Task> inject, Func<Task>? recover = null)
    {
        // ECRM_FAULTS=kafka,redis runs only those faults, for a look at one by hand.
        if (Environment.GetEnvironmentVariable("ECRM_FAULTS") is { Length: > 0 } only
            && !only.Split(',').Any(name => run.EndsWith(name.Trim(), StringComparison.Ordinal)))
        {
            return;
        }

        var traffic = new JourneyTraffic(_stack.CollectorUrl, run);
        traffic.Start(Lanes, Pause);
        await Task.Delay(Lead);
        await inject();
        var lifted = Stopwatch.StartNew();
        if (recover is not null)
        {
            await recover();
        }

        await traffic.StopAsync();
        await _audit.WaitUntilDeliveredAsync(traffic, RecoveryLimit);
        _runs.Add((fault, traffic, lifted.Elapsed));
        output.WriteLine($"{fault}: {traffic.AcknowledgedEvents} events acknowledged, delivered {lifted.Elapsed.TotalSeconds:F1} s after the fault");
    }

    private void SetAllBrokersDown(bool down)
    {
        for (var broker = 1; broker <= _kafka.Cluster.BrokerCount; broker++)
        {
            _kafka.Cluster.SetBrokerDown(broker, down);
        }
    }

    /// <summary>
    /// Replays the archive into an empty Redis database (with the live catalogs copied over) and compares
    /// every customer's dialogues, as the APIs read them, with the live ones.
    /// </summary>
    private async Task<(int Customers, List<string> Differences)> CompareWithReplayAsync()
    {
        var replayConfiguration = _redis.IsolatedConfiguration();
        using var replay = RedisConnection.Connect(replayConfiguration);
        var server = _live.GetServer(_live.GetEndPoints()[0]);
        var live = _live.GetDatabase();
        await foreach (var key in server.KeysAsync(live.Database, "*", pageSize: 1000).Where(k => !k.ToString().StartsWith("ecrm:{c:", StringComparison.Ordinal)))
        {
            await replay.GetDatabase().KeyRestoreAsync(key, await live.KeyDumpAsync(key) ?? throw new InvalidOperationException($"{key} went while it was copied"));
        }

        var (exitCode, log) = await _stack.RunCommandAsync("dialogue-engine", "Ecrm.DialogueEngine",
            ["replay", "--clear", "--contentRoot", RepoPaths.Combine("dialogue-engine")], TimeSpan.FromMinutes(3),
            new Dictionary<string, string> { ["Redis__Configuration"] = replayConfiguration });
        Assert.True(exitCode == 0, log);

        var liveReader = new DialogueReader(_live);
        var replayReader = new DialogueReader(replay);
        var differences = new List<string>();
        var customers = _runs.SelectMany(r => r.Traffic.Journeys).ToList();
        foreach (var journey in customers)
        {
            var (before, after) = (await DescribeAsync(liveReader, journey), await DescribeAsync(replayReader, journey));
            if (before != after)
            {
                differences.Add($"{journey.Customer}\n  live:     {before}\n  replayed: {after}");
            }
        }

        return (customers.Count, differences);
    }

    /// <summary>A customer's dialogues and finished episodes as text; scores rounded, since additions may come in another order.</summary>
    private static async Task<string> DescribeAsync(DialogueReader reader, JourneyTraffic.Journey journey)
    {
        var text = new StringBuilder(await reader.ResolveAsync(journey.AnonymousId));
        foreach (var d in await reader.ReadAsync(journey.Customer))
        {
            text.Append(CultureInfo.InvariantCulture, $" | {d.Topic} stage {d.Stage} {d.Status} episode {d.Episode} catalog {d.CatalogVersion} {d.FirstInteraction:O}..{d.LastInteraction:O} score {d.ScoreAtLastInteraction:F3}")
                .Append(CultureInfo.InvariantCulture, $" reached {string.Join(',', d.StagesReached.Select(s => $"{s.Stage}@{s.At:O}/{s.Channel}"))}")
                .Append(CultureInfo.InvariantCulture, $" interactions {string.Join(',', d.InteractionsByChannel.OrderBy(i => i.Key, StringComparer.Ordinal).Select(i => $"{i.Key}={i.Value}"))}")
                .Append(CultureInfo.InvariantCulture, $" history {(await reader.ReadHistoryAsync(journey.Customer, d.Topic)).Count}");
        }

        return text.ToString();
    }
}
