using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Ecrm.Common.Events;

namespace Ecrm.Common.Catalog;

/// <summary>
/// A validated topic catalog: which page, email link or app screen means which topic and stage.
/// Built only through <see cref="Parse(ReadOnlySpan{byte}, long)"/>, so a running service never holds a bad one.
/// </summary>
public sealed partial class TopicCatalog
{
    /// <summary>The name the topic catalog is published under in <see cref="Storage.VersionedDocuments"/>.</summary>
    public const string DocumentName = "topics";

    private readonly Dictionary<string, Topic> _topicsById;

    private TopicCatalog(StageScale stages, IReadOnlyList<Topic> topics, long version, CatalogSettings? settings = null)
    {
        Stages = stages;
        Settings = settings ?? CatalogSettings.Default;
        Topics = topics;
        Version = version;
        _topicsById = topics.ToDictionary(t => t.Id, StringComparer.Ordinal);
    }

    /// <summary>What a service runs with before anyone published a catalog: events are archived, nothing is folded.</summary>
    public static TopicCatalog Empty { get; } = new(StageScale.Default, [], 0);

    public StageScale Stages { get; }

    /// <summary>How dialogues age and how identities may merge.</summary>
    public CatalogSettings Settings { get; }

    public IReadOnlyList<Topic> Topics { get; }

    /// <summary>The number this catalog got when it was published; transitions record it.</summary>
    public long Version { get; }

    public Topic? FindTopic(string id) => _topicsById.GetValueOrDefault(id);

    public TopicCatalog WithVersion(long version) => new(Stages, Topics, version, Settings);

    public static CatalogParseResult Parse(string json, long version = 0) => Parse(System.Text.Encoding.UTF8.GetBytes(json), version);

    /// <summary>Parses and validates a catalog document. Every error names the topic, rule and field.</summary>
    public static CatalogParseResult Parse(ReadOnlySpan<byte> utf8Json, long version = 0)
    {
        TopicCatalogDocument? document;
        try
        {
            document = JsonSerializer.Deserialize(utf8Json, CatalogJsonContext.Default.TopicCatalogDocument);
        }
        catch (JsonException e)
        {
            return CatalogParseResult.Failed([$"catalog is not valid JSON: {e.Message}"]);
        }

        if (document is null)
        {
            return CatalogParseResult.Failed(["catalog is empty"]);
        }

        var errors = new List<string>();
        var stages = ValidateStages(document.Stages, errors);
        var settings = ValidateSettings(document.Settings, errors);
        var topics = new List<Topic>();
        var seenIds = new HashSet<string>(StringComparer.Ordinal);
        var topicDocuments = document.Topics ?? [];
        if (topicDocuments.Count == 0)
        {
            errors.Add("topics: at least one topic is required");
        }

        for (var t = 0; t < topicDocuments.Count; t++)
        {
            var topicDocument = topicDocuments[t];
            var where = $"topics[{t}]";
            if (topicDocument is null)
            {
                errors.Add($"{where}: must be an object");
                continue;
            }

            if (string.IsNullOrEmpty(topicDocument.Id) || !TopicIdPattern().IsMatch(topicDocument.Id))
            {
                errors.Add($"{where}.id: required, 1-100 characters of letters, digits, '.', '_' or '-'");
                continue;
            }

            where = $"topic '{topicDocument.Id}'";
            if (!seenIds.Add(topicDocument.Id))
            {
                errors.Add($"{where}.id: duplicate topic id");
            }

            var rules = new List<TopicRule>();
            var ruleDocuments = topicDocument.Rules ?? [];
            for (var r = 0; r < ruleDocuments.Count; r++)
            {
                var rule = ValidateRule(ruleDocuments[r], $"{where} rules[{r}]", stages, errors);
                if (rule is not null)
                {
                    rules.Add(rule);
                }
            }

            topics.Add(new Topic(topicDocument.Id, string.IsNullOrWhiteSpace(topicDocument.Name) ? topicDocument.Id : topicDocument.Name!, rules));
        }

        return errors.Count > 0
            ? CatalogParseResult.Failed(errors)
            : CatalogParseResult.Succeeded(new TopicCatalog(stages, topics, version, settings));
    }

    private static CatalogSettings ValidateSettings(CatalogSettingsDocument? document, List<string> errors)
    {
        if (document is null)
        {
            return CatalogSettings.Default;
        }

        var defaults = CatalogSettings.Default;
        var dormancy = document.DormancyDays ?? defaults.DormancyDays;
        var halfLife = document.ScoreHalfLifeDays ?? defaults.ScoreHalfLifeDays;
        if (!(dormancy > 0 && dormancy <= 3650))
        {
            errors.Add("settings.dormancyDays: a number of days above 0 and at most 3650");
        }

        if (!(halfLife > 0 && halfLife <= 3650))
        {
            errors.Add("settings.scoreHalfLifeDays: a number of days above 0 and at most 3650");
        }

        return new CatalogSettings(dormancy, halfLife, document.MergeKnownCustomers ?? defaults.MergeKnownCustomers);
    }

    private static StageScale ValidateStages(List<string?>? names, List<string> errors)
    {
        if (names is null || names.Count == 0)
        {
            return StageScale.Default;
        }

        if (names.Count > 20)
        {
            errors.Add("stages: at most 20 stages");
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < names.Count; i++)
        {
            var name = names[i];
            if (string.IsNullOrWhiteSpace(name) || int.TryParse(name, out _))
            {
                errors.Add($"stages[{i}]: a stage needs a non-numeric name");
            }
            else if (!seen.Add(name))
            {
                errors.Add($"stages[{i}]: duplicate stage name '{name}'");
            }
        }

        return new StageScale(names.Select(n => n ?? "").ToArray());
    }

