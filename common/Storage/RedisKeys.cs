using StackExchange.Redis;

namespace Ecrm.Common.Storage;

/// <summary>
/// The one place that knows the Redis key layout. Every key of one customer carries the same
/// {hash tag}, so a fold script touching several of them stays in one Redis Cluster slot.
/// Scripts that build keys from a prefix (a customer's dialogues by topic, a catalog's versions) stay
/// cluster-safe because the prefix carries the tag of the declared KEYS: Redis Cluster only lets a
/// script reach keys its node serves, and a key of another slot would fail, or worse pass while that
/// slot happens to sit on the same node. Two customers (a visitor merged into a customer) are never
/// touched by one script; see IdentityLinker.
/// </summary>
public static class RedisKeys
{
    /// <summary>A SCAN pattern for every per-customer key (and nothing else, such as the catalogs).</summary>
    public const string AllCustomersPattern = "ecrm:{c:*";

    /// <summary>A hash per (customer, topic) dialogue; its fields are in <see cref="DialogueFields"/>.</summary>
    public static RedisKey Dialogue(string customer, string topic) => DialoguePrefix(customer) + topic;

    /// <summary>The customer's dialogue keys without the topic, for scripts that build them in the same slot.</summary>
    public static string DialoguePrefix(string customer) => $"ecrm:{{c:{Tag(customer)}}}:dlg:";

    /// <summary>A sorted set of the customer's topics, scored by last interaction (unix ms).</summary>
    public static RedisKey CustomerTopics(string customer) => $"ecrm:{{c:{Tag(customer)}}}:topics";

    /// <summary>
    /// The customer's fold state, a hash: the last Kafka offset applied per partition, its latest message ids,
    /// the stage changes of folded events not yet published, and the ids merged in (<see cref="FoldStateFields"/>):
    /// what makes a re-delivered or re-sent event change nothing. It expires some days after the customer's last fold.
    /// </summary>
    public static RedisKey FoldState(string customer) => $"ecrm:{{c:{Tag(customer)}}}:fold";

    /// <summary>
    /// Set once an id (an anonymous id, or an aliased one) belongs to another customer: the fold
    /// redirects its events there. In the id's own slot, so the fold script can check it atomically.
    /// </summary>
    public static RedisKey Owner(string id) => $"ecrm:{{c:{Tag(id)}}}:owner";

    /// <summary>A dialogue's finished episodes, oldest first, each a JSON object of its fields.</summary>
    public static RedisKey DialogueHistory(string customer, string topic) => DialogueHistoryPrefix(customer) + topic;

    public static string DialogueHistoryPrefix(string customer) => $"ecrm:{{c:{Tag(customer)}}}:hist:";

    /// <summary>
    /// What the recommender served the customer in one period (item id → times), for its frequency
    /// cap; <paramref name="period"/> numbers the period since the Unix epoch, and the key expires with it.
    /// </summary>
    public static RedisKey Served(string customer, long period) => $"ecrm:{{c:{Tag(customer)}}}:served:{period}";

    /// <summary>The customer's profile traits (from identify), one field per trait, values as JSON.</summary>
    public static RedisKey Traits(string customer) => $"ecrm:{{c:{Tag(customer)}}}:traits";

    /// <summary>The ids linked to this customer (anonymous visitors, aliases).</summary>
    public static RedisKey Identities(string customer) => $"ecrm:{{c:{Tag(customer)}}}:ids";

    /// <summary>
    /// Exists once an event named this id as its userId: the id is a known customer's, not a token an
    /// anonymous browser holds, so a public key may not read or rewrite it as if it were its own.
    /// </summary>
    public static RedisKey KnownUser(string customer) => $"ecrm:{{c:{Tag(customer)}}}:user";

    /// <summary>The prefix of every key of one customer, for scans and erasure.</summary>
    public static string CustomerPrefix(string customer) => $"ecrm:{{c:{Tag(customer)}}}:";

    /// <summary>The marketers' saved segments: one hash field per segment id, the segment as JSON.</summary>
    public static RedisKey Segments => "{ecrm:segments}";

    /// <summary>
    /// The customers of a saved segment, as the engine last computed them (a set), for the recommender's
    /// segment boosts; <see cref="SegmentMembersNext"/> is filled first and renamed over it.
    /// </summary>
    public static RedisKey SegmentMembers(string segment) => $"{{ecrm:segment:{segment}}}:members";

