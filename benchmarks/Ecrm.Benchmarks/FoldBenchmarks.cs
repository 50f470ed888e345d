using BenchmarkDotNet.Attributes;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Folding;
using Ecrm.Testing;
using StackExchange.Redis;

namespace Ecrm.Benchmarks;

/// <summary>
/// The fold script's round trip, one event at a time, against a private redis-server started for the
/// run (AOF with appendfsync everysec, as shipped). The baseline is a PING over the same connection:
/// the ratio column is what the fold costs beyond one Redis round trip.
/// </summary>
[MemoryDiagnoser]
public class FoldBenchmarks
{
    private const int Customers = 10_000;
    private readonly List<TopicStage> _matches = new(4);
    private RedisFixture? _redisServer;
    private ConnectionMultiplexer _redis = null!;
    private DialogueFolder _folder = null!;
    private TopicMatcher _matcher = null!;
    private EventEnvelope _event = null!;
    private long _sequence;

    [GlobalSetup]
    public void Setup()
    {
        _redisServer = RedisFixture.WithAppendOnlyFile();
        _redisServer.InitializeAsync().GetAwaiter().GetResult();
        _redis = _redisServer.Connection;

        var catalog = TopicCatalog.Parse(File.ReadAllBytes(RepoPaths.Combine("dev", "demo", "topic-catalog.json"))).Catalog!;
        _matcher = new TopicMatcher(catalog.WithVersion(1));
        _folder = new DialogueFolder(new DialogueStore(_redis, new EngineOptions().Dedupe));
        _event = new EventEnvelope
        {
            Type = EventType.Page,
            Channel = Channel.Web,
            AnonymousId = "bench-0",
            Context = new EventContext { Page = new PageContext { Path = "/tv/oled-55/specs" } },
        };
        _matcher.Match(_event, _matches);
        if (_matches.Count == 0)
        {
            throw new InvalidOperationException("the demo catalog no longer maps /tv/oled-55/specs to a topic");
        }

        // Every customer already has the dialogue, as most folds find it.
        for (var c = 0; c < Customers; c++)
        {
            FoldNewEvent();
        }

        // The repeated event was folded: it comes again as a Kafka re-delivery (same partition and offset).
        _event.MessageId = "repeated";
        _event.AnonymousId = "bench-repeated";
        _folder.FoldAsync([new FoldItem(_event, 0, 0)], _matcher).GetAwaiter().GetResult();
    }

    /// <summary>The reference: one Redis round trip over the same connection.</summary>
    [Benchmark(Baseline = true)]
    public TimeSpan PingReference() => _redis.GetDatabase().Ping();

    /// <summary>A new event of an existing dialogue: the whole script, the customer's dedupe state updated.</summary>
    [Benchmark]
    public int FoldNewEvent()
    {
        var n = ++_sequence;
        _event.MessageId = n.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _event.AnonymousId = CustomerOf(n);
        _event.Timestamp = DateTimeOffset.UnixEpoch.AddSeconds(1_790_000_000 + n);
        return _folder.FoldAsync([new FoldItem(_event, 0, n)], _matcher).GetAwaiter().GetResult()[0].Transitions.Count;
    }

    /// <summary>A re-delivered event: the script finds its offset applied and returns at once.</summary>
    [Benchmark]
    public int FoldRepeatedEvent()
    {
        _event.MessageId = "repeated";
        _event.AnonymousId = "bench-repeated";
        return _folder.FoldAsync([new FoldItem(_event, 0, 0)], _matcher).GetAwaiter().GetResult()[0].Transitions.Count;
    }

    [GlobalCleanup]
    public void Cleanup() => _redisServer?.DisposeAsync().GetAwaiter().GetResult();

    private static string CustomerOf(long n) => $"bench-{n % Customers}";
}
