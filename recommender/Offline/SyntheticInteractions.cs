using Ecrm.Recommender.Models;

namespace Ecrm.Recommender.Offline;

/// <summary>The shape of a synthetic data set; the defaults mirror MovieLens-100k (943 users, 1,682 items, about 100,000 interactions, at least 20 per user).</summary>
internal sealed record SyntheticOptions
{
    public int Users { get; init; } = 943;

    public int Items { get; init; } = 1682;

    public int MinPerUser { get; init; } = 20;

    /// <summary>The mean number of items per user; the counts are log-normal with a long tail, like MovieLens's.</summary>
    public int MeanPerUser { get; init; } = 106;

    public int Factors { get; init; } = 8;

    /// <summary>How much personal taste weighs against item popularity when users choose items.</summary>
    public double Taste { get; init; } = 2.0;

    public int Seed { get; init; } = 7;
}

/// <summary>
/// A deterministic synthetic interaction set with latent structure, for evaluating models where no
/// real data set is at hand. Users and items have random taste vectors and items a log-normal
/// popularity; each user picks items without replacement with probability ∝ exp(taste·u·v/√d + bias)
/// (sampled with the Gumbel-max trick), and goes deeper in the dialogue (weight 1 to 4, from view to
/// purchase) the better the item matches. Each user is active over a 30-day window within 210 days.
/// Popularity alone explains part of the choices; the rest rewards a model that learns co-preferences.
/// </summary>
internal static class SyntheticInteractions
{
    private static readonly DateTimeOffset Start = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static IEnumerable<Interaction> Generate(SyntheticOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Users, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Items, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MinPerUser, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MeanPerUser, options.MinPerUser);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Factors, 1);

        // A seeded System.Random yields the same sequence on every .NET version and platform.
        var random = new Random(options.Seed);
        var scale = options.Taste / Math.Sqrt(options.Factors);
        var items = Enumerable.Range(0, options.Items).Select(_ => Gaussians(random, options.Factors)).ToArray();
        var bias = Enumerable.Range(0, options.Items).Select(_ => Gaussian(random)).ToArray();

        // Log-normal counts above the minimum with the median about half the mean, as in MovieLens-100k.
        var excess = options.MeanPerUser - options.MinPerUser;
        var sigma = Math.Sqrt(2 * Math.Log(2));
        var mu = Math.Log(Math.Max(1, excess)) - (sigma * sigma / 2);
        var maxPerUser = Math.Max(options.MinPerUser, options.Items / 2);

        var keys = new double[options.Items];
        var matches = new double[options.Items];
        var order = new int[options.Items];
        for (var user = 0; user < options.Users; user++)
        {
            var taste = Gaussians(random, options.Factors);
            var count = Math.Min(maxPerUser, options.MinPerUser + (int)Math.Round(Math.Exp(mu + (sigma * Gaussian(random)))));
            for (var item = 0; item < options.Items; item++)
            {
                matches[item] = scale * Dot(taste, items[item]);
                keys[item] = matches[item] + bias[item] - Math.Log(-Math.Log(1 - random.NextDouble()));
                order[item] = item;
            }

            Array.Sort(keys, order);
            var activeFrom = Start.AddDays(random.NextDouble() * 180);
            for (var pick = 0; pick < count; pick++)
            {
                var item = order[options.Items - 1 - pick];
                var stage = 1;
                while (stage < 4 && random.NextDouble() < Sigmoid(matches[item] - (2 * stage) + 1))
                {
                    stage++;
                }

                var time = activeFrom.AddSeconds(Math.Floor(random.NextDouble() * 30 * 86_400));
                yield return new Interaction((user + 1).ToString(), (item + 1).ToString(), stage, time);
            }
        }
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    private static double Dot(double[] a, double[] b)
    {
        var sum = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    private static double[] Gaussians(Random random, int count) => [.. Enumerable.Range(0, count).Select(_ => Gaussian(random))];

    /// <summary>A standard normal draw (Box-Muller), from the seeded generator only.</summary>
    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
