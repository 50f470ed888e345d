using System.Text.Json;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;

namespace Ecrm.DialogueEngine.Catalog;

/// <summary>
/// Maps an event to the topics and stages it shows. Rules are indexed by their most selective
/// literal (event name, email campaign, app screen, page path or path prefix), so matching an event
/// looks at the few rules that could apply, not at the whole catalog.
/// </summary>
public sealed class TopicMatcher
{
    private readonly Dictionary<string, List<IndexedRule>> _byEvent = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<IndexedRule>> _byEventProperty = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string[]> _indexedPropertiesByEvent = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<IndexedRule>> _byCampaign = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<IndexedRule>> _byScreen = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<IndexedRule>> _byExactPath = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<IndexedRule>> _byPathPrefix = new(StringComparer.Ordinal);
    private readonly List<IndexedRule> _byActionOnly = [];
    private readonly int[] _pathPrefixLengths;

    public TopicMatcher(TopicCatalog catalog)
    {
        Catalog = catalog;
        foreach (var topic in catalog.Topics)
        {
            foreach (var rule in topic.Rules)
            {
                Index(new IndexedRule(topic.Id, rule, rule.Path is null ? null : NormalizePath(rule.Path)));
            }
        }

        _pathPrefixLengths = _byPathPrefix.Keys.Select(k => k.Length).Distinct().Order().ToArray();
        foreach (var group in catalog.Topics.SelectMany(t => t.Rules).Where(r => r.Event is not null && r.Properties.Count > 0).GroupBy(r => r.Event!))
        {
            _indexedPropertiesByEvent[group.Key] = group.Select(r => r.Properties[0].Key).Distinct(StringComparer.Ordinal).ToArray();
        }
    }

    public TopicCatalog Catalog { get; }

    /// <summary>Adds the event's (topic, stage) pairs to <paramref name="results"/>, one per topic at its deepest stage.</summary>
    public void Match(EventEnvelope item, List<TopicStage> results)
    {
        results.Clear();
        var facts = EventFacts.Of(item);

        if (item.Context?.Ecrm is { Topic: { } annotatedTopic, Stage: { } annotatedStage }
            && Catalog.FindTopic(annotatedTopic) is not null
            && Catalog.Stages.TryResolve(annotatedStage, out var stage))
        {
            Add(results, new TopicStage(annotatedTopic, stage));
        }

        if (facts.Event is not null)
        {
            MatchAll(_byEvent.GetValueOrDefault(facts.Event), facts, item, results);
            if (_indexedPropertiesByEvent.TryGetValue(facts.Event, out var names) && item.Properties is { ValueKind: JsonValueKind.Object } properties)
            {
                foreach (var name in names)
                {
                    if (properties.TryGetProperty(name, out var value) && PropertyKey(facts.Event, name, value) is { } key)
                    {
                        MatchAll(_byEventProperty.GetValueOrDefault(key), facts, item, results);
                    }
                }
            }
        }

        if (facts.Campaign is not null)
        {
            MatchAll(_byCampaign.GetValueOrDefault(facts.Campaign), facts, item, results);
        }

        if (facts.Screen is not null)
        {
            MatchAll(_byScreen.GetValueOrDefault(facts.Screen), facts, item, results);
        }

        if (facts.Path is not null)
        {
            MatchAll(_byExactPath.GetValueOrDefault(facts.Path), facts, item, results);
            var lookup = _byPathPrefix.GetAlternateLookup<ReadOnlySpan<char>>();
            foreach (var length in _pathPrefixLengths)
            {
                if (length > facts.Path.Length)
                {
                    break;
                }

                if (lookup.TryGetValue(facts.Path.AsSpan(0, length), out var rules))
                {
                    MatchAll(rules, facts, item, results);
                }
            }
        }

        if (facts.Action is not null)
        {
            MatchAll(_byActionOnly, facts, item, results);
        }
    }

    private void Index(IndexedRule indexed)
    {
        var rule = indexed.Rule;
        if (rule.Event is not null)
        {
            // Many topics share an event name ("Product Added") and differ by a property (sku): index by both.
            if (rule.Properties.Count > 0 && PropertyKey(rule.Event, rule.Properties[0].Key, rule.Properties[0].Value) is { } key)
            {
                AddTo(_byEventProperty, key, indexed);
            }
            else
            {
                AddTo(_byEvent, rule.Event, indexed);
            }
        }
        else if (rule.Campaign is not null)
        {
            AddTo(_byCampaign, rule.Campaign, indexed);
        }
        else if (rule.Screen is not null)
        {
            AddTo(_byScreen, rule.Screen, indexed);
        }
        else if (indexed.Path is { } path)
        {
            var wildcard = path.AsSpan().IndexOfAny('*', '?');
            if (wildcard < 0)
            {
                AddTo(_byExactPath, path, indexed);
            }
            else
            {
                AddTo(_byPathPrefix, path[..wildcard], indexed);
            }
        }
        else
        {
            _byActionOnly.Add(indexed);
        }
    }

    private static void AddTo(Dictionary<string, List<IndexedRule>> index, string key, IndexedRule rule)
    {
        if (!index.TryGetValue(key, out var rules))
        {
            index[key] = rules = [];
        }

        rules.Add(rule);
    }

