using Ecrm.Common.Storage;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.Recommender.Recommending;

/// <summary>Of a live dialogue, what the rules use: its topic, the stage reached and whether it converted.</summary>
public sealed record LiveDialogue(string Topic, int Stage, string Status);

/// <summary>What the rules need to know about one customer, read from Redis in one round trip.</summary>
public sealed record CustomerSignals(string Customer, IReadOnlyList<LiveDialogue> Dialogues, bool Suppressed, IReadOnlyDictionary<string, int> Served)
{
    /// <summary>The boosted segments (of <see cref="RecommenderOptions.SegmentBoosts"/>) the customer belongs to.</summary>
    public IReadOnlySet<string> Segments { get; init; } = NoSegments;

    private static readonly IReadOnlySet<string> NoSegments = new HashSet<string>();
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
public sealed class CustomerSignalReader(IConnectionMultiplexer redis, IOptions<RecommenderOptions> options, TimeProvider time)
{
    /// <summary>How many of the customer's most recent dialogues are read.</summary>
    private const int DialogueLimit = 50;


    private static readonly IReadOnlyDictionary<string, int> NothingServed = new Dictionary<string, int>(StringComparer.Ordinal);

    /// <summary>
    /// One pipelined batch: the script reading the customer's own keys (owner, traits, served counts,
    /// dialogues), and the segment memberships, which live in other slots. An id merged into another
    /// customer costs one more batch per alias hop. With <paramref name="anonymousOnly"/> (a browser that
    /// proved no user id) an id that is a known customer's reads as nothing at all: null.
    /// </summary>
    public async Task<CustomerSignals?> ReadAsync(string id, bool anonymousOnly = false)
    {
        var settings = options.Value;
        var readServed = settings.FrequencyCap.MaxImpressions > 0;
        var period = readServed ? Period(settings.FrequencyCap).Number : 0;
        var boosted = settings.SegmentBoosts.Length == 0 ? [] : settings.SegmentBoosts.Select(b => b.Segment).Distinct(StringComparer.Ordinal).ToArray();
        var database = redis.GetDatabase();
        var customer = id;
        for (var hop = 0; ; hop++)
        {
            var batch = database.CreateBatch();
            var state = DialogueStore.ReadSignalsScript.EvaluateAsync(batch, new
            {
                refuseKnown = anonymousOnly && hop == 0 ? "1" : "0",
                knownUser = RedisKeys.KnownUser(customer),
                identities = RedisKeys.Identities(customer),
                followOwner = hop < DialogueStore.MaxOwnerHops ? "1" : "0",
                owner = RedisKeys.Owner(customer),
                traits = RedisKeys.Traits(customer),
                readServed = readServed ? "1" : "0",
                served = RedisKeys.Served(customer, period),
                topics = RedisKeys.CustomerTopics(customer),
                limit = DialogueLimit,
                dialoguePrefix = RedisKeys.DialoguePrefix(customer),
                stageField = DialogueFields.Stage,
                statusField = DialogueFields.Status,
            });
            var members = new Task<bool>[boosted.Length];
            for (var i = 0; i < boosted.Length; i++)
            {
                members[i] = batch.SetContainsAsync(RedisKeys.SegmentMembers(boosted[i]), customer);
            }

            batch.Execute();
            var result = (RedisResult[])(await state)!;
            var owner = (string?)result[0];
            if (!string.IsNullOrEmpty(owner))
            {
                customer = owner;
                continue;
            }

            if ((int)result[1] == 2)
            {
                return null;
            }

            if ((int)result[1] == 1)
            {
                return new CustomerSignals(customer, [], Suppressed: true, NothingServed);
            }

            var dialogues = new List<LiveDialogue>((result.Length - 3) / 2);
            for (var i = 3; i + 1 < result.Length; i += 2)
            {
                var stageAndStatus = (RedisResult[])result[i + 1]!;
                dialogues.Add(new LiveDialogue((string)result[i]!, (int)stageAndStatus[0], (string?)stageAndStatus[1] ?? DialogueStatus.Open));
            }

            var signals = new CustomerSignals(customer, dialogues, Suppressed: false, Served((RedisResult[])result[2]!));
            if (boosted.Length == 0)
            {
                return signals;
            }

            var segments = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < boosted.Length; i++)
            {
                if (await members[i])
                {
                    segments.Add(boosted[i]);
                }
            }

            return signals with { Segments = segments };
        }
    }

    private static IReadOnlyDictionary<string, int> Served(RedisResult[] pairs)
    {
        if (pairs.Length == 0)
        {
            return NothingServed;
        }

        var served = new Dictionary<string, int>(pairs.Length / 2, StringComparer.Ordinal);
        for (var i = 0; i + 1 < pairs.Length; i += 2)
        {
            served[(string)pairs[i]!] = (int)pairs[i + 1];
        }

        return served;
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
