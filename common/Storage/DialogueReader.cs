using Ecrm.Common.Catalog;
using StackExchange.Redis;

namespace Ecrm.Common.Storage;

/// <summary>
/// One customer's dialogue with one topic (its current episode), as the dialogue engine keeps it in
/// Redis. <paramref name="ScoreAtLastInteraction"/> is the interest score as of the last interaction;
/// <see cref="ScoreAt"/> decays it to a moment.
/// </summary>
public sealed record DialogueState(
    string Topic,
    int Stage,
    string Status,
    DateTimeOffset? FirstInteraction,
    DateTimeOffset? LastInteraction,
    IReadOnlyList<StageReached> StagesReached,
    IReadOnlyDictionary<string, long> InteractionsByChannel,
    long CatalogVersion,
    int Episode = 1,
    double ScoreAtLastInteraction = 0)
{
    /// <summary>The stored status, except that an open dialogue idle past the dormancy reads as dormant.</summary>
    public string StatusAt(DateTimeOffset now, CatalogSettings settings) =>
        Status == DialogueStatus.Open && LastInteraction is { } last && now - last >= settings.Dormancy ? DialogueStatus.Dormant : Status;

    /// <summary>The interest score decayed from the last interaction to <paramref name="now"/>.</summary>
    public double ScoreAt(DateTimeOffset now, CatalogSettings settings) =>
        LastInteraction is { } last && now > last
            ? ScoreAtLastInteraction * Math.Pow(0.5, (now - last) / settings.ScoreHalfLife)
            : ScoreAtLastInteraction;
}

public sealed record StageReached(int Stage, DateTimeOffset At, string Channel);

/// <summary>Reads a customer's dialogues: the one read path shared by the APIs and the recommender.</summary>
public sealed class DialogueReader(IConnectionMultiplexer redis)
{
    /// <summary>The customer's dialogues, most recently active first.</summary>
    public async Task<IReadOnlyList<DialogueState>> ReadAsync(string customer, int limit = 200) =>
        await ReadResolvedAsync(await ResolveAsync(customer), limit);

    /// <summary>The dialogues of a customer id already resolved with <see cref="ResolveAsync"/>, most recently active first.</summary>
    public async Task<IReadOnlyList<DialogueState>> ReadResolvedAsync(string customer, int limit = 200)
    {
        var database = redis.GetDatabase();
        var topics = await database.SortedSetRangeByRankAsync(RedisKeys.CustomerTopics(customer), 0, limit - 1, Order.Descending);
        if (topics.Length == 0)
        {
            return [];
        }

        var reads = topics.Select(topic => database.HashGetAllAsync(RedisKeys.Dialogue(customer, topic!))).ToArray();
        await Task.WhenAll(reads);
        var dialogues = new List<DialogueState>(topics.Length);
        for (var i = 0; i < topics.Length; i++)
        {
            if (reads[i].Result is { Length: > 0 } fields)
            {
                dialogues.Add(Parse(topics[i]!, fields));
            }
        }

        return dialogues;
    }

    /// <summary>One dialogue of a customer id as it is stored (no owner followed); null when there is none.</summary>
    public async Task<DialogueState?> ReadOneAsync(string customer, string topic) =>
        await redis.GetDatabase().HashGetAllAsync(RedisKeys.Dialogue(customer, topic)) is { Length: > 0 } fields ? Parse(topic, fields) : null;

    /// <summary>The customer an id belongs to: itself, or the customer it was merged into (following aliases a few steps).</summary>
    public async Task<string> ResolveAsync(string id)
    {
        var database = redis.GetDatabase();
        for (var hop = 0; hop < 4 && await database.StringGetAsync(RedisKeys.Owner(id)) is { IsNull: false } owner; hop++)
        {
            id = owner!;
        }

        return id;
    }

    /// <summary>A dialogue from its hash's fields (as HGETALL returns them, here or inside a script).</summary>
    public static DialogueState Parse(string topic, HashEntry[] fields)
    {
        var values = fields.ToDictionary(f => (string)f.Name!, f => f.Value, StringComparer.Ordinal);
        var stage = (int)values.GetValueOrDefault(DialogueFields.Stage, 0);
        var reached = new List<StageReached>();
        for (var s = 1; s <= stage; s++)
        {
            if (values.TryGetValue(DialogueFields.StageReachedAt(s), out var at))
            {
                reached.Add(new StageReached(s, FromUnixMs((long)at), values.GetValueOrDefault(DialogueFields.StageReachedVia(s), "").ToString()));
            }
        }

        var interactions = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (name, value) in values)
        {
            if (name.StartsWith(DialogueFields.InteractionCount(""), StringComparison.Ordinal))
            {
                interactions[name[DialogueFields.InteractionCount("").Length..]] = (long)value;
            }
        }

        return new DialogueState(
            topic,
            stage,
            values.GetValueOrDefault(DialogueFields.Status, DialogueStatus.Open).ToString(),
            values.TryGetValue(DialogueFields.First, out var first) ? FromUnixMs((long)first) : null,
            values.TryGetValue(DialogueFields.Last, out var last) ? FromUnixMs((long)last) : null,
            reached,
            interactions,
            (long)values.GetValueOrDefault(DialogueFields.CatalogVersion, 0),
            (int)values.GetValueOrDefault(DialogueFields.Episode, 1),
            (double)values.GetValueOrDefault(DialogueFields.Score, 0));
    }

    /// <summary>The dialogue's finished episodes, oldest first, each as the fields it had when it ended.</summary>
    public async Task<IReadOnlyList<IReadOnlyDictionary<string, string>>> ReadHistoryAsync(string customer, string topic)
    {
        customer = await ResolveAsync(customer);
        var entries = await redis.GetDatabase().ListRangeAsync(RedisKeys.DialogueHistory(customer, topic));
        return entries
            .Select(e => (IReadOnlyDictionary<string, string>)(System.Text.Json.JsonSerializer.Deserialize(e.ToString(), HistoryJsonContext.Default.DictionaryStringString) ?? []))
            .ToList();
    }

    private static DateTimeOffset FromUnixMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class HistoryJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
