using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Ecrm.Recommender.Content;

/// <summary>A piece of content the recommender can serve: it belongs to a topic and serves one stage of it.</summary>
public sealed record ContentItem(
    string Id,
    string Title,
    string Url,
    string Topic,
    int Stage,
    IReadOnlyList<string> Tags,
    DateTimeOffset? ActiveFrom,
    DateTimeOffset? ActiveTo)
{
    public bool IsActiveAt(DateTimeOffset now) => (ActiveFrom is null || ActiveFrom <= now) && (ActiveTo is null || now < ActiveTo);
}

/// <summary>The validated content catalog, indexed by (topic, stage).</summary>
public sealed partial class ContentCatalog
{
    public const string DocumentName = "content";

    public const int MaxStage = 20;

    private readonly Dictionary<(string Topic, int Stage), ContentItem[]> _byTopicStage;
    private readonly Dictionary<string, ContentItem> _byId;

    private ContentCatalog(IReadOnlyList<ContentItem> items)
    {
        Items = items;
        _byTopicStage = items.GroupBy(i => (i.Topic, i.Stage)).ToDictionary(g => g.Key, g => g.ToArray());
        _byId = items.ToDictionary(i => i.Id, StringComparer.Ordinal);
        Topics = [.. items.Select(i => i.Topic).Distinct(StringComparer.Ordinal)];
    }

    public static ContentCatalog Empty { get; } = new([]);

    public IReadOnlyList<ContentItem> Items { get; }

    /// <summary>The topics that have content, in catalog order.</summary>
    public IReadOnlyList<string> Topics { get; }

    public IReadOnlyList<ContentItem> For(string topic, int stage) => _byTopicStage.GetValueOrDefault((topic, stage)) ?? [];

    public ContentItem? Find(string id) => _byId.GetValueOrDefault(id);

    /// <summary>The active content of the first stage after <paramref name="stage"/> that has any; empty when none has.</summary>
    public IReadOnlyList<ContentItem> NextStage(string topic, int stage, DateTimeOffset now)
    {
        for (var next = stage + 1; next <= MaxStage; next++)
        {
            if (_byTopicStage.TryGetValue((topic, next), out var items) && items.Any(i => i.IsActiveAt(now)))
            {
                return [.. items.Where(i => i.IsActiveAt(now))];
            }
        }

        return [];
    }

    /// <summary>How a customer new to a topic enters it: the active content of its earliest stage that has any.</summary>
    public IReadOnlyList<ContentItem> Entry(string topic, DateTimeOffset now) => NextStage(topic, 0, now);

    /// <summary>Parses <c>{"items": [...]}</c>; every error names the item and the field.</summary>
    public static (ContentCatalog? Catalog, IReadOnlyList<string> Errors) Parse(string document)
    {
        ContentCatalogDocument? parsed;
        try
        {
            parsed = JsonSerializer.Deserialize(document, ContentJsonContext.Default.ContentCatalogDocument);
        }
        catch (JsonException e)
        {
            return (null, [$"content catalog is not valid JSON: {e.Message}"]);
        }

        if (parsed?.Items is null)
        {
            return (null, ["items: required, an array of content items"]);
        }

        var errors = new List<string>();
        var items = new List<ContentItem>(parsed.Items.Count);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < parsed.Items.Count; i++)
        {
            var item = parsed.Items[i];
            var where = $"items[{i}]";
            if (item is null)
            {
                errors.Add($"{where}: must be an object");
                continue;
            }

            if (string.IsNullOrEmpty(item.Id) || !IdPattern().IsMatch(item.Id))
            {
                errors.Add($"{where}.id: required, 1-200 characters of letters, digits, '.', '_', ':' or '-'");
                continue;
            }

            where = $"item '{item.Id}'";
            var before = errors.Count;
            if (!ids.Add(item.Id))
            {
                errors.Add($"{where}.id: duplicate id");
            }

            if (string.IsNullOrWhiteSpace(item.Title))
            {
                errors.Add($"{where}.title: required");
            }

            if (!Uri.TryCreate(item.Url, UriKind.RelativeOrAbsolute, out var url) || (url.IsAbsoluteUri && url.Scheme is not ("http" or "https")))
            {
                errors.Add($"{where}.url: required, a relative path or an http(s) URL");
            }

            if (string.IsNullOrEmpty(item.Topic))
            {
                errors.Add($"{where}.topic: required");
            }

            if (item.Stage is not (>= 1 and <= MaxStage))
            {
                errors.Add($"{where}.stage: required, the 1-based stage this content serves");
            }

            if (item.ActiveFrom is { } from && item.ActiveTo is { } to && to <= from)
            {
                errors.Add($"{where}.activeTo: must be after activeFrom");
            }

            if (errors.Count == before)
            {
                items.Add(new ContentItem(item.Id, item.Title!, item.Url!, item.Topic!, item.Stage!.Value, item.Tags ?? [], item.ActiveFrom, item.ActiveTo));
            }
        }

        return errors.Count > 0 ? (null, errors) : (new ContentCatalog(items), []);
    }

    [GeneratedRegex("^[A-Za-z0-9._:-]{1,200}$")]
    private static partial Regex IdPattern();
}

public sealed class ContentCatalogDocument
{
    public List<ContentItemDocument?>? Items { get; set; }
}

public sealed class ContentItemDocument
{
    public string? Id { get; set; }
    public string? Title { get; set; }
    public string? Url { get; set; }
    public string? Topic { get; set; }
    public int? Stage { get; set; }
    public List<string>? Tags { get; set; }
    public DateTimeOffset? ActiveFrom { get; set; }
    public DateTimeOffset? ActiveTo { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, AllowTrailingCommas = true, ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(ContentCatalogDocument))]
internal sealed partial class ContentJsonContext : JsonSerializerContext;