    private static TopicRule? ValidateRule(TopicRuleDocument? document, string where, StageScale stages, List<string> errors)
    {
        if (document is null)
        {
            errors.Add($"{where}: must be an object");
            return null;
        }

        var errorCount = errors.Count;
        Channel? channel = null;
        if (document.Channel is not null)
        {
            if (ChannelNames.TryParse(document.Channel, out var parsed))
            {
                channel = parsed;
            }
            else
            {
                errors.Add($"{where}.channel: '{document.Channel}' is not one of web, email, mobile, server");
            }
        }

        var stage = 0;
        if (document.Stage is not { } stageValue || !stages.TryResolve(stageValue, out stage))
        {
            errors.Add($"{where}.stage: required, a number from 1 to {stages.Count} or one of {string.Join(", ", stages.Names)}");
        }

        var match = document.Match;
        if (match is null || (match.Path, match.Event, match.Campaign, match.Action, match.Screen) == (null, null, null, null, null))
        {
            errors.Add($"{where}.match: needs at least one of path, event, campaign, action, screen");
            return null;
        }

        if (match.Path is not null && !match.Path.StartsWith('/'))
        {
            errors.Add($"{where}.match.path: must start with '/'");
        }

        if (match.Action is not null && match.Action is not ("open" or "click"))
        {
            errors.Add($"{where}.match.action: '{match.Action}' is not one of open, click");
        }

        if ((match.Campaign is not null || match.Action is not null) && channel is not (null or Channel.Email))
        {
            errors.Add($"{where}.match: campaign and action apply to the email channel only");
        }

        if (match.Screen is not null && channel is not (null or Channel.Mobile))
        {
            errors.Add($"{where}.match.screen: applies to the mobile channel only");
        }

        var properties = new List<KeyValuePair<string, JsonElement>>();
        if (match.Properties is { } props)
        {
            if (props.ValueKind != JsonValueKind.Object)
            {
                errors.Add($"{where}.match.properties: must be an object");
            }
            else
            {
                foreach (var property in props.EnumerateObject())
                {
                    if (property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                    {
                        errors.Add($"{where}.match.properties.{property.Name}: must be a string, number or boolean");
                    }

                    properties.Add(new(property.Name, property.Value.Clone()));
                }
            }
        }

        return errors.Count > errorCount
            ? null
            : new TopicRule(channel, match.Path, match.Event, properties, match.Campaign, match.Action, match.Screen, stage);
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,100}$")]
    private static partial Regex TopicIdPattern();
}

public sealed record Topic(string Id, string Name, IReadOnlyList<TopicRule> Rules);

/// <summary>
/// One way of reaching a stage. Every condition given must hold; a rule without a channel applies to all.
/// A path ending in '*' matches by prefix.
/// </summary>
public sealed record TopicRule(
    Channel? Channel,
    string? Path,
    string? Event,
    IReadOnlyList<KeyValuePair<string, JsonElement>> Properties,
    string? Campaign,
    string? Action,
    string? Screen,
    int Stage);

public sealed record CatalogParseResult(TopicCatalog? Catalog, IReadOnlyList<string> Errors)
{
    public static CatalogParseResult Succeeded(TopicCatalog catalog) => new(catalog, []);

    public static CatalogParseResult Failed(IReadOnlyList<string> errors) => new(null, errors);
}

/// <summary>
/// How dialogues age and merge. A dialogue idle for <paramref name="DormancyDays"/> is dormant, and its
/// next interaction opens a new episode; the interest score halves every <paramref name="ScoreHalfLifeDays"/>.
/// Two known customers (identified ids: with traits or linked ids) are merged by an alias only when <paramref name="MergeKnownCustomers"/> is set.
/// </summary>
public sealed record CatalogSettings(double DormancyDays, double ScoreHalfLifeDays, bool MergeKnownCustomers)
{
    public static CatalogSettings Default { get; } = new(30, 14, false);

    public TimeSpan Dormancy => TimeSpan.FromDays(DormancyDays);

    public TimeSpan ScoreHalfLife => TimeSpan.FromDays(ScoreHalfLifeDays);
}

public sealed class TopicCatalogDocument
{
    public CatalogSettingsDocument? Settings { get; set; }
    public List<string?>? Stages { get; set; }
    public List<TopicDocument?>? Topics { get; set; }
}

public sealed class CatalogSettingsDocument
{
    public double? DormancyDays { get; set; }
    public double? ScoreHalfLifeDays { get; set; }
    public bool? MergeKnownCustomers { get; set; }
}

public sealed class TopicDocument
{
    public string? Id { get; set; }
    public string? Name { get; set; }
    public List<TopicRuleDocument?>? Rules { get; set; }
}

public sealed class TopicRuleDocument
{
    public string? Channel { get; set; }
    public RuleMatchDocument? Match { get; set; }
    public JsonElement? Stage { get; set; }
}

public sealed class RuleMatchDocument
{
    public string? Path { get; set; }
    public string? Event { get; set; }
    public JsonElement? Properties { get; set; }
    public string? Campaign { get; set; }
    public string? Action { get; set; }
    public string? Screen { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, AllowTrailingCommas = true, ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(TopicCatalogDocument))]
internal sealed partial class CatalogJsonContext : JsonSerializerContext;
