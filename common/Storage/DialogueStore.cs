using System.Buffers;
using System.Text.Json;
using Ecrm.Common.Catalog;
using StackExchange.Redis;

namespace Ecrm.Common.Storage;

/// <summary>
/// One event as the fold needs it. <paramref name="Partition"/> is -1 for an event that did not come from Kafka (a replay).
/// <paramref name="RecordKnown"/>: an unverified identify or alias naming this customer, for which the fold keeps whether the customer was known.
/// </summary>
public readonly record struct FoldEvent(
    string MessageId, int Partition, long Offset, long TimestampMs, string Channel, bool NamesUser, bool RecordKnown, IReadOnlyList<TopicStage> Stages);

/// <summary>The catalog's settings a fold applies (one catalog version per batch).</summary>
public readonly record struct FoldRules(long CatalogVersion, int LastStage, TimeSpan Dormancy, TimeSpan ScoreHalfLife, TimeSpan ConversionGrace)
{
    public static FoldRules Of(TopicCatalog catalog) =>
        new(catalog.Version, catalog.Stages.Last, catalog.Settings.Dormancy, catalog.Settings.ScoreHalfLife, catalog.Settings.ConversionGrace);
}

/// <summary>A stage change a fold or a merge made; <paramref name="EventIndex"/> is the index of the event in the call that caused it.</summary>
public readonly record struct FoldChange(int EventIndex, string Topic, int FromStage, int ToStage, int Episode, long CatalogVersion);

/// <summary>
/// What folding one customer's events did. When <paramref name="Owner"/> is set, the id belongs to that
/// customer now and nothing was folded of the events at <paramref name="Redirected"/>: fold them there.
/// Changes include those of repeated events that were never published (to publish again).
/// </summary>
public sealed record FoldReply(string? Owner, int[] Redirected, List<FoldChange> Changes, List<(int EventIndex, string Reason)> Dead, List<(int EventIndex, bool Known)> KnownWhenNamed);

/// <summary>How a re-sent event (a new Kafka offset, the same message id) is recognised: the customer's latest ids within a window.</summary>
public sealed record RecentIdPolicy(TimeSpan Window, int Limit);

/// <summary>
/// The Redis layout of a customer's dialogues and the scripts that change it, in one place: the fold,
/// the three steps of an identity merge, and the recommender's read. The scripts are the .lua files
/// beside this class, embedded in the assembly and run through <see cref="LuaScript"/> with named
/// parameters; every key and field name they use comes from <see cref="RedisKeys"/>,
/// <see cref="DialogueFields"/> and <see cref="FoldStateFields"/>.
///
/// Dedupe follows customers, not events: each customer keeps the last Kafka offset applied per partition
/// (re-delivery after a crash or a rebalance) and its latest message ids (<see cref="RecentIdPolicy"/>;
/// client retries and spool re-sends, which come close in time). Its memory is bounded per customer:
/// one field per partition that carried its events, at most <see cref="RecentIdPolicy.Limit"/> ids, and
/// the stage changes of events whose publication is not confirmed yet.
/// </summary>
public sealed class DialogueStore(IConnectionMultiplexer redis, RecentIdPolicy recentIds)
{
    /// <summary>How many owner links a read or a fold follows (an alias of an alias...) before giving up.</summary>
    public const int MaxOwnerHops = 4;

    public static readonly LuaScript FoldScript = Load("fold.lua");
    public static readonly LuaScript ClaimScript = Load("claim.lua");
    public static readonly LuaScript MergeScript = Load("merge.lua");
    public static readonly LuaScript ForgetScript = Load("forget.lua");

