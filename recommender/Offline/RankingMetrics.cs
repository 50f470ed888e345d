namespace Ecrm.Recommender.Offline;

/// <summary>Mean ranking metrics at k over the evaluated users.</summary>
internal readonly record struct RankingScores(double Precision, double Recall, double Ndcg, double MapAtK, double Map, int Users);

/// <summary>
/// Ranking metrics as Microsoft Recommenders' python_evaluation defines them, with binary relevance
/// (every held-out item of a user is relevant) and only the first k recommendations counted, for a user
/// with R relevant items and hits at ranks r₁ &lt; r₂ &lt; … among the first k:
/// precision = hits / k; recall = hits / R;
/// nDCG = Σ 1/ln(1 + rⱼ) over Σ_{i=1..min(R,k)} 1/ln(1 + i);
/// MAP@k (map_at_k) = Σ j/rⱼ over min(R, k); MAP (their `map`, the "MAP" of their benchmark tables) = Σ j/rⱼ over R.
/// Each is averaged over the users; a user with no recommendations counts as zero.
/// </summary>
internal static class RankingMetrics
{
    public static RankingScores Compute(IEnumerable<(IReadOnlyList<string> Recommended, IReadOnlySet<string> Relevant)> users, int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        double precision = 0, recall = 0, ndcg = 0, mapAtK = 0, map = 0;
        var count = 0;
        foreach (var (recommended, relevant) in users)
        {
            if (relevant.Count == 0)
            {
                continue;
            }

            count++;
            double hits = 0, dcg = 0, precisionSum = 0;
            for (var rank = 1; rank <= Math.Min(k, recommended.Count); rank++)
            {
                if (relevant.Contains(recommended[rank - 1]))
                {
                    hits++;
                    dcg += 1 / Math.Log(1 + rank);
                    precisionSum += hits / rank;
                }
            }

            var idealDcg = 0.0;
            for (var rank = 1; rank <= Math.Min(k, relevant.Count); rank++)
            {
                idealDcg += 1 / Math.Log(1 + rank);
            }

            precision += hits / k;
            recall += hits / relevant.Count;
            ndcg += dcg / idealDcg;
            mapAtK += precisionSum / Math.Min(k, relevant.Count);
            map += precisionSum / relevant.Count;
        }

        return count == 0
            ? new RankingScores(0, 0, 0, 0, 0, 0)
            : new RankingScores(precision / count, recall / count, ndcg / count, mapAtK / count, map / count, count);
    }
}
