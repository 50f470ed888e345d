using Ecrm.Recommender.Models;

namespace Ecrm.Recommender.Offline;

/// <summary>
/// The per-user random split of Microsoft Recommenders' python_stratified_split: every user's items get
/// a random number from one seeded generator, and, ordered by it, the item of rank r out of m goes to
/// training when r / m ≤ ratio. So each user keeps the ratio (75 of 100 items train, 25 test), and a
/// user with a single item goes to test only. Repeated interactions with one item stay on one side.
/// </summary>
internal static class StratifiedSplit
{
    public static (List<Interaction> Train, List<Interaction> Test) Split(IReadOnlyList<Interaction> interactions, double ratio, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ratio, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(ratio, 1);
        var random = new Random(seed);
        var draws = new Dictionary<(string User, string Item), double>();
        var itemsOfUser = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (user, item, _, _) in interactions)
        {
            if (draws.TryAdd((user, item), random.NextDouble()))
            {
                if (!itemsOfUser.TryGetValue(user, out var items))
                {
                    items = itemsOfUser[user] = [];
                }

                items.Add(item);
            }
        }

        var training = new HashSet<(string User, string Item)>();
        foreach (var (user, items) in itemsOfUser)
        {
            var ordered = items.OrderBy(item => draws[(user, item)]).ToList();
            for (var rank = 1; rank <= ordered.Count && (double)rank / ordered.Count <= ratio; rank++)
            {
                training.Add((user, ordered[rank - 1]));
            }
        }

        var train = new List<Interaction>();
        var test = new List<Interaction>();
        foreach (var interaction in interactions)
        {
            (training.Contains((interaction.User, interaction.Item)) ? train : test).Add(interaction);
        }

        return (train, test);
    }
}
