using System.Diagnostics;
using System.Text.RegularExpressions;
using Ecrm.Common.Storage;
using Ecrm.Testing;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;

namespace Ecrm.IntegrationTests;

/// <summary>
/// Two dialogue engines in one consumer group split the events topic's partitions; when one is
/// killed under load, the other takes its partitions over and nothing acknowledged is lost or
/// folded twice.
/// </summary>
[Collection(BackendsCollection.Name)]
public sealed partial class TwoEngineTakeoverTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse, ITestOutputHelper output) : IAsyncLifetime
{
    private readonly EcrmServices _stack = new(kafka, redis, clickHouse);
    private ConnectionMultiplexer _redis = null!;

    public Task InitializeAsync() => this.InitializeOrDisposeAsync(async () =>
    {
        _stack.Set("Kafka__SessionTimeoutMs", "6000");
        await _stack.StartAsync();
        await _stack.PublishDemoCatalogsAsync();
        _redis = RedisConnection.Connect(_stack.RedisConfiguration);
    });

    public async Task DisposeAsync()
    {
        _redis?.Dispose();
        await _stack.DisposeAsync();
    }

    [Fact]
    public async Task TwoEnginesSplitThePartitionsAndOneTakesOverWhenTheOtherIsKilled()
    {
        const string first = "dialogue-engine";
        var second = await _stack.StartExtraEngineAsync();
        var traffic = new JourneyTraffic(_stack.CollectorUrl, "takeover");
        traffic.Start(lanes: 2, TimeSpan.FromMilliseconds(100));

        // Each engine reports lag only for the partitions it owns and has folded from.
        int[] all = [0, 1, 2];
        IReadOnlyList<int> mine = [], theirs = [];
        await Poll.UntilAsync("the engines split the partitions", async () =>
        {
            (mine, theirs) = (await FoldingPartitionsAsync(first), await FoldingPartitionsAsync(second));
            return mine.Count > 0 && theirs.Count > 0 && !mine.Intersect(theirs).Any() && mine.Union(theirs).Order().SequenceEqual(all);
        }, TimeSpan.FromSeconds(60), () => $"first: {string.Join(',', mine)}; second: {string.Join(',', theirs)}");
        output.WriteLine($"{first} folds partitions {string.Join(',', mine)}, {second} folds {string.Join(',', theirs)}");

        _stack.Kill(second);
        var killed = Stopwatch.StartNew();
        await Poll.UntilAsync("the first engine takes every partition over", async () => (mine = await FoldingPartitionsAsync(first)).Order().SequenceEqual(all),
            TimeSpan.FromSeconds(60), () => $"first: {string.Join(',', mine)}\n{_stack.Logs(first)}");
        var takeover = killed.Elapsed;
        await traffic.StopAsync();

        var audit = new DeliveryAudit(_stack, kafka.BootstrapServers, clickHouse, _redis);
        await audit.WaitUntilDeliveredAsync(traffic, TimeSpan.FromMinutes(2));
        var row = await audit.CheckAsync($"{second} SIGKILL, {first} took over in {takeover.TotalSeconds:F1} s", traffic, killed.Elapsed, await audit.ReadKafkaAsync());
        output.WriteLine(DeliveryRow.Header);
        output.WriteLine(row.ToString());
        Console.WriteLine($"{DeliveryRow.Header}\n{row}");
        Assert.True(row.Lost == 0 && row.Duplicates == 0, $"{row}\n{row.Details}");
        Assert.True(row.Acknowledged > 0);
    }

    /// <summary>The events topic's partitions an engine reports folding lag for in <c>/metrics</c>.</summary>
    private async Task<IReadOnlyList<int>> FoldingPartitionsAsync(string engine)
    {
        using var http = new HttpClient { BaseAddress = _stack.ManagementUrl(engine), Timeout = TimeSpan.FromSeconds(5) };
        var metrics = await http.GetStringAsync("metrics");
        return LagLine().Matches(metrics)
            .Select(m => Labels().Matches(m.Groups[1].Value).ToDictionary(l => l.Groups[1].Value, l => l.Groups[2].Value))
            .Where(labels => labels.GetValueOrDefault("group") == _stack.ConsumerGroup)
            .Select(labels => int.Parse(labels["partition"], System.Globalization.CultureInfo.InvariantCulture))
            .Distinct()
            .Order()
            .ToList();
    }

    [GeneratedRegex(@"^ecrm_consumer_lag\{([^}]*)\}", RegexOptions.Multiline)]
    private static partial Regex LagLine();

    [GeneratedRegex("(\\w+)=\"([^\"]*)\"")]
    private static partial Regex Labels();
}
