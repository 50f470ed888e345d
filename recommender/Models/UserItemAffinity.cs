namespace Ecrm.Recommender.Models;

/// <summary>
/// The users-by-items affinity matrix, sparse by rows: each user's interactions with an item summed,
/// each one its weight times, with a half-life, 2^(-age / half-life). Age counts back from the newest
/// interaction in the data, as SAR does, so a model trained on an old export is not decayed to nothing.
/// Items within a row are in ascending index order. Immutable once built.
/// </summary>
internal sealed class UserItemAffinity
{
    private readonly Dictionary<string, int> _userIndex;
    private readonly Dictionary<string, int> _itemIndex;

    internal UserItemAffinity(string[] users, string[] items, int[] rowStarts, int[] columns, float[] values)
    {
        if (rowStarts.Length != users.Length + 1 || columns.Length != values.Length || rowStarts[^1] != columns.Length)
        {
            throw new ArgumentException("The affinity rows do not match the users and entries.");
        }

        Users = users;
        Items = items;
        RowStarts = rowStarts;
        Columns = columns;
        Values = values;
        _userIndex = IndexOf(users, "user");
        _itemIndex = IndexOf(items, "item");
    }

    public string[] Users { get; }

    public string[] Items { get; }

    /// <summary>Where each user's row starts in <see cref="Columns"/>; one more entry than users.</summary>
    public int[] RowStarts { get; }

    public int[] Columns { get; }

    public float[] Values { get; }

    public int UserCount => Users.Length;

    public int ItemCount => Items.Length;

    public int? UserIndex(string user) => _userIndex.TryGetValue(user, out var index) ? index : null;

    public int? ItemIndex(string item) => _itemIndex.TryGetValue(item, out var index) ? index : null;

    public ReadOnlySpan<int> ItemsOf(int user) => Columns.AsSpan(RowStarts[user], RowStarts[user + 1] - RowStarts[user]);

    public ReadOnlySpan<float> AffinitiesOf(int user) => Values.AsSpan(RowStarts[user], RowStarts[user + 1] - RowStarts[user]);

    /// <summary>How many users interacted with each item.</summary>
    public int[] UsersPerItem()
    {
        var counts = new int[ItemCount];
        foreach (var item in Columns)
        {
            counts[item]++;
        }

        return counts;
    }

    /// <summary>
    /// Builds the matrix. Users and items are indexed in order of first appearance; when there are more
    /// than <paramref name="maxItems"/> items, only the ones the most users interacted with are kept,
    /// since the item-item models hold a dense items-by-items matrix.
    /// </summary>
    public static UserItemAffinity Build(IEnumerable<Interaction> interactions, TimeSpan? halfLife, int maxItems)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        if (halfLife is { } h && h <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(halfLife), "The half-life must be positive.");
        }

        var users = new Dictionary<string, int>(StringComparer.Ordinal);
        var items = new Dictionary<string, int>(StringComparer.Ordinal);
        var rows = new List<List<(int Item, double Weight, DateTimeOffset Time)>>();
        var newest = DateTimeOffset.MinValue;
        foreach (var interaction in interactions)
        {
            if (!double.IsFinite(interaction.Weight) || interaction.Weight <= 0)
            {
                throw new ArgumentException($"Interaction weights must be positive: {interaction.User} {interaction.Item} {interaction.Weight}.", nameof(interactions));
            }

            if (!users.TryGetValue(interaction.User, out var user))
            {
                user = users[interaction.User] = users.Count;
                rows.Add([]);
            }

            if (!items.TryGetValue(interaction.Item, out var item))
            {
                item = items[interaction.Item] = items.Count;
            }

            rows[user].Add((item, interaction.Weight, interaction.Time));
            newest = interaction.Time > newest ? interaction.Time : newest;
        }

        var keep = MostPopularItems(rows, items.Count, maxItems);
        var rowStarts = new int[rows.Count + 1];
        var columns = new List<int>();
        var values = new List<float>();
        for (var user = 0; user < rows.Count; user++)
        {
            var row = rows[user];
            row.Sort((a, b) => a.Item.CompareTo(b.Item));
            for (var start = 0; start < row.Count;)
            {
                var end = start;
                var affinity = 0.0;
                for (; end < row.Count && row[end].Item == row[start].Item; end++)
                {
                    var decay = halfLife is { } life ? Math.Pow(2, -(newest - row[end].Time) / life) : 1;
                    affinity += row[end].Weight * decay;
                }

                if (keep[row[start].Item] >= 0)
                {
                    columns.Add(keep[row[start].Item]);
                    values.Add((float)affinity);
                }

                start = end;
            }

            rowStarts[user + 1] = columns.Count;
        }

        var itemNames = new string[keep.Count(k => k >= 0)];
        foreach (var (name, index) in items)
        {
            if (keep[index] >= 0)
            {
                itemNames[keep[index]] = name;
            }
        }

        var userNames = new string[users.Count];
        foreach (var (name, index) in users)
        {
            userNames[index] = name;
        }

        return new UserItemAffinity(userNames, itemNames, rowStarts, [.. columns], [.. values]);
    }

    /// <summary>The new index of each item, or -1 for an item dropped; kept items stay in their order.</summary>
    private static int[] MostPopularItems(List<List<(int Item, double Weight, DateTimeOffset Time)>> rows, int itemCount, int maxItems)
    {
        var keep = new int[itemCount];
        if (itemCount > maxItems)
        {
            var users = new int[itemCount];
            foreach (var row in rows)
            {
                foreach (var item in row.Select(r => r.Item).Distinct())
                {
                    users[item]++;
                }
            }

            var kept = Enumerable.Range(0, itemCount).OrderByDescending(i => users[i]).ThenBy(i => i).Take(maxItems).ToHashSet();
            for (var item = 0; item < itemCount; item++)
            {
                keep[item] = kept.Contains(item) ? 0 : -1;
            }
        }

        var next = 0;
        for (var item = 0; item < itemCount; item++)
        {
            keep[item] = keep[item] < 0 ? -1 : next++;
        }

        return keep;
    }

    private static Dictionary<string, int> IndexOf(string[] names, string what)
    {
        var index = new Dictionary<string, int>(names.Length, StringComparer.Ordinal);
        for (var i = 0; i < names.Length; i++)
        {
            if (!index.TryAdd(names[i], i))
            {
                throw new ArgumentException($"Duplicate {what} id '{names[i]}'.");
            }
        }

        return index;
    }
}
