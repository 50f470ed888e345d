using Ecrm.Recommender.Models;
using MathNet.Numerics.LinearAlgebra.Double;
using Xunit;

namespace Ecrm.Recommender.Tests;

public sealed class CollaborativeModelTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    private static Interaction[] Histories(params (string User, string Items)[] users) =>
    [
        .. users.SelectMany(u => u.Items.Split(' ').Select(item => new Interaction(u.User, item, 1, Now))),
    ];

    private static ItemItemModel Train(ModelKind kind, IEnumerable<Interaction> interactions, double lambda = 500) =>
        ModelTrainer.Train(interactions, ModelOptions.For(kind) with { EaseLambda = lambda });

    [Fact]
    public void EaseMatchesTheClosedFormComputedByHand()
    {
        // X (users × items i1 i2 i3): u1 = 1 1 0, u2 = 0 1 1, u3 = 1 1 1; 0/1 data, so λ = 1 is used as is.
        // XᵀX + I = [[3,2,1],[2,4,2],[1,2,3]], determinant 16, adjugate [[8,-4,0],[-4,8,-4],[0,-4,8]],
        // so P = [[.5,-.25,0],[-.25,.5,-.25],[0,-.25,.5]] and B[i,j] = -P[i,j]/P[j,j] with a zero diagonal:
        // B = [[0,.5,0],[.5,0,.5],[0,.5,0]].
        var model = Train(ModelKind.Ease, Histories(("u1", "i1 i2"), ("u2", "i2 i3"), ("u3", "i1 i2 i3")), lambda: 1);

        float[] expected = [0, 0.5f, 0, 0.5f, 0, 0.5f, 0, 0.5f, 0];
        Assert.Equal(expected, model.ItemItem!, (a, b) => Math.Abs(a - b) < 1e-6);

        // u1 (i1, i2) scores i3 with B[i1,i3] + B[i2,i3] = 0 + 0.5; seen items never come back.
        AssertScores([("i3", 0.5)], model.Recommend("u1", 10));
        AssertScores([("i2", 0.5), ("i3", 0)], model.Similar("i1", 10));
    }

    [Fact]
    public void EaseMatchesMathNetsPlainInverseOnWeightedData()
    {
        // An independent path: dense X, MathNet's LU inverse, B = -P/diag(P), against the trainer's
        // sparse Gram matrix and Cholesky-based inverse. λ is scaled by the mean squared weight.
        var random = new Random(3);
        var interactions = new List<Interaction>();
        for (var user = 0; user < 40; user++)
        {
            foreach (var item in Enumerable.Range(0, 15).Where(_ => random.NextDouble() < 0.3))
            {
                interactions.Add(new Interaction($"u{user}", $"i{item}", 1 + random.Next(4), Now));
            }
        }

        var model = Train(ModelKind.Ease, interactions, lambda: 2);

        var items = model.History.Items;
        var users = model.History.Users;
        var x = new DenseMatrix(users.Length, items.Length);
        foreach (var i in interactions)
        {
            x[Array.IndexOf(users, i.User), Array.IndexOf(items, i.Item)] += i.Weight;
        }

        var meanSquare = interactions.Average(i => i.Weight * i.Weight);
        var p = (x.TransposeThisAndMultiply(x) + (DenseMatrix.CreateIdentity(items.Length) * (2 * meanSquare))).Inverse();
        for (var i = 0; i < items.Length; i++)
        {
            for (var j = 0; j < items.Length; j++)
            {
                var expected = i == j ? 0 : -p[i, j] / p[j, j];
                Assert.Equal(expected, model.ItemItem![(i * items.Length) + j], 1e-5);
            }
        }
    }

    [Fact]
    public void SarSimilarityIsJaccardOrLiftOfCooccurrences()
    {
        // Users: u1 {a,b}, u2 {a,b,c}, u3 {b,c}. Users per item: a 2, b 3, c 2; shared: ab 2, ac 1, bc 2.
        // Jaccard: ab 2/(2+3-2) = 2/3, ac 1/(2+2-1) = 1/3, bc 2/(3+2-2) = 2/3.
        // Lift:    ab 2/(2·3) = 1/3,   ac 1/(2·2) = 1/4,   bc 2/(3·2) = 1/3.
        var data = Histories(("u1", "a b"), ("u2", "a b c"), ("u3", "b c"));

        var jaccard = Train(ModelKind.Sar, data);
        var lift = ModelTrainer.Train(data, ModelOptions.For(ModelKind.Sar) with { Similarity = SarSimilarity.Lift });

        AssertScores([("b", 2.0 / 3), ("c", 1.0 / 3)], jaccard.Similar("a", 10));
        AssertScores([("a", 2.0 / 3), ("c", 2.0 / 3)], jaccard.Similar("b", 10));
        AssertScores([("b", 1.0 / 3), ("c", 1.0 / 4)], lift.Similar("a", 10));

        // u1 has a and b (affinity 1 each): c scores S[a,c] + S[b,c] = 1/3 + 2/3.
        AssertScores([("c", 1.0)], jaccard.Recommend("u1", 10));
    }

    [Fact]
    public void SarDecaysAffinityByHalfLifeFromTheNewestInteraction()
    {
        // Half-life 30 days: a purchase (4) 60 days before the newest interaction counts 4 · 2^-2 = 1.
        Interaction[] data =
        [
            new("u1", "a", 4, Now.AddDays(-60)),
            new("u1", "b", 1, Now),
            new("u1", "b", 2, Now.AddDays(-30)),
        ];

        var model = Train(ModelKind.Sar, data);

        // b: 1 + 2 · 2^-1 = 2.
        Assert.Equal([1f, 2f], model.History.AffinitiesOf(0).ToArray());
    }

    [Theory]
    [InlineData(ModelKind.Ease)]
    [InlineData(ModelKind.Sar)]
    public void DeeperStagesWeighStronger(ModelKind kind)
    {
        // b goes with a, e with d. A purchase of a (4) and a view of d (1) put b first; the reverse puts e first.
        var others = Histories(("u1", "a b"), ("u2", "a b"), ("u3", "d e"), ("u4", "d e"));
        Interaction[] boughtA = [.. others, new("x", "a", 4, Now), new("x", "d", 1, Now)];
        Interaction[] boughtD = [.. others, new("x", "a", 1, Now), new("x", "d", 4, Now)];

        Assert.Equal("b", Train(kind, boughtA, lambda: 0.1).Recommend("x", 1).Single().Item);
        Assert.Equal("e", Train(kind, boughtD, lambda: 0.1).Recommend("x", 1).Single().Item);
    }

    [Theory]
    [InlineData(ModelKind.Ease)]
    [InlineData(ModelKind.Sar)]
    [InlineData(ModelKind.Popularity)]
    public void SeenAndExcludedItemsAreNeverRecommended(ModelKind kind)
    {
        var model = Train(kind, Histories(("u1", "a b"), ("u2", "a b c d"), ("u3", "b c d e")));

        var items = model.Recommend("u1", 10, new HashSet<string> { "d" }).Select(s => s.Item).ToList();

        Assert.Equal(["c", "e"], items.Order());
        Assert.Empty(model.Recommend("u2", 10, new HashSet<string> { "e" }));
    }

    [Theory]
    [InlineData(ModelKind.Ease)]
    [InlineData(ModelKind.Sar)]
    [InlineData(ModelKind.Popularity)]
    public void ColdUsersGetTheMostPopularItems(ModelKind kind)
    {
        // Users per item: b 3 of 3, a and c 2 of 3 (a first by item order), d 1.
        var model = Train(kind, Histories(("u1", "a b"), ("u2", "a b c"), ("u3", "b c d")));

        Assert.False(model.KnowsUser("stranger"));
        AssertScores([("b", 1), ("a", 2.0 / 3), ("c", 2.0 / 3)], model.Recommend("stranger", 3));
        AssertScores([("a", 2.0 / 3), ("c", 2.0 / 3)], model.Recommend("stranger", 2, new HashSet<string> { "b" }));
    }

    [Fact]
    public void AHistoryGivenNowIsScoredLikeATrainedOne()
    {
        var model = Train(ModelKind.Sar, Histories(("u1", "a b"), ("u2", "a b c"), ("u3", "b c")));

        Assert.Equal(model.Recommend("u1", 10), model.RecommendFor(new Dictionary<string, double> { ["a"] = 1, ["b"] = 1, ["unknown"] = 5 }, 10));
    }

    [Theory]
    [InlineData(ModelKind.Ease)]
    [InlineData(ModelKind.Sar)]
    [InlineData(ModelKind.Popularity)]
    public void SavedModelLoadsIdentical(ModelKind kind)
    {
        var model = Train(kind, Histories(("u1", "a b"), ("u2", "a b c"), ("u3", "b c d"), ("u4", "d e")));
        var path = Path.Combine(Path.GetTempPath(), $"ecrm-model-{Guid.NewGuid():N}.bin");
        try
        {
            ModelFile.Save(model, path);
            var loaded = ModelFile.Load(path);

            Assert.Equal((model.Kind, model.Version, model.TrainedAt), (loaded.Kind, loaded.Version, loaded.TrainedAt));
            foreach (var user in model.Users.Append("stranger"))
            {
                Assert.Equal(model.Recommend(user, 10), loaded.Recommend(user, 10));
            }

            Assert.Equal(model.Similar("b", 10), loaded.Similar("b", 10));
            Assert.Single(Directory.GetFiles(Path.GetTempPath(), $"{Path.GetFileName(path)}*"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void DamagedModelFileIsRefused()
    {
        var model = Train(ModelKind.Ease, Histories(("u1", "a b"), ("u2", "b c")));
        var path = Path.Combine(Path.GetTempPath(), $"ecrm-model-{Guid.NewGuid():N}.bin");
        try
        {
            ModelFile.Save(model, path);
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

            Assert.Throws<InvalidDataException>(() => ModelFile.Load(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void MaxItemsKeepsTheItemsMostUsersShare()
    {
        var model = ModelTrainer.Train(
            Histories(("u1", "rare a b"), ("u2", "a b"), ("u3", "b")),
            ModelOptions.For(ModelKind.Ease) with { MaxItems = 2 });

        Assert.Equal(["a", "b"], model.History.Items);
        Assert.Empty(model.Similar("rare", 10));
    }

    private static void AssertScores((string Item, double Score)[] expected, IReadOnlyList<ScoredItem> actual)
    {
        Assert.Equal(expected.Select(e => e.Item), actual.Select(a => a.Item));
        Assert.All(expected.Zip(actual), pair => Assert.Equal(pair.First.Score, pair.Second.Score, 1e-6));
    }
}