    /// <summary>The recommender's read of a customer's live state; see its .lua file for what it returns.</summary>
    public static readonly LuaScript ReadSignalsScript = Load("read-signals.lua");

    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true };

    public RecentIdPolicy RecentIds => recentIds;

    /// <summary>
    /// Folds <paramref name="events"/> (one id's, in order) into <paramref name="customer"/>'s dialogues in one
    /// script call. <paramref name="source"/> is the id the events came under when that is not the customer
    /// (the fold followed its owner). Nothing is folded twice; see the class summary.
    /// </summary>
    public async Task<FoldReply> FoldAsync(string customer, string? source, IReadOnlyList<FoldEvent> events, FoldRules rules, long nowMs)
    {
        var result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(FoldScript, new FoldParameters
        {
            FoldState = RedisKeys.FoldState(customer),
            Recent = RedisKeys.RecentMessages(customer),
            Topics = RedisKeys.CustomerTopics(customer),
            Owner = RedisKeys.Owner(customer),
            KnownUser = RedisKeys.KnownUser(customer),
            Identities = RedisKeys.Identities(customer),
            DialoguePrefix = RedisKeys.DialoguePrefix(customer),
            HistoryPrefix = RedisKeys.DialogueHistoryPrefix(customer),
            Events = EncodeEvents(events),
            Source = source ?? "",
            Now = nowMs,
            CatalogVersion = rules.CatalogVersion,
            LastStage = rules.LastStage,
            Dormancy = (long)rules.Dormancy.TotalMilliseconds,
            HalfLife = (long)rules.ScoreHalfLife.TotalMilliseconds,
            Grace = (long)rules.ConversionGrace.TotalMilliseconds,
            RecentWindow = (long)recentIds.Window.TotalMilliseconds,
            RecentLimit = recentIds.Limit,
        }))!;
        var owner = (string?)result[1];
        var redirected = string.IsNullOrEmpty(owner) ? [] : ((string)result[2]!).Split(',').Select(i => int.Parse(i) - 1).ToArray();
        var known = new List<(int, bool)>();
        foreach (var (index, value) in ParseIndexedLines((string)result[5]!))
        {
            known.Add((index, value == "1"));
        }

        return new FoldReply(string.IsNullOrEmpty(owner) ? null : owner, redirected, ParseChanges((string)result[3]!), ParseIndexedLines((string)result[4]!), known);
    }

    /// <summary>Whether the customer folded this message id recently (it is among the ids a re-send is checked against).</summary>
    public async Task<bool> FoldedRecentlyAsync(string customer, string messageId) =>
        await redis.GetDatabase().SortedSetScoreAsync(RedisKeys.RecentMessages(customer), messageId) is not null;

    /// <summary>Forgets what these events' folds kept until the batch was done (their unpublished stage changes, the known-ness they were decided on).</summary>
    public Task MarkPublishedAsync(string customer, IReadOnlyCollection<string> messageIds) =>
        redis.GetDatabase().HashDeleteAsync(RedisKeys.FoldState(customer),
            [.. messageIds.SelectMany(id => new RedisValue[] { FoldStateFields.PendingPrefix + id, FoldStateFields.KnownPrefix + id })]);

    /// <summary>
    /// Claims <paramref name="id"/> for <paramref name="customer"/> and reads what the merge needs (step 1 of 3,
    /// in the id's slot). Null when refused; see claim.lua for when.
    /// </summary>
    public async Task<ClaimedId?> ClaimAsync(string id, string customer, bool mergeKnown, bool onlyOwned)
    {
        var result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(ClaimScript, new
        {
            Owner = RedisKeys.Owner(id),
            Traits = RedisKeys.Traits(id),
            Identities = RedisKeys.Identities(id),
            KnownUser = RedisKeys.KnownUser(id),
            FoldState = RedisKeys.FoldState(id),
            Recent = RedisKeys.RecentMessages(id),
            Topics = RedisKeys.CustomerTopics(id),
            Customer = customer,
            OnlyOwned = onlyOwned ? "1" : "0",
            MergeKnown = mergeKnown ? "1" : "0",
            DialoguePrefix = RedisKeys.DialoguePrefix(id),
            FoldStateFields.PositionPrefix,
        }))!;
        if ((int)result[0] == 0)
        {
            return null;
        }

        return new ClaimedId(id, Json(w => WritePairsAsObject(w, (RedisResult[])result[1]!)), Json(w => WriteFlat(w, (RedisResult[])result[2]!)), Json(w => WriteDialogues(w, (RedisResult[])result[3]!)));
    }

    /// <summary>Merges a claimed id's dialogues and dedupe state into the customer's, once (step 2, in the customer's slot).</summary>
    public async Task<List<FoldChange>> MergeAsync(ClaimedId claimed, string customer, FoldRules rules)
    {
        var merged = (string)(await redis.GetDatabase().ScriptEvaluateAsync(MergeScript, new
        {
            FoldState = RedisKeys.FoldState(customer),
            Recent = RedisKeys.RecentMessages(customer),
            Topics = RedisKeys.CustomerTopics(customer),
            MergedId = claimed.Id,
            FoldStateFields.MergedPrefix,
            FoldStateFields.PositionPrefix,
            LastStage = rules.LastStage,
            HalfLife = (long)rules.ScoreHalfLife.TotalMilliseconds,
            DialoguePrefix = RedisKeys.DialoguePrefix(customer),
            Dialogues = claimed.DialoguesJson,
            Positions = claimed.PositionsJson,
            RecentIds = claimed.RecentIdsJson,
            RecentWindow = (long)recentIds.Window.TotalMilliseconds,
            RecentLimit = recentIds.Limit,
            StageField = DialogueFields.Stage,
            StatusField = DialogueFields.Status,
            FirstField = DialogueFields.First,
            LastField = DialogueFields.Last,
            ScoreField = DialogueFields.Score,
            CatalogVersionField = DialogueFields.CatalogVersion,
            DialogueFields.StagePrefix,
            DialogueFields.ReachedAtSuffix,
            DialogueFields.ReachedViaSuffix,
            DialogueFields.CountPrefix,
            OpenStatus = DialogueStatus.Open,
            ConvertedStatus = DialogueStatus.Converted,
        }))!;
        var changes = new List<FoldChange>();
        foreach (var line in merged.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split('\t');
            changes.Add(new FoldChange(-1, parts[0], int.Parse(parts[1]), int.Parse(parts[2]), 1, rules.CatalogVersion));
        }

        return changes;
    }

    /// <summary>Deletes the merged id's dialogues (step 3, in the id's slot); its dedupe state expires with the recent-id window.</summary>
    public Task ForgetAsync(string id) =>
        redis.GetDatabase().ScriptEvaluateAsync(ForgetScript, new
        {
            Topics = RedisKeys.CustomerTopics(id),
            FoldState = RedisKeys.FoldState(id),
            Recent = RedisKeys.RecentMessages(id),
            DialoguePrefix = RedisKeys.DialoguePrefix(id),
            HistoryPrefix = RedisKeys.DialogueHistoryPrefix(id),
            RecentWindow = (long)recentIds.Window.TotalMilliseconds,
        });

    /// <summary>The fold script's events argument: a JSON array of arrays, as fold.lua reads it.</summary>
    internal static ReadOnlyMemory<byte> EncodeEvents(IReadOnlyList<FoldEvent> events)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + 96 * events.Count);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            WriteEvents(writer, events);
        }

        return buffer.WrittenMemory;
    }

    private static void WriteEvents(Utf8JsonWriter writer, IReadOnlyList<FoldEvent> events)
    {
        writer.WriteStartArray();
        foreach (var e in events)
        {
            writer.WriteStartArray();
            writer.WriteStringValue(e.MessageId);
            writer.WriteNumberValue(e.Partition);
            writer.WriteNumberValue(e.Offset);
            writer.WriteNumberValue(e.TimestampMs);
            writer.WriteStringValue(e.Channel);
            writer.WriteNumberValue(e.NamesUser ? 1 : 0);
            writer.WriteNumberValue(e.RecordKnown ? 1 : 0);
            for (var i = 0; i < e.Stages.Count; i++)
            {
                writer.WriteStringValue(e.Stages[i].Topic);
                writer.WriteNumberValue(e.Stages[i].Stage);
            }

            writer.WriteEndArray();
        }

        writer.WriteEndArray();
    }

    private static List<FoldChange> ParseChanges(string text)
    {
        var changes = new List<FoldChange>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split('\t');
            changes.Add(new FoldChange(int.Parse(parts[0]) - 1, parts[1], int.Parse(parts[2]), int.Parse(parts[3]), int.Parse(parts[4]), long.Parse(parts[5])));
        }

        return changes;
    }

    /// <summary>"index\ttext" lines (the dead events' reasons, the known-ness records), the index 1-based as Lua counts.</summary>
    private static List<(int, string)> ParseIndexedLines(string text)
    {
        var dead = new List<(int, string)>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var tab = line.IndexOf('\t');
            dead.Add((int.Parse(line.AsSpan(0, tab)) - 1, line[(tab + 1)..]));
        }

        return dead;
    }

    private static string Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WritePairsAsObject(Utf8JsonWriter writer, RedisResult[] pairs)
    {
        writer.WriteStartObject();
        for (var i = 0; i + 1 < pairs.Length; i += 2)
        {
            writer.WriteString((string)pairs[i]!, (string)pairs[i + 1]!);
        }

        writer.WriteEndObject();
    }

    private static void WriteFlat(Utf8JsonWriter writer, RedisResult[] values)
    {
        writer.WriteStartArray();
        foreach (var value in values)
        {
            writer.WriteStringValue((string)value!);
        }

        writer.WriteEndArray();
    }

    private static void WriteDialogues(Utf8JsonWriter writer, RedisResult[] dialogues)
    {
        writer.WriteStartArray();
        for (var i = 0; i + 1 < dialogues.Length; i += 2)
        {
            writer.WriteStartArray();
            writer.WriteStringValue((string)dialogues[i]!);
            WritePairsAsObject(writer, (RedisResult[])dialogues[i + 1]!);
            writer.WriteEndArray();
        }

        writer.WriteEndArray();
    }

    private static LuaScript Load(string name)
    {
        using var stream = typeof(DialogueStore).Assembly.GetManifestResourceStream($"Ecrm.Common.Storage.Lua.{name}")
            ?? throw new InvalidOperationException($"the script {name} is not embedded in {typeof(DialogueStore).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return LuaScript.Prepare(reader.ReadToEnd());
    }

    /// <summary>The fold script's parameters, by the names fold.lua uses; the layout's names are fixed here.</summary>
    private sealed class FoldParameters
    {
        public RedisKey FoldState { get; init; }

        public RedisKey Recent { get; init; }

        public RedisKey Topics { get; init; }

        public RedisKey Owner { get; init; }

        public RedisKey KnownUser { get; init; }

        public RedisKey Identities { get; init; }

        public string DialoguePrefix { get; init; } = "";

        public string HistoryPrefix { get; init; } = "";

        public RedisValue Events { get; init; }

        public string Source { get; init; } = "";

        public long Now { get; init; }

        public long CatalogVersion { get; init; }

        public long LastStage { get; init; }

        public long Dormancy { get; init; }

        public long HalfLife { get; init; }

        public long Grace { get; init; }

        public long RecentWindow { get; init; }

        public long RecentLimit { get; init; }

#pragma warning disable CA1822 // LuaScript maps a parameter object's instance members only.
        public string PositionPrefix => FoldStateFields.PositionPrefix;

        public string PendingPrefix => FoldStateFields.PendingPrefix;

        public string KnownPrefix => FoldStateFields.KnownPrefix;

        public string StageField => DialogueFields.Stage;

        public string StatusField => DialogueFields.Status;

        public string FirstField => DialogueFields.First;

        public string LastField => DialogueFields.Last;

        public string EpisodeField => DialogueFields.Episode;

        public string ScoreField => DialogueFields.Score;

        public string CatalogVersionField => DialogueFields.CatalogVersion;

        public string StagePrefix => DialogueFields.StagePrefix;

        public string ReachedAtSuffix => DialogueFields.ReachedAtSuffix;

        public string ReachedViaSuffix => DialogueFields.ReachedViaSuffix;

        public string CountPrefix => DialogueFields.CountPrefix;

        public string OpenStatus => DialogueStatus.Open;

        public string ConvertedStatus => DialogueStatus.Converted;
#pragma warning restore CA1822
    }
}

/// <summary>An id claimed for a customer, with what the merge carries over, as the merge script reads it (JSON).</summary>
public sealed record ClaimedId(string Id, string PositionsJson, string RecentIdsJson, string DialoguesJson)
{
    /// <summary>Whether the id had dialogues of its own to merge (a first link), rather than none (linked before).</summary>
    public bool HasDialogues => DialoguesJson != "[]";
}
