namespace Ecrm.Recommender.Models;

public enum SarSimilarity
{
    /// <summary>Co-occurrences over the users of either item: favours items of similar reach.</summary>
    Jaccard,

    /// <summary>Co-occurrences over the product of each item's users: favours discovery of rarer items.</summary>
    Lift,

    /// <summary>Raw co-occurrence counts: favours popular items.</summary>
    Cooccurrence,
}

/// <summary>How to train a model; <see cref="For"/> gives each kind's defaults.</summary>
public sealed record ModelOptions
{
    public ModelKind Kind { get; init; } = ModelKind.Ease;

    /// <summary>
    /// The half-life of an interaction's weight, counted back from the newest interaction; null keeps
    /// every interaction at full weight.
    /// </summary>
    public TimeSpan? HalfLife { get; init; }

    /// <summary>
    /// EASE's L2 regularisation λ as for 0/1 data; training multiplies it by the mean squared affinity
    /// before adding it to the Gram matrix's diagonal, so it does not depend on the weights' scale.
    /// </summary>
    public double EaseLambda { get; init; } = 500;

    public SarSimilarity Similarity { get; init; } = SarSimilarity.Jaccard;

    /// <summary>SAR ignores item pairs that fewer users than this share.</summary>
    public int CooccurrenceThreshold { get; init; } = 1;

    /// <summary>
    /// The most items a model keeps (the ones the most users interacted with): the item-item matrix is
    /// dense, 4 bytes per pair, so 20,000 items take 1.6 GB and EASE's inversion grows with the cube.
    /// </summary>
    public int MaxItems { get; init; } = 20_000;

    /// <summary>
    /// The defaults of each kind: SAR decays with a 30-day half-life, as Microsoft Recommenders'
    /// MovieLens benchmark runs it; EASE and popularity use every interaction at full weight.
    /// </summary>
    public static ModelOptions For(ModelKind kind) => kind switch
    {
        ModelKind.Sar => new ModelOptions { Kind = kind, HalfLife = TimeSpan.FromDays(30) },
        _ => new ModelOptions { Kind = kind },
    };
}

/// <summary>How far a training phase has come, from 0 to 1.</summary>
public readonly record struct TrainingProgress(string Phase, double Fraction);
