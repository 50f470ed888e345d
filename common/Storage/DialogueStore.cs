using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
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

/// <summary>
/// How long a customer's dedupe state lives after its last fold (<paramref name="StateRetention"/>), and how many of its
/// latest message ids it keeps for recognising re-sent events (<paramref name="RecentIdLimit"/>).
/// </summary>
public sealed record DedupePolicy(TimeSpan StateRetention, int RecentIdLimit);

/// <summary>
/// The Redis layout of a customer's dialogues and the scripts that change it, in one place: the fold,
/// the three steps of an identity merge, and the recommender's read. The scripts are the .lua files
/// beside this class, embedded in the assembly and run through <see cref="LuaScript"/> with named
/// parameters; every key and field name they use comes from <see cref="RedisKeys"/>,
/// <see cref="DialogueFields"/> and <see cref="FoldStateFields"/>: the layout's names are bound into the script
/// text when it is loaded (<c>$StageField</c>), per-call values are named parameters (<c>@Events</c>).
///
/// Dedupe follows customers, not events. Each customer's fold state (one hash) keeps the last Kafka offset
/// applied per partition (re-delivery after a crash or a rebalance) and a 64-bit hash of each of its latest
/// message ids (client retries and spool re-sends, which come with a new offset). Its memory is bounded per
/// customer: one field per partition that carried its events, at most <see cref="DedupePolicy.RecentIdLimit"/>
/// × 8 bytes of id hashes, and the stage changes of events whose publication is not confirmed yet; all of it
/// expires <see cref="DedupePolicy.StateRetention"/> after the customer's last fold.
/// </summary>
public sealed partial class DialogueStore(IConnectionMultiplexer redis, DedupePolicy dedupe)
{
    /// <summary>How many owner links a read or a fold follows (an alias of an alias...) before giving up.</summary>
    public const int MaxOwnerHops = 4;

    /// <summary>
    /// The layout's names as the scripts write them (<c>$Name</c>), bound once at load; declared before the scripts,
    /// which static initialisation loads in order. Passing them as parameters cost Redis more than the work:
    /// 34 extra arguments took a fold-like EVALSHA from 28 to 40 µs a call.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string> LayoutNames = new Dictionary<string, string>
    {
        ["PositionPrefix"] = FoldStateFields.PositionPrefix,
        ["PendingPrefix"] = FoldStateFields.PendingPrefix,
        ["KnownPrefix"] = FoldStateFields.KnownPrefix,
        ["MergedPrefix"] = FoldStateFields.MergedPrefix,
        ["RecentIdsField"] = FoldStateFields.RecentIds,
        ["StageField"] = DialogueFields.Stage,
        ["StatusField"] = DialogueFields.Status,
        ["FirstField"] = DialogueFields.First,
        ["LastField"] = DialogueFields.Last,
        ["EpisodeField"] = DialogueFields.Episode,
        ["ScoreField"] = DialogueFields.Score,
        ["CatalogVersionField"] = DialogueFields.CatalogVersion,
        ["StagePrefix"] = DialogueFields.StagePrefix,
        ["ReachedAtSuffix"] = DialogueFields.ReachedAtSuffix,
        ["ReachedViaSuffix"] = DialogueFields.ReachedViaSuffix,
        ["CountPrefix"] = DialogueFields.CountPrefix,
        ["OpenStatus"] = DialogueStatus.Open,
        ["ConvertedStatus"] = DialogueStatus.Converted,
    };

    private static readonly LuaScript FoldScript = Load("fold.lua");
    private static readonly LuaScript ClaimScript = Load("claim.lua");
    private static readonly LuaScript MergeScript = Load("merge.lua");
    private static readonly LuaScript ForgetScript = Load("forget.lua");

