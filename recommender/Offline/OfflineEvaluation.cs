using System.Diagnostics;
using Ecrm.Recommender.Models;

namespace Ecrm.Recommender.Offline;

internal sealed record ModelEvaluation(ItemItemModel Model, TimeSpan TrainingTime, TimeSpan RecommendingTime, RankingScores Scores);

/// <summary>Trains a model on the training split and scores its top k for every test user against that user's held-out items.</summary>
internal static class OfflineEvaluation
{
    public static ModelEvaluation Evaluate(ModelOptions options, IReadOnlyList<Interaction> train, IReadOnlyList<Interaction> test, int k, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var model = ModelTrainer.Train(train, options, progress, cancellationToken);
        var trainingTime = clock.Elapsed;

        clock.Restart();
        var relevant = test
            .GroupBy(i => i.User, StringComparer.Ordinal)
            .Select(g => (User: g.Key, Items: (IReadOnlySet<string>)g.Select(i => i.Item).ToHashSet(StringComparer.Ordinal)))
            .ToArray();
        var recommended = RecommendAll(model, relevant.Select(r => r.User).ToArray(), k, progress, cancellationToken);
        var scores = RankingMetrics.Compute(
            relevant.Select((r, i) => ((IReadOnlyList<string>)[.. recommended[i].Select(s => s.Item)], r.Items)), k);
        return new ModelEvaluation(model, trainingTime, clock.Elapsed, scores);
    }

    /// <summary>Each user's top k, users in parallel (a model is safe to share), in the order given.</summary>
    public static IReadOnlyList<ScoredItem>[] RecommendAll(ICollaborativeModel model, IReadOnlyList<string> users, int k, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        var recommended = new IReadOnlyList<ScoredItem>[users.Count];
        var done = 0;
        Parallel.For(0, users.Count, new ParallelOptions { CancellationToken = cancellationToken }, i =>
        {
            recommended[i] = model.Recommend(users[i], k);
            var finished = Interlocked.Increment(ref done);
            if (finished % 1000 == 0 || finished == users.Count)
            {
                progress?.Report(new TrainingProgress("recommending", (double)finished / users.Count));
            }
        });
        return recommended;
    }
}
