using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Folding;

/// <summary>
/// What folding a batch did: the changes to announce; per customer, the events whose unpublished changes
/// to forget once announced; and the events that could not be folded, with why, by index in the batch.
/// </summary>
public sealed record BatchFoldResult(List<DialogueChange> Changes, Dictionary<string, List<string>> Announced, List<(int Index, string Reason)> Dead);

/// <summary>
/// Folds a batch of events into dialogues and merges the identities its identify and alias events
/// link: the one path shared by the live consumer and the replay from the archive, so that both
/// build the same state.
/// </summary>
public sealed partial class BatchFolder(DialogueFolder folder, DialogueStore store, IdentityLinker identities, IOptions<AuthOptions> auth, ILogger<BatchFolder> logger)
{
    private readonly HashSet<string> _protectedTraits = IdentityVerification.ProtectedTraits(auth.Value);

    /// <summary>Folds events that came without a Kafka position (a replay from the archive): their message ids dedupe them.</summary>
    public Task<BatchFoldResult> FoldAsync(IReadOnlyList<EventEnvelope> items, TopicMatcher matcher) =>
        FoldAsync([.. items.Select(item => new FoldItem(item, -1, -1))], matcher);

    public async Task<BatchFoldResult> FoldAsync(IReadOnlyList<FoldItem> batch, TopicMatcher matcher)
    {
        var items = new EventEnvelope[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            items[i] = batch[i].Event;
        }

        // Whether each customer an unverified identify names was known is decided by the fold, when the event came
        // (FoldOutcome.CustomerWasKnown): a browser that signs up must not find the customer "known" because of its
        // own later events in the batch, nor, after a crash between the folds and the merges, because those later
        // events were folded before it. Read before the folds for what the fold could not decide (an id followed
        // to its owner).
        var knownBefore = await identities.KnownCustomersAsync(UnverifiedIdentityTargets(items));
        var outcomes = await folder.FoldAsync(batch, matcher);
        var changes = await LinkIdentitiesAsync(items, outcomes, matcher, knownBefore);
        var announced = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var dead = new List<(int, string)>();
        for (var i = 0; i < items.Length; i++)
        {
            var outcome = outcomes[i];
            if (outcome.DeadReason is { } reason)
            {
                dead.Add((i, reason));
            }

            foreach (var transition in outcome.Transitions)
            {
                changes.Add(ToChange(items[i], transition));
            }

            if (outcome.Transitions.Count > 0 || outcome.CustomerWasKnown is not null)
            {
                if (!announced.TryGetValue(outcome.Customer, out var ids))
                {
                    announced[outcome.Customer] = ids = [];
                }

                ids.Add(items[i].MessageId!);
            }
        }

        return new BatchFoldResult(changes, announced, dead);
    }

    /// <summary>Forgets the batch's unpublished changes once they are announced, so a re-delivered event is dropped outright.</summary>
    public Task MarkPublishedAsync(BatchFoldResult result) =>
        Task.WhenAll(result.Announced.Select(entry => store.MarkPublishedAsync(entry.Key, entry.Value)));

    /// <summary>
    /// identify links the anonymous id to the user, alias links the earlier id to the new one; each
    /// link merges the earlier id's dialogues into the customer's. Merges that deepen a stage are
    /// transitions too. Linking is idempotent, so a re-delivered identify changes nothing.
    /// Each link is several Redis round trips, so the batch's identity work runs in lanes
    /// (<see cref="IdentityLanes"/>): items sharing an id stay in batch order in one lane, and lanes,
    /// which touch disjoint keys, run side by side. One after another they took half of a batch's time.
    /// </summary>
    private async Task<List<DialogueChange>> LinkIdentitiesAsync(EventEnvelope[] items, FoldOutcome[] outcomes, TopicMatcher matcher, HashSet<string> knownBefore)
    {
        var changesOfItem = new List<DialogueChange>?[items.Length];
        await Task.WhenAll(IdentityLanes.Of(items).Select(async lane =>
        {
            foreach (var index in lane)
            {
                changesOfItem[index] = await IdentityWorkAsync(items[index], outcomes[index].CustomerWasKnown, matcher, knownBefore);
            }
        }));

        var changes = new List<DialogueChange>();
        foreach (var itemChanges in changesOfItem)
        {
            if (itemChanges is not null)
            {
                changes.AddRange(itemChanges);
            }
        }

        return changes;
    }

