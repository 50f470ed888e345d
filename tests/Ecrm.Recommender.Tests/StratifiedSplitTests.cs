using Ecrm.Recommender.Models;
using Ecrm.Recommender.Offline;
using Xunit;

namespace Ecrm.Recommender.Tests;

public sealed class StratifiedSplitTests
{
    private static readonly DateTimeOffset Time = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static List<Interaction> UsersWithItems(params int[] itemCounts) =>
    [
        .. itemCounts.SelectMany((count, user) => Enumerable.Range(0, count).Select(item => new Interaction($"u{user}", $"i{item}", 1, Time))),
    ];

    [Fact]
    public void EachUserKeepsTheRatioAsRecommendersRoundsIt()
    {
        // Rank r of m trains when r/m ≤ 0.75: 4 items → 3 train; 10 → 7 (8/10 > 0.75); 20 → 15; 1 → 0 (1/1 > 0.75).
        var data = UsersWithItems(4, 10, 20, 1);

        var (train, test) = StratifiedSplit.Split(data, 0.75, seed: 42);

        int[] expectedTrain = [3, 7, 15, 0];
        for (var user = 0; user < expectedTrain.Length; user++)
        {
            Assert.Equal(expectedTrain[user], train.Count(i => i.User == $"u{user}"));
            Assert.Equal(data.Count(i => i.User == $"u{user}") - expectedTrain[user], test.Count(i => i.User == $"u{user}"));
        }
    }

    [Fact]
    public void SplitIsDeterministicBySeed()
    {
        var data = UsersWithItems(12, 12, 12, 12, 12);

        var first = StratifiedSplit.Split(data, 0.75, seed: 1).Test;
        var again = StratifiedSplit.Split(data, 0.75, seed: 1).Test;
        var otherSeed = StratifiedSplit.Split(data, 0.75, seed: 2).Test;

        Assert.Equal(first, again);
        Assert.NotEqual(first, otherSeed);
        Assert.Equal(first.Count, otherSeed.Count);
    }

    [Fact]
    public void RepeatedInteractionsWithOneItemStayOnOneSide()
    {
        // Dialogue events repeat items; an item in both train and test could never be recommended (seen).
        var data = UsersWithItems(8);
        data.AddRange(data.Select(i => i with { Weight = 3, Time = Time.AddDays(1) }).ToList());

        var (train, test) = StratifiedSplit.Split(data, 0.75, seed: 42);

        Assert.Equal(12, train.Count);
        Assert.Equal(4, test.Count);
        Assert.Empty(train.Select(i => i.Item).Intersect(test.Select(i => i.Item)));
    }
}