    private static void MatchAll(List<IndexedRule>? rules, in EventFacts facts, EventEnvelope item, List<TopicStage> results)
    {
        if (rules is null)
        {
            return;
        }

        foreach (var indexed in rules)
        {
            if (Holds(indexed, facts, item))
            {
                Add(results, new TopicStage(indexed.TopicId, indexed.Rule.Stage));
            }
        }
    }

    private static bool Holds(IndexedRule indexed, in EventFacts facts, EventEnvelope item)
    {
        var rule = indexed.Rule;
        return (rule.Channel is null || rule.Channel == facts.Channel)
            && (rule.Event is null || rule.Event == facts.Event)
            && (rule.Campaign is null || rule.Campaign == facts.Campaign)
            && (rule.Action is null || rule.Action == facts.Action)
            && (rule.Screen is null || rule.Screen == facts.Screen)
            && (indexed.Path is null || (facts.Path is not null && Glob.IsMatch(indexed.Path, facts.Path)))
            && PropertiesMatch(rule.Properties, item.Properties);
    }

    private static bool PropertiesMatch(IReadOnlyList<KeyValuePair<string, JsonElement>> wanted, JsonElement? properties)
    {
        if (wanted.Count == 0)
        {
            return true;
        }

        if (properties is not { ValueKind: JsonValueKind.Object } given)
        {
            return false;
        }

        for (var i = 0; i < wanted.Count; i++)
        {
            if (!given.TryGetProperty(wanted[i].Key, out var actual) || !JsonScalar.AreEqual(wanted[i].Value, actual))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The index key of (event, property, value), with values equal under <see cref="JsonScalar.AreEqual"/>
    /// giving equal keys; null for values that are not scalars.
    /// </summary>
    private static string? PropertyKey(string eventName, string property, JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"{eventName}\n{property}\ns{value.GetString()}",
        JsonValueKind.Number => $"{eventName}\n{property}\nn{value.GetDouble().ToString("R", System.Globalization.CultureInfo.InvariantCulture)}",
        JsonValueKind.True or JsonValueKind.False => $"{eventName}\n{property}\nb{value.ValueKind}",
        _ => null,
    };

    /// <summary>Keeps one entry per topic, at the deepest stage any rule gave it.</summary>
    private static void Add(List<TopicStage> results, TopicStage match)
    {
        for (var i = 0; i < results.Count; i++)
        {
            if (results[i].Topic == match.Topic)
            {
                if (match.Stage > results[i].Stage)
                {
                    results[i] = match;
                }

                return;
            }
        }

        results.Add(match);
    }

    /// <summary>Paths compare without a trailing slash: "/tv/oled-55/" is the page "/tv/oled-55".</summary>
    internal static string NormalizePath(string path) => path.Length > 1 && path[^1] == '/' ? path.TrimEnd('/') : path;

    private sealed record IndexedRule(string TopicId, TopicRule Rule, string? Path);

    /// <summary>What rules look at, read once per event.</summary>
    private readonly record struct EventFacts(Channel? Channel, string? Event, string? Path, string? Campaign, string? Action, string? Screen)
    {
        public static EventFacts Of(EventEnvelope item)
        {
            var properties = item.Properties is { ValueKind: JsonValueKind.Object } p ? p : (JsonElement?)null;
            var isEmail = item.Channel == Common.Events.Channel.Email;
            return new EventFacts(
                item.Channel,
                item.Type == EventType.Track ? item.Event : null,
                item.Type == EventType.Page ? PagePath(item, properties) : null,
                isEmail ? StringProperty(properties, "campaign") ?? item.Context?.Campaign?.Name : null,
                isEmail ? StringProperty(properties, "action") ?? EmailAction(item.Event) : null,
                item.Type == EventType.Screen ? item.Name ?? StringProperty(properties, "name") : null);
        }

        private static string? PagePath(EventEnvelope item, JsonElement? properties)
        {
            var path = item.Context?.Page?.Path ?? StringProperty(properties, "path");
            if (path is null && (item.Context?.Page?.Url ?? StringProperty(properties, "url")) is { } url
                && Uri.TryCreate(url, UriKind.Absolute, out var uri))
            {
                path = uri.AbsolutePath;
            }

            return path is null ? null : NormalizePath(path);
        }

        /// <summary>Segment's email events: "Email Opened" is an open, "Email Link Clicked" a click.</summary>
        private static string? EmailAction(string? eventName) => eventName switch
        {
            "Email Opened" => "open",
            "Email Link Clicked" => "click",
            _ => null,
        };

        private static string? StringProperty(JsonElement? properties, string name) =>
            properties is { } p && p.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
    }
}

/// <summary>Path globs: '*' matches any run of characters (including '/'), '?' matches one.</summary>
public static class Glob
{
    public static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0, star = -1, resume = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                resume = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++resume;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}

/// <summary>Equality of JSON scalars as a marketer means it: "55" is not 55, but 55 is 55.0.</summary>
public static class JsonScalar
{
    public static bool AreEqual(JsonElement expected, JsonElement actual) => (expected.ValueKind, actual.ValueKind) switch
    {
        (JsonValueKind.String, JsonValueKind.String) => expected.ValueEquals(actual.GetString()),
        (JsonValueKind.Number, JsonValueKind.Number) => expected.TryGetDecimal(out var left) && actual.TryGetDecimal(out var right)
            ? left == right
            : expected.GetRawText() == actual.GetRawText(),
        (JsonValueKind.True, JsonValueKind.True) or (JsonValueKind.False, JsonValueKind.False) => true,
        _ => false,
    };
}