    /// <summary>The recommender's read of a customer's live state; see its .lua file for what it returns.</summary>
    public static readonly LuaScript ReadSignalsScript = Load("read-signals.lua");

    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true };

    private readonly ScriptRunner _fold = new(redis, FoldScript);
    private readonly ScriptRunner _claim = new(redis, ClaimScript);
    private readonly ScriptRunner _merge = new(redis, MergeScript);
    private readonly ScriptRunner _forget = new(redis, ForgetScript);

    private long StateRetentionMs => (long)dedupe.StateRetention.TotalMilliseconds;

    /// <summary>
    /// Folds <paramref name="events"/> (one id's, in order) into <paramref name="customer"/>'s dialogues in one
    /// script call. <paramref name="source"/> is the id the events came under when that is not the customer
    /// (the fold followed its owner). Nothing is folded twice; see the class summary.
    /// </summary>
    public async Task<FoldReply> FoldAsync(string customer, string? source, IReadOnlyList<FoldEvent> events, FoldRules rules)
    {
        var result = (RedisResult[])(await _fold.EvaluateAsync(new FoldParameters
        {
            FoldState = RedisKeys.FoldState(customer),
            Topics = RedisKeys.CustomerTopics(customer),
            Owner = RedisKeys.Owner(customer),
            KnownUser = RedisKeys.KnownUser(customer),
            Identities = RedisKeys.Identities(customer),
            DialoguePrefix = RedisKeys.DialoguePrefix(customer),
            HistoryPrefix = RedisKeys.DialogueHistoryPrefix(customer),
            Events = EncodeEvents(events),
            IdHashes = HashMessageIds(events),
            Source = source ?? "",
            CatalogVersion = rules.CatalogVersion,
            LastStage = rules.LastStage,
            Dormancy = (long)rules.Dormancy.TotalMilliseconds,
            HalfLife = (long)rules.ScoreHalfLife.TotalMilliseconds,
            Grace = (long)rules.ConversionGrace.TotalMilliseconds,
            StateRetention = StateRetentionMs,
            RecentLimit = dedupe.RecentIdLimit,
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
    public async Task<bool> FoldedRecentlyAsync(string customer, string messageId)
    {
        byte[]? recent = await redis.GetDatabase().HashGetAsync(RedisKeys.FoldState(customer), FoldStateFields.RecentIds);
        if (recent is null)
        {
            return false;
        }

        var hash = HashMessageId(messageId);
        for (var at = 0; at + 8 <= recent.Length; at += 8)
        {
            if (BinaryPrimitives.ReadUInt64BigEndian(recent.AsSpan(at)) == hash)
            {
                return true;
            }
        }

        return false;
    }

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
        var result = (RedisResult[])(await _claim.EvaluateAsync(new
        {
            Owner = RedisKeys.Owner(id),
            Traits = RedisKeys.Traits(id),
            Identities = RedisKeys.Identities(id),
            KnownUser = RedisKeys.KnownUser(id),
            FoldState = RedisKeys.FoldState(id),
            Topics = RedisKeys.CustomerTopics(id),
            Customer = customer,
            OnlyOwned = onlyOwned ? "1" : "0",
            MergeKnown = mergeKnown ? "1" : "0",
            DialoguePrefix = RedisKeys.DialoguePrefix(id),
        }))!;
        if ((int)result[0] == 0)
        {
            return null;
        }

        return new ClaimedId(id, Json(w => WritePairsAsObject(w, (RedisResult[])result[1]!)), (byte[])result[2]! ?? [], Json(w => WriteDialogues(w, (RedisResult[])result[3]!)));
    }

    /// <summary>Merges a claimed id's dialogues and dedupe state into the customer's, once (step 2, in the customer's slot).</summary>
    public async Task<List<FoldChange>> MergeAsync(ClaimedId claimed, string customer, FoldRules rules)
    {
        var merged = (string)(await _merge.EvaluateAsync(new
        {
            FoldState = RedisKeys.FoldState(customer),
            Topics = RedisKeys.CustomerTopics(customer),
            MergedId = claimed.Id,
            LastStage = rules.LastStage,
            HalfLife = (long)rules.ScoreHalfLife.TotalMilliseconds,
            DialoguePrefix = RedisKeys.DialoguePrefix(customer),
            Dialogues = claimed.DialoguesJson,
            Positions = claimed.PositionsJson,
            RecentIds = claimed.RecentIds,
            StateRetention = StateRetentionMs,
            RecentLimit = dedupe.RecentIdLimit,
        }))!;
        var changes = new List<FoldChange>();
        foreach (var line in merged.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split('\t');
            changes.Add(new FoldChange(-1, parts[0], int.Parse(parts[1]), int.Parse(parts[2]), 1, rules.CatalogVersion));
        }

        return changes;
    }

    /// <summary>Deletes the merged id's dialogues (step 3, in the id's slot); its dedupe state expires as any customer's does.</summary>
    public Task ForgetAsync(string id) =>
        _forget.EvaluateAsync(new
        {
            Topics = RedisKeys.CustomerTopics(id),
            DialoguePrefix = RedisKeys.DialoguePrefix(id),
            HistoryPrefix = RedisKeys.DialogueHistoryPrefix(id),
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

    /// <summary>
    /// A message id as the fold state remembers it: 64 bits of XxHash3 of its UTF-8 bytes. Eight bytes instead of
    /// the id itself (36 for a UUID) keep the bound on dedupe memory small; two of a customer's latest 100 ids
    /// colliding has a chance of about 3 in 10^16.
    /// </summary>
    internal static ulong HashMessageId(string messageId)
    {
        var length = Encoding.UTF8.GetMaxByteCount(messageId.Length);
        var rented = length <= 256 ? null : ArrayPool<byte>.Shared.Rent(length);
        Span<byte> utf8 = rented ?? stackalloc byte[256];
        var written = Encoding.UTF8.GetBytes(messageId, utf8);
        var hash = XxHash3.HashToUInt64(utf8[..written]);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        return hash;
    }

    /// <summary>The fold script's id hashes argument: each event's <see cref="HashMessageId"/>, big-endian, 8 bytes each, in order.</summary>
    private static byte[] HashMessageIds(IReadOnlyList<FoldEvent> events)
    {
        var hashes = new byte[8 * events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(hashes.AsSpan(8 * i), HashMessageId(events[i].MessageId));
        }

        return hashes;
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
        var script = LayoutName().Replace(reader.ReadToEnd(), match => LayoutNames.TryGetValue(match.Groups[1].Value, out var value)
            ? LuaString(value)
            : throw new InvalidOperationException($"{match.Value} in the script {name} is not one of DialogueStore.LayoutNames"));
        return LuaScript.Prepare(script);
    }

    private static string LuaString(string value) => "'" + value.Replace("\\", "\\\\").Replace("'", "\\'") + "'";

    [GeneratedRegex(@"\$([A-Z][A-Za-z]*)")]
    private static partial Regex LayoutName();

    /// <summary>The fold script's parameters, by the names fold.lua uses; the layout's names are fixed here.</summary>
    private sealed class FoldParameters
    {
        public RedisKey FoldState { get; init; }

        public RedisKey Topics { get; init; }

        public RedisKey Owner { get; init; }

        public RedisKey KnownUser { get; init; }

        public RedisKey Identities { get; init; }

        public string DialoguePrefix { get; init; } = "";

        public string HistoryPrefix { get; init; } = "";

        public RedisValue Events { get; init; }

        public RedisValue IdHashes { get; init; }

        public string Source { get; init; } = "";

        public long CatalogVersion { get; init; }

        public long LastStage { get; init; }

        public long Dormancy { get; init; }

        public long HalfLife { get; init; }

        public long Grace { get; init; }

        public long StateRetention { get; init; }

        public long RecentLimit { get; init; }
    }
}

/// <summary>An id claimed for a customer, with what the merge carries over, as the merge script reads it (JSON, and the recent id hashes as stored).</summary>
public sealed record ClaimedId(string Id, string PositionsJson, byte[] RecentIds, string DialoguesJson)
{
    /// <summary>Whether the id had dialogues of its own to merge (a first link), rather than none (linked before).</summary>
    public bool HasDialogues => DialoguesJson != "[]";
}
