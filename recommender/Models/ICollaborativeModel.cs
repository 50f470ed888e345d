namespace Ecrm.Recommender.Models;

public enum ModelKind
{
    /// <summary>The most popular items: the baseline, and the fallback of every model for cold users.</summary>
    Popularity,

    /// <summary>Steck's EASE (2019): a closed-form item-item regression.</summary>
    Ease,

    /// <summary>Microsoft's SAR: item-item co-occurrence similarity with time-decayed user affinity.</summary>
    Sar,
}

public readonly record struct ScoredItem(string Item, double Score);

/// <summary>
/// A trained collaborative model: immutable and safe to share between threads, so a newer one can be
/// swapped in with a single reference assignment.
/// </summary>
public interface ICollaborativeModel
{
    ModelKind Kind { get; }

    /// <summary>Says which training produced this model: kind, training time and a hash of its contents.</summary>
    string Version { get; }

    DateTimeOffset TrainedAt { get; }

    /// <summary>Whether the user has a history in the training data; others get the popularity ranking.</summary>
    bool KnowsUser(string user);

    /// <summary>
    /// The best <paramref name="count"/> items for a user from the training history, excluding the items
    /// the user interacted with and <paramref name="exclude"/>. A user without history gets the most
    /// popular items, scored by the share of users who interacted with each.
    /// </summary>
    IReadOnlyList<ScoredItem> Recommend(string user, int count, IReadOnlySet<string>? exclude = null);

    /// <summary>
    /// The same for a history given now (item → affinity, e.g. the stage weights of live dialogues), for
    /// visitors the model has not seen or whose history moved on since training. Unknown items are ignored.
    /// </summary>
    IReadOnlyList<ScoredItem> RecommendFor(IReadOnlyDictionary<string, double> history, int count, IReadOnlySet<string>? exclude = null);

    /// <summary>The items most related to one item (itself excluded); empty for an item the model does not know.</summary>
    IReadOnlyList<ScoredItem> Similar(string item, int count);
}
