using Ecrm.Common.Events;

namespace Ecrm.DialogueEngine.Folding;

/// <summary>
/// Splits a batch's identity work (identify traits, identify and alias links) into lanes that can run
/// side by side. Items that share an id, directly or through other items of the batch, land in one
/// lane, in batch order: a link claims the earlier id and merges into the customer, so two links
/// touching the same id must not interleave, and a customer's traits must be saved in order. Items in
/// different lanes touch the keys of different ids only.
/// </summary>
public static class IdentityLanes
{
    /// <summary>The id an item links and the customer it links it to; null when it links nothing.</summary>
    public static (string From, string To)? LinkOf(EventEnvelope item)
    {
        var (from, to) = item.Type switch
        {
            EventType.Identify => (item.AnonymousId, item.UserId),
            EventType.Alias => (item.PreviousId, item.UserId),
            _ => (null, null),
        };
        return string.IsNullOrEmpty(from) || string.IsNullOrEmpty(to) || from == to ? null : (from, to);
    }

    /// <summary>The customer whose profile an identify's traits go to; null for an item without traits.</summary>
    public static string? TraitsOwnerOf(EventEnvelope item) =>
        item is { Type: EventType.Identify, Traits: not null } ? item.CustomerKey : null;

    /// <summary>The indexes of the items with identity work, grouped into lanes, each in batch order.</summary>
    public static List<List<int>> Of(IReadOnlyList<EventEnvelope> items)
    {
        var parent = new Dictionary<string, string>(StringComparer.Ordinal);
        var work = new List<(int Index, string Id)>();
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            var traitsOf = TraitsOwnerOf(item);
            var link = LinkOf(item);
            if (traitsOf is null && link is null)
            {
                continue;
            }

            var id = traitsOf ?? link!.Value.To;
            if (link is { } pair)
            {
                Union(parent, pair.From, pair.To);
                if (traitsOf is not null)
                {
                    Union(parent, traitsOf, pair.To);
                }
            }

            work.Add((i, id));
        }

        var lanes = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        foreach (var (index, id) in work)
        {
            var root = Find(parent, id);
            if (!lanes.TryGetValue(root, out var lane))
            {
                lanes[root] = lane = [];
            }

            lane.Add(index);
        }

        return [.. lanes.Values];
    }

    private static string Find(Dictionary<string, string> parent, string id)
    {
        var root = id;
        while (parent.TryGetValue(root, out var up) && up != root)
        {
            root = up;
        }

        // Path compression: later look-ups of the ids on the way go straight to the root.
        while (parent.TryGetValue(id, out var up) && up != root)
        {
            parent[id] = root;
            id = up;
        }

        return root;
    }

    private static void Union(Dictionary<string, string> parent, string a, string b)
    {
        var (rootA, rootB) = (Find(parent, a), Find(parent, b));
        if (rootA != rootB)
        {
            parent[rootA] = rootB;
        }
    }
}
