using Ecrm.Common.Storage;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.Recommender.Recommending;

/// <summary>What the rules need to know about one customer, read from Redis in one round of concurrent reads.</summary>
public sealed record CustomerSignals(string Customer, IReadOnlyList<DialogueState> Dialogues, bool Suppressed, IReadOnlyDictionary<string, int> Served)
{
    /// <summary>The boosted segments (of <see cref="RecommenderOptions.SegmentBoosts"/>) the customer belongs to.</summary>
    public IReadOnlySet<string> Segments { get; init; } = new HashSet<string>();
}

/// <summary>
/// Reads a customer's live dialogues and the recommender's rule state, and records what was served:
/// <list type="bullet">
/// <item>Suppression: the profile trait <c>suppressed</c> or <c>optedOut</c> set to <c>true</c> (by an
/// <c>identify</c> call, or <c>HSET ecrm:{c:ID}:traits suppressed true</c>). Such customers get generic
/// content only, and nothing about them is read or recorded beyond the flag.</item>
/// <item>Frequency cap: each item served is counted per customer in a Redis hash per fixed period
/// (<c>ecrm:{c:ID}:served:{period}</c>, expiring with the period). Counting what was served, rather than
/// the widget's <c>Recommendation Viewed</c> events, needs no round trip through Kafka and ClickHouse
/// and also covers callers without the widget (apps, email); it counts an item that was served but
/// scrolled past as shown.</item>
/// </list>
/// </summary>
public sealed class CustomerSignalReader(IConnectionMultiplexer redis, DialogueReader dialogues, IOptions<RecommenderOptions> options, TimeProvider time)
{
    private static readonly RedisValue[] SuppressionTraits = ["suppressed", "optedOut"];

    public async Task<CustomerSignals> ReadAsync(string id)
    {
        var customer = await dialogues.ResolveAsync(id);
        var database = redis.GetDatabase();
        var flags = database.HashGetAsync(RedisKeys.Traits(customer), SuppressionTraits);
        var live = dialogues.ReadResolvedAsync(customer, limit: 50);
        var cap = options.Value.FrequencyCap;
        var served = cap.MaxImpressions > 0 ? database.HashGetAllAsync(RedisKeys.Served(customer, Period(cap).Number)) : Task.FromResult<HashEntry[]>([]);
        var segments = options.Value.SegmentBoosts.Select(b => b.Segment).Distinct(StringComparer.Ordinal)
            .Select(segment => (Segment: segment, Member: database.SetContainsAsync(RedisKeys.SegmentMembers(segment), customer))).ToList();
        await Task.WhenAll([flags, live, served, .. segments.Select(s => s.Member)]);
        if (flags.Result.Any(f => f == "true"))
        {
            return new CustomerSignals(customer, [], Suppressed: true, new Dictionary<string, int>());
        }

        return new CustomerSignals(
            customer,
            live.Result,
            Suppressed: false,
            served.Result.ToDictionary(e => (string)e.Name!, e => (int)e.Value, StringComparer.Ordinal))
        {
            Segments = segments.Where(s => s.Member.Result).Select(s => s.Segment).ToHashSet(StringComparer.Ordinal),
        };
    }

    /// <summary>Counts the items as served to the customer in the current period; fire and forget, off the response's path.</summary>
    public void RecordServed(string customer, IEnumerable<string> items)
    {
        var cap = options.Value.FrequencyCap;
        if (cap.MaxImpressions <= 0)
        {
            return;
        }

        var (number, end) = Period(cap);
        var key = RedisKeys.Served(customer, number);
        var batch = redis.GetDatabase().CreateBatch();
        foreach (var item in items)
        {
            _ = batch.HashIncrementAsync(key, item, 1, CommandFlags.FireAndForget);
        }

        _ = batch.KeyExpireAsync(key, end.UtcDateTime.AddMinutes(1), CommandFlags.FireAndForget);
        batch.Execute();
    }

    private (long Number, DateTimeOffset End) Period(FrequencyCapOptions cap)
    {
        var seconds = cap.PeriodHours * 3600L;
        var number = time.GetUtcNow().ToUnixTimeSeconds() / seconds;
        return (number, DateTimeOffset.FromUnixTimeSeconds((number + 1) * seconds));
    }
}
