using System.Buffers;
using System.Numerics.Tensors;

namespace Ecrm.Recommender.Models;

/// <summary>
/// A model that scores items as the user's affinities times an items-by-items matrix (EASE's weights,
/// SAR's similarities). Without a matrix it is the popularity model. Ties, and users without history,
/// are ranked by popularity, then by item order, so every ranking is deterministic.
/// </summary>
public sealed class ItemItemModel : ICollaborativeModel
{
    private readonly UserItemAffinity _history;
    private readonly float[]? _itemItem;
    private readonly float[] _popularity;

    internal ItemItemModel(ModelKind kind, string version, DateTimeOffset trainedAt, UserItemAffinity history, float[]? itemItem, float[] popularity)
    {
        var items = history.ItemCount;
        if (popularity.Length != items || (itemItem is not null && itemItem.Length != (long)items * items))
        {
            throw new ArgumentException("The model's matrices do not match its items.");
        }

        if ((kind == ModelKind.Popularity) != (itemItem is null))
        {
            throw new ArgumentException("Only the popularity model has no item-item matrix.");
        }

        Kind = kind;
        Version = version;
        TrainedAt = trainedAt;
        _history = history;
        _itemItem = itemItem;
        _popularity = popularity;
    }

    public ModelKind Kind { get; }

    public string Version { get; }

    public DateTimeOffset TrainedAt { get; }

    public int UserCount => _history.UserCount;

    public int ItemCount => _history.ItemCount;

    public IReadOnlyList<string> Users => _history.Users;

    internal UserItemAffinity History => _history;

    /// <summary>Row-major items-by-items matrix: row i holds what item i contributes to every item's score.</summary>
    internal float[]? ItemItem => _itemItem;

    /// <summary>Per item, the share of training users who interacted with it.</summary>
    internal float[] Popularity => _popularity;

    public bool KnowsUser(string user) => _history.UserIndex(user) is { } index && _history.ItemsOf(index).Length > 0;

    public IReadOnlyList<ScoredItem> Recommend(string user, int count, IReadOnlySet<string>? exclude = null)
    {
        if (_history.UserIndex(user) is not { } index)
        {
            return Rank(default, [], count, exclude);
        }

        var items = _history.ItemsOf(index);
        var affinities = _history.AffinitiesOf(index);
        return Score(items, affinities, count, exclude);
    }

    public IReadOnlyList<ScoredItem> RecommendFor(IReadOnlyDictionary<string, double> history, int count, IReadOnlySet<string>? exclude = null)
    {
        var known = history
            .Select(h => (Index: _history.ItemIndex(h.Key), Affinity: (float)h.Value))
            .Where(h => h.Index is not null)
            .ToArray();
        var items = known.Select(h => h.Index!.Value).ToArray();
        var affinities = known.Select(h => h.Affinity).ToArray();
        return Score(items, affinities, count, exclude);
    }

    public IReadOnlyList<ScoredItem> Similar(string item, int count)
    {
        if (_history.ItemIndex(item) is not { } index)
        {
            return [];
        }

        var row = _itemItem is null ? default : _itemItem.AsSpan(index * ItemCount, ItemCount);
        return Rank(row, [index], count, exclude: null);
    }

    private List<ScoredItem> Score(ReadOnlySpan<int> items, ReadOnlySpan<float> affinities, int count, IReadOnlySet<string>? exclude)
    {
        if (_itemItem is null || items.Length == 0)
        {
            return Rank(default, items, count, exclude);
        }

        var n = ItemCount;
        var scores = ArrayPool<float>.Shared.Rent(n);
        try
        {
            var sum = scores.AsSpan(0, n);
            sum.Clear();
            for (var i = 0; i < items.Length; i++)
            {
                TensorPrimitives.MultiplyAdd(_itemItem.AsSpan(items[i] * n, n), affinities[i], sum, sum);
            }

            return Rank(sum, items, count, exclude);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scores);
        }
    }

    /// <summary>The top <paramref name="count"/> items by score (popularity when there are no scores), skipping <paramref name="seen"/> and <paramref name="exclude"/>.</summary>
    private List<ScoredItem> Rank(ReadOnlySpan<float> scores, ReadOnlySpan<int> seen, int count, IReadOnlySet<string>? exclude)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var n = ItemCount;
        ReadOnlySpan<float> values = scores.IsEmpty ? _popularity : scores;
        var skip = new bool[n];
        foreach (var item in seen)
        {
            skip[item] = true;
        }

        foreach (var id in exclude ?? Enumerable.Empty<string>())
        {
            if (_history.ItemIndex(id) is { } item)
            {
                skip[item] = true;
            }
        }

        // A min-heap of the best so far: its root is the weakest, replaced when a better item comes.
        var heap = new int[Math.Min(count, n)];
        var size = 0;
        for (var item = 0; item < n && heap.Length > 0; item++)
        {
            if (skip[item])
            {
                continue;
            }

            if (size < heap.Length)
            {
                heap[size] = item;
                SiftUp(heap, size++, values);
            }
            else if (Better(values, item, heap[0]))
            {
                heap[0] = item;
                SiftDown(heap, size, values);
            }
        }

        var ranked = new ScoredItem[size];
        for (var rank = size - 1; rank >= 0; rank--)
        {
            var item = heap[0];
            ranked[rank] = new ScoredItem(_history.Items[item], values[item]);
            heap[0] = heap[rank];
            SiftDown(heap, rank, values);
        }

        return [.. ranked];
    }

    private void SiftUp(int[] heap, int at, ReadOnlySpan<float> values)
    {
        while (at > 0 && Better(values, heap[(at - 1) / 2], heap[at]))
        {
            (heap[at], heap[(at - 1) / 2]) = (heap[(at - 1) / 2], heap[at]);
            at = (at - 1) / 2;
        }
    }

    private void SiftDown(int[] heap, int size, ReadOnlySpan<float> values)
    {
        for (var at = 0; ;)
        {
            var weakest = at;
            foreach (var child in (ReadOnlySpan<int>)[(2 * at) + 1, (2 * at) + 2])
            {
                if (child < size && Better(values, heap[weakest], heap[child]))
                {
                    weakest = child;
                }
            }

            if (weakest == at)
            {
                return;
            }

            (heap[at], heap[weakest]) = (heap[weakest], heap[at]);
            at = weakest;
        }
    }

    /// <summary>Whether item x ranks above item y: higher score, then more popular, then earlier in item order.</summary>
    private bool Better(ReadOnlySpan<float> values, int x, int y) =>
        values[x] != values[y] ? values[x] > values[y]
        : _popularity[x] != _popularity[y] ? _popularity[x] > _popularity[y]
        : x < y;
}
