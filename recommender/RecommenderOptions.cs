using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using Ecrm.Recommender.Models;

namespace Ecrm.Recommender;

public sealed partial record RecommenderOptions : IValidatableObject
{
    public const string Section = "Recommender";

    /// <summary>A content catalog published at start-up when Redis holds none yet.</summary>
    public string ContentSeedFile { get; init; } = "";

    [Range(1, 1000)]
    public int DefaultCount { get; init; } = 10;

    [Range(1, 1000)]
    public int MaxCount { get; init; } = 100;

    /// <summary>Browser origins that may call the recommendation endpoints (CORS); "*" allows any.</summary>
    public string[] AllowedOrigins { get; init; } = [];

    /// <summary>How often each instance checks Redis for newer topic and content catalogs.</summary>
    [Range(100, 600_000)]
    public int CatalogPollMs { get; init; } = 1000;

    /// <summary>Where trained models are saved and loaded from (relative to the content root); each is <c>{version}.model</c>.</summary>
    [Required]
    public string ModelDirectory { get; init; } = "models";

    /// <summary>How often to look in <see cref="ModelDirectory"/> for a model newer than the running one (trained by the CLI or another instance).</summary>
    [Range(1, 86_400)]
    public int ModelPollSeconds { get; init; } = 30;

    /// <summary>Minutes between scheduled trainings from the ClickHouse archive; 0 turns the job off.</summary>
    [Range(0, 525_600)]
    public int TrainingIntervalMinutes { get; init; }

    /// <summary>How far back training reads the archive, in days; 0 reads all of it.</summary>
    [Range(0, 36_500)]
    public int TrainingDays { get; init; } = 365;

    /// <summary>The model kind of the single variant when <see cref="Variants"/> is empty.</summary>
    public ModelKind Model { get; init; } = ModelKind.Ease;

    /// <summary>The blend weights of the single variant, and of variants that name none.</summary>
    public BlendWeights Blend { get; init; } = new();

    /// <summary>A/B variants; customers are split between them by a stable hash of their id.</summary>
    public VariantOptions[] Variants { get; init; } = [];

    /// <summary>At most this many items of one topic in a response (diversity).</summary>
    [Range(1, 1000)]
    public int MaxPerTopic { get; init; } = 3;

    public FrequencyCapOptions FrequencyCap { get; init; } = new();

    /// <summary>Content boosted for the customers of saved segments (the engine keeps their members in Redis).</summary>
    public SegmentBoostOptions[] SegmentBoosts { get; init; } = [];

    /// <summary>The variants in force: the configured ones, or one named "default" from <see cref="Model"/> and <see cref="Blend"/>.</summary>
    public IReadOnlyList<Variant> EffectiveVariants() => Variants.Length == 0
        ? [new Variant("default", Model, Blend)]
        : [.. Variants.Select(v => new Variant(v.Name, v.Model, v.Blend ?? Blend))];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Variants.Length; i++)
        {
            var name = Variants[i].Name;
            if (string.IsNullOrEmpty(name) || !VariantName().IsMatch(name))
            {
                yield return new ValidationResult($"Recommender:Variants:{i}:Name must be 1-32 letters, digits, '_' or '-'", [nameof(Variants)]);
            }
            else if (!names.Add(name))
            {
                yield return new ValidationResult($"Recommender:Variants:{i}:Name '{name}' is used twice", [nameof(Variants)]);
            }
        }

        foreach (var (where, blend) in Variants.Select((v, i) => ($"Recommender:Variants:{i}:Blend", v.Blend)).Prepend(("Recommender:Blend", Blend)))
        {
            if (blend is not null && (blend.StageNext < 0 || blend.Collaborative < 0 || blend.Popularity < 0))
            {
                yield return new ValidationResult($"{where} weights must not be negative", [nameof(Blend)]);
            }
        }

        if (FrequencyCap.MaxImpressions < 0 || FrequencyCap.PeriodHours < 1)
        {
            yield return new ValidationResult("Recommender:FrequencyCap: MaxImpressions must be 0 (off) or more, PeriodHours at least 1", [nameof(FrequencyCap)]);
        }
    }

    // The variant leads the recommendation id ("a.3f2c..."), so it cannot hold a '.'.
    [GeneratedRegex("^[A-Za-z0-9_-]{1,32}$")]
    private static partial Regex VariantName();
}

/// <summary>How much each signal counts in a blended score; each signal's own scores run from 0 to 1.</summary>
public sealed record BlendWeights
{
    /// <summary>Content for the next stage of the customer's live dialogues.</summary>
    public double StageNext { get; init; } = 1.0;

    /// <summary>Entry content of the topics the collaborative model scores for the customer's dialogues.</summary>
    public double Collaborative { get; init; } = 0.5;

    /// <summary>Entry content of the most popular topics: what cold customers get.</summary>
    public double Popularity { get; init; } = 0.1;
}

public sealed record VariantOptions
{
    public string Name { get; init; } = "";

    public ModelKind Model { get; init; } = ModelKind.Ease;

    /// <summary>Null: the top-level <c>Recommender:Blend</c>.</summary>
    public BlendWeights? Blend { get; init; }
}

/// <summary>One A/B arm: which model it uses and how it blends.</summary>
public sealed record Variant(string Name, ModelKind Model, BlendWeights Blend);

/// <summary>For customers of <see cref="Segment"/>, the next step of <see cref="Topic"/> (its entry content when they have no dialogue there) gets <see cref="Boost"/> added to its score.</summary>
public sealed record SegmentBoostOptions
{
    public string Segment { get; init; } = "";
    public string Topic { get; init; } = "";
    public double Boost { get; init; } = 1.0;
}

/// <summary>
/// How often one item may be served to one customer: at most <see cref="MaxImpressions"/> times per
/// period of <see cref="PeriodHours"/> (fixed periods counted from the Unix epoch).
/// </summary>
public sealed record FrequencyCapOptions
{
    /// <summary>0 (the default) turns the cap off.</summary>
    public int MaxImpressions { get; init; }

    public int PeriodHours { get; init; } = 24;
}