    /// <summary>The ids whose known-ness decides what an unverified item's identity work may do.</summary>
    private static List<string> UnverifiedIdentityTargets(EventEnvelope[] items)
    {
        var ids = new List<string>();
        foreach (var item in items)
        {
            if (!EventFlags.Has(item, EventFlags.UnverifiedIdentity))
            {
                continue;
            }

            if (IdentityLanes.TraitsOwnerOf(item) is { } customer)
            {
                ids.Add(customer);
            }

            if (IdentityLanes.LinkOf(item) is { } link)
            {
                ids.Add(link.To);
            }
        }

        return ids;
    }

    /// <summary>
    /// One item's identity work: its traits, then its link. Null when it links nothing. An unverified
    /// item (<see cref="EventFlags.UnverifiedIdentity"/>) keeps its protected traits and its merge only
    /// for a customer nobody knew before: the sign-up of a new user from a browser still works, a page
    /// naming somebody else's user id changes nothing of theirs.
    /// </summary>
    private async Task<List<DialogueChange>?> IdentityWorkAsync(EventEnvelope item, bool? customerWasKnown, TopicMatcher matcher, HashSet<string> knownBefore)
    {
        var unverified = EventFlags.Has(item, EventFlags.UnverifiedIdentity);
        bool WasKnown(string id) => customerWasKnown ?? knownBefore.Contains(id);
        if (IdentityLanes.TraitsOwnerOf(item) is { } customer)
        {
            var withheld = unverified && WasKnown(customer) ? _protectedTraits : null;
            if (await identities.SaveTraitsAsync(customer, item.Traits!.Value, withheld) > 0)
            {
                LogProtectedTraitsWithheld(item.MessageId, customer);
            }
        }

        if (IdentityLanes.LinkOf(item) is not { } link)
        {
            return null;
        }

        var (from, to) = link;

        var (outcome, transitions) = await identities.LinkAsync(from, to, matcher.Catalog, unverified, customerIsKnown: WasKnown(to));
        if (outcome == LinkOutcome.Refused)
        {
            LogLinkRefused(from, to);
            return null;
        }

        List<DialogueChange> changes =
        [
            new DialogueChange
            {
                Kind = DialogueChangeKinds.Link,
                Customer = to,
                LinkedId = from,
                MessageId = item.MessageId!,
                Channel = ChannelNames.Of(item.Channel ?? Channel.Server),
                Timestamp = item.EffectiveTimestamp,
                CatalogVersion = matcher.Catalog.Version,
            },
        ];
        changes.AddRange(transitions.Select(t => ToChange(item, t)));
        return changes;
    }

    private static DialogueChange ToChange(EventEnvelope item, StageTransition transition) => new()
    {
        Customer = transition.Customer,
        Topic = transition.Topic,
        FromStage = transition.FromStage,
        ToStage = transition.ToStage,
        Episode = transition.Episode,
        Channel = ChannelNames.Of(item.Channel ?? Channel.Server),
        MessageId = item.MessageId!,
        Timestamp = item.EffectiveTimestamp,
        CatalogVersion = transition.CatalogVersion,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not linking {Id} to {Customer}: it already belongs to another customer, both are known customers and the catalog does not allow merging them, or a browser named a known customer without a signature")]
    private partial void LogLinkRefused(string id, string customer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Identify {MessageId} came from a browser without a signature of its user id: the protected traits it would set on the known customer {Customer} were not saved")]
    private partial void LogProtectedTraitsWithheld(string? messageId, string customer);
}
