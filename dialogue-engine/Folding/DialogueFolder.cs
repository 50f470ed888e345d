using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;

namespace Ecrm.DialogueEngine.Folding;

/// <summary>
/// A stage change: the dialogue (customer, topic) moved from one stage to a deeper one, or a new
/// episode opened (from stage 0).
/// </summary>
public sealed record StageTransition(string Customer, string Topic, int FromStage, int ToStage, long CatalogVersion, int Episode = 1);

/// <summary>An event of a batch and where it came from; <paramref name="Partition"/> is -1 for one replayed from the archive.</summary>
public readonly record struct FoldItem(EventEnvelope Event, int Partition, long Offset);

/// <summary>
/// What folding did to one event: the customer it landed on (after following owners), the stage changes
/// to publish (its own, or those of an earlier fold of it that were never published), or why it could
/// not be folded.
/// </summary>
public sealed class FoldOutcome
{
    private List<StageTransition>? _transitions;

    public string Customer { get; set; } = "";

    public IReadOnlyList<StageTransition> Transitions => _transitions ?? (IReadOnlyList<StageTransition>)[];

    public string? DeadReason { get; set; }

    /// <summary>For an unverified identify or alias: whether the customer it names was known when it came (kept with its fold).</summary>
    public bool? CustomerWasKnown { get; set; }

    public void Add(StageTransition transition) => (_transitions ??= []).Add(transition);
}

/// <summary>
/// Folds a batch of events into dialogues with one <see cref="DialogueStore.FoldAsync"/> call per id in
/// the batch (an id's events in batch order), all pipelined on the one connection. An id merged into
/// another customer hands back the events to fold there, and the fold follows, up to
/// <see cref="DialogueStore.MaxOwnerHops"/> owners.
/// </summary>
public sealed class DialogueFolder(DialogueStore store)
{
    public async Task<FoldOutcome[]> FoldAsync(IReadOnlyList<FoldItem> items, TopicMatcher matcher)
    {
        var catalog = matcher.Catalog;
        var rules = FoldRules.Of(catalog);
        var outcomes = new FoldOutcome[items.Count];
        var byId = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            outcomes[i] = new FoldOutcome();
            var id = items[i].Event.CustomerKey!;
            if (!byId.TryGetValue(id, out var indexes))
            {
                byId[id] = indexes = [];
            }

            indexes.Add(i);
        }

        var folds = new List<Task>(byId.Count);
        foreach (var (id, indexes) in byId)
        {
            folds.Add(FoldIdAsync(id, indexes, items, matcher, rules, outcomes));
        }

        await Task.WhenAll(folds);
        return outcomes;
    }

    private async Task FoldIdAsync(string id, List<int> indexes, IReadOnlyList<FoldItem> items, TopicMatcher matcher, FoldRules rules, FoldOutcome[] outcomes)
    {
        var events = new List<FoldEvent>(indexes.Count);
        foreach (var index in indexes)
        {
            var (item, partition, offset) = items[index];
            var matches = new List<TopicStage>(2);
            matcher.Match(item, matches);
            events.Add(new FoldEvent(item.MessageId!, partition, offset, item.EffectiveTimestamp.ToUnixTimeMilliseconds(),
                ChannelNames.Of(item.Channel ?? Channel.Server), NamesTrustedUser(item, id), IsUnverifiedIdentityWorkFor(item, id), matches));
        }

        var customer = id;
        for (var hop = 0; hop <= DialogueStore.MaxOwnerHops; hop++)
        {
            var reply = await store.FoldAsync(customer, customer == id ? null : id, events, rules);
            // Redirected indexes come in ascending order: every other event landed here.
            for (int j = 0, next = 0; j < events.Count; j++)
            {
                if (next < reply.Redirected.Length && reply.Redirected[next] == j)
                {
                    next++;
                    continue;
                }

                outcomes[indexes[j]].Customer = customer;
            }

            foreach (var change in reply.Changes)
            {
                outcomes[indexes[change.EventIndex]].Add(new StageTransition(customer, change.Topic, change.FromStage, change.ToStage, change.CatalogVersion, change.Episode));
            }

            foreach (var (index, reason) in reply.Dead)
            {
                outcomes[indexes[index]].DeadReason = reason;
            }

            foreach (var (index, known) in reply.KnownWhenNamed)
            {
                outcomes[indexes[index]].CustomerWasKnown = known;
            }

            if (reply.Owner is null)
            {
                return;
            }

            customer = reply.Owner;
            indexes = [.. reply.Redirected.Select(j => indexes[j])];
            events = [.. reply.Redirected.Select(j => events[j])];
        }

        throw new InvalidOperationException($"identity redirects of {id} go deeper than {DialogueStore.MaxOwnerHops}");
    }

    /// <summary>
    /// Whether the event names its id as its user id, so the id is marked a known customer. Only when the
    /// name is trusted (a server source, a signed browser): an unproved browser's own events must not make
    /// its user "known" before its identify links the visitor. A crash between the fold and the link would
    /// then refuse the re-delivered identify, and a sign-up whose events came a batch ahead of its identify
    /// would never merge. Such users are known by their linked ids.
    /// </summary>
    private static bool NamesTrustedUser(EventEnvelope item, string id) =>
        id == item.UserId && !EventFlags.Has(item, EventFlags.UnverifiedIdentity);

    /// <summary>An unverified identify or alias whose identity work (traits, link) is for this id: what it may do depends on whether the id was known.</summary>
    private static bool IsUnverifiedIdentityWorkFor(EventEnvelope item, string id) =>
        EventFlags.Has(item, EventFlags.UnverifiedIdentity) && (IdentityLanes.TraitsOwnerOf(item) == id || IdentityLanes.LinkOf(item)?.To == id);
}
