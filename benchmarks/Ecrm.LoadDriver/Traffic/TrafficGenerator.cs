using System.Text.Json;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;

namespace Ecrm.LoadDriver.Traffic;

/// <summary>
/// Generates customers' journeys from a topic catalog: topics chosen with Zipf-skewed popularity,
/// stages walked with realistic drop-off, steps spread over web, email and mobile, and anonymous
/// visitors who identify part-way. Every event is built from a catalog rule, so it means what the
/// catalog says it means.
/// </summary>
public sealed class TrafficGenerator
{
    /// <summary>The share of customers at stage k who go on to stage k+1.</summary>
    private static readonly double[] Continuation = [1.0, 0.55, 0.45, 0.35, 0.3, 0.3];

    private static readonly string[] Regions = ["Gangnam", "Seocho", "Mapo", "Jongno", "Songpa", "Busan", "Incheon"];
    private static readonly string[] AgeBands = ["18-24", "25-34", "35-44", "45-54", "55+"];

    private readonly TopicCatalog _catalog;
    private readonly Random _random;
    private readonly double[] _zipfCumulative;
    private readonly TimeSpan _history;

    public TrafficGenerator(TopicCatalog catalog, int seed, TimeSpan history)
    {
        if (catalog.Topics.Count == 0)
        {
            throw new ArgumentException("the catalog has no topics", nameof(catalog));
        }

        _catalog = catalog;
        _random = new Random(seed);
        _history = history;
        var weights = catalog.Topics.Select((_, rank) => 1.0 / Math.Pow(rank + 1, 1.1)).ToArray();
        var total = weights.Sum();
        var running = 0.0;
        _zipfCumulative = weights.Select(w => running += w / total).ToArray();
    }

    /// <summary>One customer's events in time order, with client-side timestamps in the past.</summary>
    public List<EventEnvelope> Journey(int customerNumber, DateTimeOffset now)
    {
        var anonymousId = $"anon-{customerNumber:D6}-{_random.Next(100_000):D5}";
        var userId = (string?)null;
        var identifyAfter = _random.NextDouble() < 0.6 ? _random.Next(1, 4) : int.MaxValue;
        var clock = now - TimeSpan.FromSeconds(_random.NextDouble() * _history.TotalSeconds);
        var events = new List<EventEnvelope>();
        var topicCount = 1 + (_random.NextDouble() < 0.35 ? 1 : 0) + (_random.NextDouble() < 0.1 ? 1 : 0);
        var steps = 0;
        foreach (var topic in PickTopics(topicCount))
        {
            for (var stage = 1; stage <= _catalog.Stages.Count; stage++)
            {
                if (_random.NextDouble() > Continuation[Math.Min(stage - 1, Continuation.Length - 1)])
                {
                    break;
                }

                var rule = PickRule(topic, stage);
                if (rule is null)
                {
                    continue;
                }

                clock += TimeSpan.FromMinutes(5 + _random.NextDouble() * 60 * 24 * (stage == 1 ? 0.1 : 1.5));
                if (clock > now)
                {
                    clock = now;
                }

                if (++steps == identifyAfter)
                {
                    userId = $"user-{customerNumber:D6}";
                    events.Add(Identify(anonymousId, userId, clock));
                }

                events.Add(FromRule(rule, anonymousId, userId, clock));
            }
        }

        return events;
    }

    private IEnumerable<Topic> PickTopics(int count)
    {
        var chosen = new HashSet<int>();
        for (var attempt = 0; chosen.Count < Math.Min(count, _catalog.Topics.Count) && attempt < 20; attempt++)
        {
            var index = Array.BinarySearch(_zipfCumulative, _random.NextDouble());
            chosen.Add(Math.Min(index < 0 ? ~index : index, _catalog.Topics.Count - 1));
        }

        return chosen.Select(i => _catalog.Topics[i]);
    }

    /// <summary>A rule reaching exactly this stage, with web the likeliest channel, then email, then mobile.</summary>
    private TopicRule? PickRule(Topic topic, int stage)
    {
        var candidates = topic.Rules.Where(r => r.Stage == stage).ToArray();
        if (candidates.Length == 0)
        {
            return null;
        }

        var weights = candidates.Select(r => r.Channel switch { Channel.Email => 0.25, Channel.Mobile => 0.2, _ => 0.55 }).ToArray();
        var pick = _random.NextDouble() * weights.Sum();
        for (var i = 0; i < candidates.Length; i++)
        {
            pick -= weights[i];
            if (pick <= 0)
            {
                return candidates[i];
            }
        }

        return candidates[^1];
    }

    private EventEnvelope FromRule(TopicRule rule, string anonymousId, string? userId, DateTimeOffset at)
    {
        var item = new EventEnvelope
        {
            MessageId = Guid.NewGuid().ToString(),
            AnonymousId = anonymousId,
            UserId = userId,
            OriginalTimestamp = at,
            Context = new EventContext { Locale = "ko-KR", Library = new LibraryContext { Name = "ecrm-loaddriver", Version = "1" } },
        };
        var properties = rule.Properties.ToDictionary(p => p.Key, p => (object)p.Value);
        if (rule.Campaign is not null || rule.Action is not null)
        {
            item.Type = EventType.Track;
            item.Channel = Channel.Email;
            item.Event = rule.Action == "click" ? "Email Link Clicked" : "Email Opened";
            properties["campaign"] = rule.Campaign ?? "newsletter";
        }
        else if (rule.Screen is not null)
        {
            item.Type = EventType.Screen;
            item.Channel = Channel.Mobile;
            item.Name = rule.Screen;
            item.Context.App = new ApplicationContext { Name = "Ecrm Demo Shop", Version = "3.2.0" };
        }
        else if (rule.Event is not null)
        {
            item.Type = EventType.Track;
            item.Channel = rule.Channel ?? (_random.NextDouble() < 0.7 ? Channel.Web : Channel.Mobile);
            item.Event = rule.Event;
            if (rule.Event == "Order Completed")
            {
                properties["revenue"] = Math.Round(100 + _random.NextDouble() * 2400, 2);
                properties["currency"] = "USD";
            }
        }
        else
        {
            var path = (rule.Path ?? "/").Replace("*", "", StringComparison.Ordinal).Replace("?", "x", StringComparison.Ordinal);
            item.Type = EventType.Page;
            item.Channel = Channel.Web;
            item.Context.Page = new PageContext { Path = path, Url = $"https://shop.example{path}", Title = path };
            item.Context.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) EcrmLoadDriver";
        }

        item.Properties = JsonSerializer.SerializeToElement(properties, LoadDriverJsonContext.Default.DictionaryStringObject);
        return item;
    }

    private EventEnvelope Identify(string anonymousId, string userId, DateTimeOffset at) => new()
    {
        MessageId = Guid.NewGuid().ToString(),
        Type = EventType.Identify,
        Channel = Channel.Web,
        AnonymousId = anonymousId,
        UserId = userId,
        OriginalTimestamp = at,
        Traits = JsonSerializer.SerializeToElement(
            new Dictionary<string, object>
            {
                ["region"] = Regions[_random.Next(Regions.Length)],
                ["ageBand"] = AgeBands[_random.Next(AgeBands.Length)],
                ["points"] = _random.Next(0, 30_000),
            },
            LoadDriverJsonContext.Default.DictionaryStringObject),
    };
}
