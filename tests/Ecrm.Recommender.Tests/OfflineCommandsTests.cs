using Ecrm.Recommender.Models;
using Ecrm.Recommender.Offline;
using Xunit;

namespace Ecrm.Recommender.Tests;

public sealed class OfflineCommandsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("ecrm-offline-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void InteractionFilesReadMovieLensCommaSeparatedAndIsoTimestamps()
    {
        var path = Path.Combine(_folder, "mixed.txt");
        File.WriteAllText(path, "userId,itemId,rating,timestamp\n196\t242\t3\t881250949\n# a comment\n\nu2, i9, 4, 2026-01-02T03:04:05Z\nu3 i1\n");

        var interactions = InteractionFile.Read(path);

        Assert.Equal(
            [
                new Interaction("196", "242", 3, DateTimeOffset.FromUnixTimeSeconds(881250949)),
                new Interaction("u2", "i9", 4, new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero)),
                new Interaction("u3", "i1", 1, DateTimeOffset.UnixEpoch),
            ],
            interactions);
    }

    [Fact]
    public void ABadLineIsReportedWithItsNumber()
    {
        var path = Path.Combine(_folder, "bad.tsv");
        File.WriteAllText(path, "1\t2\t3\t4\n1\t3\t-1\t4\n");

        var error = Assert.Throws<FormatException>(() => InteractionFile.Read(path));

        Assert.Contains("line 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SyntheticDataIsDeterministicBySeedAndWeightedByStage()
    {
        var options = new SyntheticOptions { Users = 30, Items = 50, MeanPerUser = 25 };

        var first = SyntheticInteractions.Generate(options).ToList();

        Assert.Equal(first, SyntheticInteractions.Generate(options));
        Assert.NotEqual(first, SyntheticInteractions.Generate(options with { Seed = 8 }));
        Assert.All(first, i => Assert.InRange(i.Weight, 1, 4));
        Assert.All(first.GroupBy(i => i.User), user => Assert.InRange(user.Count(), 20, 25));
    }

    [Fact]
    public async Task RecommendOfflineWritesTopKUnseenItemsPerUser()
    {
        var train = Path.Combine(_folder, "train.tsv");
        var output = Path.Combine(_folder, "out.tsv");
        var model = Path.Combine(_folder, "model.bin");
        File.WriteAllText(train, "u1\ta\t1\t0\nu1\tb\t1\t0\nu2\ta\t1\t0\nu2\tb\t1\t0\nu2\tc\t1\t0\nu3\tb\t1\t0\nu3\tc\t1\t0\n");

        var exit = await OfflineCommands.RunAsync(["recommend-offline", "--train", train, "--k", "2", "--out", output, "--model", "sar", "--save-model", model]);

        // Jaccard (see CollaborativeModelTests): u1 gets c = 1/3 + 2/3, u3 gets a = 1/3 + 2/3, u2 has seen all.
        Assert.Equal(0, exit);
        Assert.Equal(["u1\tc\t1\t1", "u3\ta\t1\t1"], File.ReadAllLines(output));
        Assert.Equal(ModelKind.Sar, ModelFile.Load(model).Kind);
    }

    [Fact]
    public async Task EvaluateRunsEveryModelOnGeneratedData()
    {
        var data = Path.Combine(_folder, "synthetic.tsv");

        Assert.Equal(0, await OfflineCommands.RunAsync(["generate", "--out", data, "--users", "60", "--items", "80", "--mean-per-user", "30"]));
        Assert.Equal(0, await OfflineCommands.RunAsync(["evaluate", "--interactions", data, "--seed", "3", "--k", "5"]));
        Assert.NotEqual(0, await OfflineCommands.RunAsync(["evaluate", "--interactions", Path.Combine(_folder, "missing.tsv")]));
    }
}
