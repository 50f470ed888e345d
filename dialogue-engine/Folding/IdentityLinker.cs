using System.Text.Json;
using Ecrm.Common.Catalog;
using Ecrm.Common.Storage;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Folding;

public enum LinkOutcome
{
    Linked,
    AlreadyLinked,

    /// <summary>The id already belongs to another customer; two known customers are never merged silently.</summary>
    Refused,
}

/// <summary>
/// Links an id (an anonymous visitor's, or the earlier id of an alias) to a customer and merges its
/// dialogues into the customer's: the deeper stage wins, the earliest first-reached times and
/// first interaction win, counts add up. The two ids live in different Redis Cluster slots, so the
/// merge is three scripts (<see cref="DialogueStore"/>), each atomic and each safe to repeat: (1) in the
/// id's slot, claim it for the customer (from then on the fold redirects its events) and read its
/// dialogues; (2) in the customer's slot, merge them once; (3) in the id's slot, delete what was merged.
/// A crash between steps is repaired by the re-delivered identify event.
/// </summary>
public sealed class IdentityLinker(IConnectionMultiplexer redis, DialogueStore store)
{
    /// <summary>
    /// Links <paramref name="id"/> to <paramref name="customer"/> and merges its dialogues. Returns the
    /// stage changes the merge made. An <paramref name="unverified"/> link (a browser naming a user id it
    /// has not proved) never claims a known id, and with <paramref name="customerIsKnown"/> it links only
    /// what the customer owns already, so that a repeated identify stays idempotent.
    /// </summary>
    public async Task<(LinkOutcome Outcome, IReadOnlyList<StageTransition> Transitions)> LinkAsync(
        string id, string customer, TopicCatalog catalog, bool unverified = false, bool customerIsKnown = false)
    {
        if (id == customer)
        {
            return (LinkOutcome.AlreadyLinked, []);
        }

        var claimed = await store.ClaimAsync(id, customer, mergeKnown: catalog.Settings.MergeKnownCustomers && !unverified, onlyOwned: unverified && customerIsKnown);
        if (claimed is null)
        {
            return (LinkOutcome.Refused, []);
        }

        await redis.GetDatabase().SetAddAsync(RedisKeys.Identities(customer), id);
        var rules = FoldRules.Of(catalog);
        var merged = await store.MergeAsync(claimed, customer, rules);
        await store.ForgetAsync(id);
        var transitions = merged.Select(change => new StageTransition(customer, change.Topic, change.FromStage, change.ToStage, change.CatalogVersion)).ToList();
        return (claimed.HasDialogues ? LinkOutcome.Linked : LinkOutcome.AlreadyLinked, transitions);
    }

    /// <summary>
    /// Keeps identify traits in the customer's profile, one field per trait, values as JSON, except the
    /// <paramref name="withheld"/> ones. Returns how many traits were withheld.
    /// </summary>
    public async Task<int> SaveTraitsAsync(string customer, JsonElement traits, IReadOnlySet<string>? withheld = null)
    {
        if (traits.ValueKind != JsonValueKind.Object)
        {
            return 0;
        }

        var entries = new List<HashEntry>();
        var skipped = 0;
        foreach (var trait in traits.EnumerateObject())
        {
            if (withheld?.Contains(trait.Name) == true)
            {
                skipped++;
                continue;
            }

            entries.Add(new HashEntry(trait.Name, trait.Value.GetRawText()));
        }

        if (entries.Count > 0)
        {
            await redis.GetDatabase().HashSetAsync(RedisKeys.Traits(customer), [.. entries]);
        }

        return skipped;
    }

    /// <summary>
    /// Which of the ids are known customers: named as a userId, or holding linked ids. (Traits alone do
    /// not count: an anonymous visitor's own opt-out is a trait.) Read in one pipelined round trip.
    /// </summary>
    public async Task<HashSet<string>> KnownCustomersAsync(IReadOnlyCollection<string> ids)
    {
        var known = new HashSet<string>(StringComparer.Ordinal);
        if (ids.Count == 0)
        {
            return known;
        }

        var batch = redis.GetDatabase().CreateBatch();
        var checks = ids.Select(id => (Id: id, Count: batch.KeyExistsAsync([RedisKeys.KnownUser(id), RedisKeys.Identities(id)]))).ToList();
        batch.Execute();
        foreach (var (id, count) in checks)
        {
            if (await count > 0)
            {
                known.Add(id);
            }
        }

        return known;
    }
}