    public static RedisKey SegmentMembersNext(string segment) => $"{{ecrm:segment:{segment}}}:next";

    /// <summary>Erasure jobs by id (JSON), and the queue of job ids waiting for the worker.</summary>
    public static RedisKey Erasures => "{ecrm:erasures}";

    public static RedisKey ErasureQueue => "{ecrm:erasures}:queue";

    /// <summary>
    /// The last offset the folding group applied per partition (field "topic:partition"), written after each
    /// batch's folds. A Redis that restarts with a lower one lost folds it had acknowledged (see FoldWatermarks).
    /// </summary>
    public static RedisKey FoldWatermarks(string group) => $"{{ecrm:fold}}:applied:{group}";

    public static RedisKey CatalogSequence(string catalog) => $"{{ecrm:{catalog}}}:seq";

    public static RedisKey CatalogCurrent(string catalog) => $"{{ecrm:{catalog}}}:current";

    public static RedisKey CatalogVersion(string catalog, long version) => CatalogVersionPrefix(catalog) + version;

    /// <summary>The version keys without the number; they share the hash tag of the current pointer.</summary>
    public static string CatalogVersionPrefix(string catalog) => $"{{ecrm:{catalog}}}:v:";

    /// <summary>
    /// Customer ids come from clients. Braces would move the hash tag, so they (and the escape
    /// character) are percent-encoded; the encoding is one-to-one, so distinct ids stay distinct keys.
    /// </summary>
    private static string Tag(string customer) =>
        customer.AsSpan().IndexOfAny('{', '}', '%') < 0
            ? customer
            : customer.Replace("%", "%25", StringComparison.Ordinal).Replace("{", "%7B", StringComparison.Ordinal).Replace("}", "%7D", StringComparison.Ordinal);
}

/// <summary>Field names of a dialogue hash, shared by the engine that writes and the services that read.</summary>
public static class DialogueFields
{
    public const string Stage = "stage";
    public const string Status = "status";
    public const string First = "first";
    public const string Last = "last";
    public const string CatalogVersion = "catver";

    /// <summary>The episode number, written from the second episode on (absent means 1).</summary>
    public const string Episode = "ep";

    /// <summary>The interest score as of the last interaction; readers decay it to the present.</summary>
    public const string Score = "score";

    /// <summary>Per-stage fields are named prefix, stage number, suffix: "s3:at" is when stage 3 was first reached, "s3:ch" through which channel.</summary>
    public const string StagePrefix = "s";

    public const string ReachedAtSuffix = ":at";

    public const string ReachedViaSuffix = ":ch";

    /// <summary>Interactions per channel are counted in "n:" + the channel.</summary>
    public const string CountPrefix = "n:";

    public static string StageReachedAt(int stage) => StagePrefix + stage + ReachedAtSuffix;

    public static string StageReachedVia(int stage) => StagePrefix + stage + ReachedViaSuffix;

    public static string InteractionCount(string channel) => CountPrefix + channel;
}

/// <summary>Field names of a customer's fold state (<see cref="RedisKeys.FoldState"/>).</summary>
public static class FoldStateFields
{
    /// <summary>"p:" + partition: the last offset of that partition of the events topic applied to this customer.</summary>
    public const string PositionPrefix = "p:";

    /// <summary>"pend:" + message id: the stage changes its fold made, until they are published.</summary>
    public const string PendingPrefix = "pend:";

    /// <summary>"known:" + message id: whether the customer was known when this unverified identify or alias came, until its batch is done.</summary>
    public const string KnownPrefix = "known:";

    /// <summary>"merged:" + id: the id's dialogues were merged into this customer, so a repeated merge adds nothing.</summary>
    public const string MergedPrefix = "merged:";

    /// <summary>The customer's latest message ids, oldest first, as 8-byte hashes (<c>DialogueStore.HashMessageId</c>), for re-sent events.</summary>
    public const string RecentIds = "recent";
}

public static class DialogueStatus
{
    public const string Open = "open";
    public const string Converted = "converted";

    /// <summary>Not stored: an open dialogue idle longer than the catalog's dormancy reads as dormant.</summary>
    public const string Dormant = "dormant";
}
