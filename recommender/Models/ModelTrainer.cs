using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Ecrm.Recommender.Models;

/// <summary>Trains EASE, SAR and popularity models from interactions.</summary>
public static class ModelTrainer
{
    public static ItemItemModel Train(IEnumerable<Interaction> interactions, ModelOptions options, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.EaseLambda, 0, nameof(options.EaseLambda));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.CooccurrenceThreshold, 1, nameof(options.CooccurrenceThreshold));
        var history = UserItemAffinity.Build(interactions, options.HalfLife, options.MaxItems);
        var popularity = Popularity(history);
        var itemItem = options.Kind switch
        {
            ModelKind.Popularity => null,
            ModelKind.Ease => Ease(history, options.EaseLambda, progress, cancellationToken),
            ModelKind.Sar => Sar(history, options.Similarity, options.CooccurrenceThreshold, progress, cancellationToken),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "Unknown model kind."),
        };
        var trainedAt = DateTimeOffset.UtcNow;
        return new ItemItemModel(options.Kind, VersionOf(options.Kind, trainedAt, itemItem ?? popularity), trainedAt, history, itemItem, popularity);
    }

    /// <summary>Per item, the share of users who interacted with it.</summary>
    private static float[] Popularity(UserItemAffinity history)
    {
        var users = Math.Max(1, history.UserCount);
        return [.. history.UsersPerItem().Select(count => (float)count / users)];
    }

    /// <summary>
    /// EASE (Steck 2019): B = I - P·diagMat(1/diag(P)) with P = (XᵀX + λI)⁻¹, that is
    /// B[i,j] = -P[i,j] / P[j,j] off the diagonal and 0 on it, so no item predicts itself.
    /// λ is scaled by the mean squared affinity, so it means on weighted data what it means on 0/1 data
    /// (Steck's setting), and scaling every weight by one factor leaves B unchanged.
    /// </summary>
    private static float[] Ease(UserItemAffinity history, double lambda, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        var n = history.ItemCount;
        var gram = ItemGram.Compute(history, binary: false, progress, cancellationToken);
        var meanSquare = history.Values.Length == 0 ? 1 : history.Values.Average(v => (double)v * v);
        for (var i = 0; i < n; i++)
        {
            gram[(i * n) + i] += lambda * meanSquare;
        }

        var p = SymmetricPositiveDefinite.Invert(gram, n, progress, cancellationToken);
        var weights = new float[n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                weights[(i * n) + j] = i == j ? 0 : (float)(-p[(i * n) + j] / p[(j * n) + j]);
            }
        }

        return weights;
    }

    /// <summary>
    /// SAR's item similarity from co-occurrence counts C (users who interacted with both items):
    /// Jaccard C[i,j] / (C[i,i] + C[j,j] - C[i,j]), lift C[i,j] / (C[i,i]·C[j,j]), or C itself.
    /// </summary>
    private static float[] Sar(UserItemAffinity history, SarSimilarity similarity, int threshold, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken)
    {
        var n = history.ItemCount;
        var counts = ItemGram.Compute(history, binary: true, progress, cancellationToken);
        var similarities = new float[n * n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var both = counts[(i * n) + j];
                if (both < threshold)
                {
                    continue;
                }

                var (ci, cj) = (counts[(i * n) + i], counts[(j * n) + j]);
                similarities[(i * n) + j] = (float)(similarity switch
                {
                    SarSimilarity.Jaccard => both / (ci + cj - both),
                    SarSimilarity.Lift => both / (ci * cj),
                    _ => both,
                });
            }
        }

        return similarities;
    }

    private static string VersionOf(ModelKind kind, DateTimeOffset trainedAt, float[] contents)
    {
        var hash = SHA256.HashData(MemoryMarshal.AsBytes(contents.AsSpan()));
        return $"{kind.ToString().ToLowerInvariant()}-{trainedAt:yyyyMMdd'T'HHmmss'Z'}-{Convert.ToHexStringLower(hash.AsSpan(0, 4))}";
    }
}
