namespace Ecrm.Recommender.Models;

/// <summary>XᵀX of the affinity matrix X, dense items by items: from each user's row only, so its cost is the sum of squared history lengths.</summary>
internal static class ItemGram
{
    /// <summary>
    /// Row-major and symmetric. With <paramref name="binary"/>, X holds 1 wherever a user interacted
    /// with an item, and the result counts the users shared by each item pair.
    /// </summary>
    public static double[] Compute(UserItemAffinity x, bool binary, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        var n = x.ItemCount;
        var gram = new double[(long)n * n];
        var phase = binary ? "co-occurrence" : "Gram matrix";
        for (var user = 0; user < x.UserCount; user++)
        {
            var items = x.ItemsOf(user);
            var values = x.AffinitiesOf(user);

            // Items of a row ascend, so a ≤ b fills the upper triangle; the lower one is mirrored below.
            for (var a = 0; a < items.Length; a++)
            {
                var row = gram.AsSpan(items[a] * n, n);
                var va = binary ? 1.0 : values[a];
                for (var b = a; b < items.Length; b++)
                {
                    row[items[b]] += binary ? 1.0 : va * values[b];
                }
            }

            if (user % 1024 == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report(new TrainingProgress(phase, (double)user / x.UserCount));
            }
        }

        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < i; j++)
            {
                gram[(i * n) + j] = gram[(j * n) + i];
            }
        }

        progress?.Report(new TrainingProgress(phase, 1));
        return gram;
    }
}
