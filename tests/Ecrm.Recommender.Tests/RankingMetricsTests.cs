using Ecrm.Recommender.Offline;
using Xunit;

namespace Ecrm.Recommender.Tests;

public sealed class RankingMetricsTests
{
    private const double Tolerance = 1e-6;

    // k = 3; ln is the natural logarithm (Recommenders' default discount), 1/ln2 = 1.442695,
    // 1/ln3 = 0.910239, 1/ln4 = 0.721348.
    //
    // A: relevant {a,b,c}, recommended [a,x,b,c]: hits at ranks 1 and 3 (c at 4 is past k).
    //    precision 2/3, recall 2/3, DCG 1/ln2 + 1/ln4 = 2.164043, IDCG 1/ln2 + 1/ln3 + 1/ln4 = 3.074282,
    //    nDCG 0.703918; AP sum 1/1 + 2/3 = 5/3; MAP@k (5/3)/min(3,3) = 0.555556; MAP (5/3)/3 = 0.555556.
    // B: relevant {y}, recommended [x,y,z]: hit at rank 2.
    //    precision 1/3, recall 1, nDCG (1/ln3)/(1/ln2) = 0.630930; AP 1/2; MAP@k 0.5/1; MAP 0.5/1.
    // C: relevant {p,q,r,s,t}, recommended [q,p,m,r]: hits at ranks 1 and 2 (r at 4 is past k).
    //    precision 2/3, recall 2/5, DCG 1/ln2 + 1/ln3 = 2.352934, IDCG over min(5,3) = 3 ranks 3.074282,
    //    nDCG 0.765361; AP sum 1/1 + 2/2 = 2; MAP@k 2/min(5,3) = 0.666667; MAP 2/5 = 0.4.
    // D: relevant {u}, no recommendations: zero everywhere, and still counted.
    //
    // Means over 4 users: precision (2/3 + 1/3 + 2/3 + 0)/4 = 0.416667; recall (2/3 + 1 + 0.4 + 0)/4 = 0.516667;
    // nDCG (0.703918 + 0.630930 + 0.765361 + 0)/4 = 0.525052; MAP@k (0.555556 + 0.5 + 0.666667 + 0)/4 = 0.430556;
    // MAP (0.555556 + 0.5 + 0.4 + 0)/4 = 0.363889.
    [Fact]
    public void MetricsMatchHandComputedValuesOnATinyDataset()
    {
        (IReadOnlyList<string>, IReadOnlySet<string>)[] users =
        [
            (["a", "x", "b", "c"], new HashSet<string> { "a", "b", "c" }),
            (["x", "y", "z"], new HashSet<string> { "y" }),
            (["q", "p", "m", "r"], new HashSet<string> { "p", "q", "r", "s", "t" }),
            ([], new HashSet<string> { "u" }),
        ];

        var scores = RankingMetrics.Compute(users, k: 3);

        Assert.Equal(4, scores.Users);
        Assert.Equal(0.416667, scores.Precision, Tolerance);
        Assert.Equal(0.516667, scores.Recall, Tolerance);
        Assert.Equal(0.525052, scores.Ndcg, Tolerance);
        Assert.Equal(0.430556, scores.MapAtK, Tolerance);
        Assert.Equal(0.363889, scores.Map, Tolerance);
    }

    [Fact]
    public void PerfectRankingScoresOneExceptPrecisionBeyondTheRelevantCount()
    {
        // One relevant item ranked first at k = 10: precision can only reach 1/10.
        var scores = RankingMetrics.Compute([(["a", "b"], new HashSet<string> { "a" })], k: 10);

        Assert.Equal(0.1, scores.Precision, Tolerance);
        Assert.Equal(1, scores.Recall, Tolerance);
        Assert.Equal(1, scores.Ndcg, Tolerance);
        Assert.Equal(1, scores.MapAtK, Tolerance);
        Assert.Equal(1, scores.Map, Tolerance);
    }

    [Fact]
    public void UsersWithoutHeldOutItemsAreNotCounted()
    {
        var scores = RankingMetrics.Compute([(["a"], new HashSet<string> { "a" }), (["a"], new HashSet<string>())], k: 1);

        Assert.Equal(1, scores.Users);
        Assert.Equal(1, scores.Precision, Tolerance);
    }
}
