using System.Text;
using Ecrm.Common.Storage;
using Ecrm.Recommender.Content;
using Ecrm.Recommender.Models;
using Microsoft.Extensions.Options;

namespace Ecrm.Recommender.Recommending;

public sealed record RecommendedItem(string Id, string Title, string Url, string Topic, int Stage, double Score, string Reason);

/// <summary>
/// A response. <paramref name="RecommendationId"/> starts with the variant ("b.3f2c…"), so impression
/// and click events, which echo it, tell the variant; <paramref name="Model"/> is "variant/model version"
/// ("variant/stage-next" while the variant's model is not trained yet).
/// </summary>
public sealed record Recommendation(string RecommendationId, IReadOnlyList<RecommendedItem> Items, string Model);

/// <summary>
/// Blends three signals, each scored 0 to 1 and weighted by the customer's variant
/// (<see cref="BlendWeights"/>): the next stage of the customer's live dialogues (most recent first),
/// the topics the collaborative model scores from those dialogues (their entry content), and the most
/// popular topics (what cold customers get). Then the rules: excluded items, the frequency cap, and at
/// most <see cref="RecommenderOptions.MaxPerTopic"/> items of one topic. Suppressed customers get
/// generic content only.
/// </summary>
public sealed class BlendedRecommender(
    CustomerSignalReader signals, ContentHolder content, TopicCatalogView topics, LiveModels models, IOptions<RecommenderOptions> options, TimeProvider time)
{
    public const string StageNextModel = "stage-next";

    public Task<Recommendation> RecommendAsync(string customer, int count, IReadOnlySet<string> exclude) =>
        RecommendAsync(customer, count, exclude, currentTopic: null);

    /// <summary>
    /// Recommends for a customer (or an anonymous visitor, or nobody yet), given what the current page
    /// says: the topic and stage it serves count as the most recent dialogue, so a first-time visitor on
    /// a product's details page is shown that product's next step. <paramref name="anonymousOnly"/>: the
    /// caller proved no user id, so a known customer's id gets what a first-time visitor gets.
    /// </summary>
    public async Task<Recommendation> RecommendAsync(string? customer, int count, IReadOnlySet<string> exclude, (string Topic, int Stage)? currentTopic, bool anonymousOnly = false)
    {
        var now = time.GetUtcNow();
        var settings = options.Value;
        var known = customer is null ? null : await signals.ReadAsync(customer, anonymousOnly);
        var variant = Choose(settings.EffectiveVariants(), known?.Customer ?? customer);
        // One read of each model reference: the whole request uses the same models even if a swap lands meanwhile.
        var model = models.Get(variant.Model);
        var popular = model ?? models.Any();
        var candidates = new Candidates(content.Current, topics.Current, exclude, now);

        if (known is { Suppressed: true })
        {
            AddGeneric(candidates, popular, count, variant.Blend.Popularity);
        }
        else
        {
            var live = known?.Dialogues.ToList() ?? [];
            if (currentTopic is var (topic, stage))
            {
                var index = live.FindIndex(d => d.Topic == topic);
                var deepest = index < 0 ? stage : Math.Max(stage, live[index].Stage);
                var status = index < 0 ? DialogueStatus.Open : live[index].Status;
                if (index >= 0)
                {
                    live.RemoveAt(index);
                }

                live.Insert(0, new LiveDialogue(topic, deepest, status));
            }

            AddStageNext(candidates, live, variant.Blend.StageNext);
            AddSegmentBoosts(candidates, settings.SegmentBoosts, known?.Segments, live);
            var history = live.GroupBy(d => d.Topic).ToDictionary(g => g.Key, g => (double)g.Max(d => d.Stage), StringComparer.Ordinal);
            if (model is { Kind: not ModelKind.Popularity } && history.Count > 0)
            {
                AddCollaborative(candidates, model, history, count, variant.Blend.Collaborative);
            }

            if (popular is not null)
            {
                AddPopular(candidates, popular, history.Keys.ToHashSet(StringComparer.Ordinal), count, variant.Blend.Popularity);
            }
        }

        var served = known?.Served ?? new Dictionary<string, int>();
        var items = candidates.Select(count, settings.MaxPerTopic, id => served.GetValueOrDefault(id) < settings.FrequencyCap.MaxImpressions || settings.FrequencyCap.MaxImpressions == 0);
        if (known is { Suppressed: false } && items.Count > 0)
        {
            signals.RecordServed(known.Customer, items.Select(i => i.Id));
        }

        return new Recommendation($"{variant.Name}.{Guid.NewGuid():N}", items, $"{variant.Name}/{model?.Version ?? StageNextModel}");
    }

    /// <summary>
    /// Content like one item: the rest of its topic (nearest stages first), then the entry content of
    /// the topics the model finds most similar. Null when the catalog has no such item.
    /// </summary>
    public Recommendation? Similar(string itemId, int count, IReadOnlySet<string>? exclude = null)
    {
        var now = time.GetUtcNow();
        var catalog = content.Current;
        if (catalog.Find(itemId) is not { } item)
        {
            return null;
        }

        var settings = options.Value;
        var variant = settings.EffectiveVariants()[0];
        var model = models.Get(variant.Model) ?? models.Any();
        var candidates = new Candidates(catalog, topics.Current, new HashSet<string>(exclude ?? new HashSet<string>(), StringComparer.Ordinal) { item.Id }, now);
        var name = candidates.TopicName(item.Topic);
        foreach (var same in catalog.Items.Where(i => i.Topic == item.Topic && i.IsActiveAt(now)))
        {
            candidates.Add(same, variant.Blend.StageNext / (1 + Math.Abs(same.Stage - item.Stage)), $"more about {name}");
        }

        if (model is not null)
        {
            var similar = model.Similar(item.Topic, count).Where(s => s.Score > 0).ToList();
            var top = similar.Count > 0 ? similar[0].Score : 1;
            foreach (var (topic, score) in similar)
            {
                foreach (var entry in catalog.Entry(topic, now))
                {
                    candidates.Add(entry, variant.Blend.Collaborative * score / top, $"customers interested in {name} also looked at {candidates.TopicName(topic)}");
                }
            }
        }

        var items = candidates.Select(count, settings.MaxPerTopic, _ => true);
        return new Recommendation($"{variant.Name}.{Guid.NewGuid():N}", items, $"{variant.Name}/{model?.Version ?? StageNextModel}");
    }

    /// <summary>The variant of a customer: a stable hash of the id (FNV-1a of its UTF-8), so the split survives restarts and is the same on every instance.</summary>
    public static Variant Choose(IReadOnlyList<Variant> variants, string? customer)
    {
        if (variants.Count == 1 || customer is null)
        {
            return variants[0];
        }

        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(customer))
        {
            hash = (hash ^ b) * 16777619u;
        }

        return variants[(int)(hash % (uint)variants.Count)];
    }

    /// <summary>Next-stage content of each open dialogue, scored 1 / (1 + rank) by recency.</summary>
    private static void AddStageNext(Candidates candidates, List<LiveDialogue> live, double weight)
    {
        for (var rank = 0; rank < live.Count; rank++)
        {
            var dialogue = live[rank];
            if (dialogue.Status == DialogueStatus.Converted)
            {
                continue;
            }

            var reason = $"next step in your interest in {candidates.TopicName(dialogue.Topic)}";
            foreach (var item in candidates.Catalog.NextStage(dialogue.Topic, dialogue.Stage, candidates.Now))
            {
                candidates.Add(item, weight / (1 + rank), reason);
            }
        }
    }

    /// <summary>A segment's boosted topic: its next step for the customer, or its entry content when they have no dialogue there (converted ones are left alone).</summary>
    private static void AddSegmentBoosts(Candidates candidates, SegmentBoostOptions[] boosts, IReadOnlySet<string>? segments, List<LiveDialogue> live)
    {
        if (segments is not { Count: > 0 })
        {
            return;
        }

        foreach (var boost in boosts.Where(b => segments.Contains(b.Segment)))
        {
            var dialogue = live.FirstOrDefault(d => d.Topic == boost.Topic);
            if (dialogue is { Status: DialogueStatus.Converted })
            {
                continue;
            }

            var reason = $"picked for you: {candidates.TopicName(boost.Topic)}";
            foreach (var item in candidates.Catalog.NextStage(boost.Topic, dialogue?.Stage ?? 0, candidates.Now))
            {
                candidates.Add(item, boost.Boost, reason);
            }
        }
    }

    /// <summary>Entry content of the topics the model scores from the dialogues (weight: the stage reached), scored relative to the best.</summary>
    private static void AddCollaborative(Candidates candidates, ItemItemModel model, Dictionary<string, double> history, int count, double weight)
    {
        var scored = model.RecommendFor(history, count).Where(s => s.Score > 0).ToList();
        if (scored.Count == 0)
        {
            return;
        }

        var top = scored[0].Score;
        foreach (var (topic, score) in scored)
        {
            var because = model.StrongestInfluence(history, topic);
            var reason = because is null
                ? $"customers at your stage also read about {candidates.TopicName(topic)}"
                : $"customers interested in {candidates.TopicName(because)} also looked at {candidates.TopicName(topic)}";
            foreach (var item in candidates.Catalog.Entry(topic, candidates.Now))
            {
                candidates.Add(item, weight * score / top, reason);
            }
        }
    }

    /// <summary>Entry content of the most popular topics the customer has no dialogue with, scored relative to the most popular.</summary>
    private static void AddPopular(Candidates candidates, ItemItemModel model, HashSet<string> known, int count, double weight)
    {
        var popular = model.Popular(count, known).Where(s => s.Score > 0).ToList();
        var top = popular.Count > 0 ? popular[0].Score : 1;
        foreach (var (topic, score) in popular)
        {
            foreach (var item in candidates.Catalog.Entry(topic, candidates.Now))
            {
                candidates.Add(item, weight * score / top, $"popular with our customers: {candidates.TopicName(topic)}");
            }
        }
    }

    /// <summary>For suppressed customers: popular topics' entry content, or without any model every topic's, in catalog order.</summary>
    private static void AddGeneric(Candidates candidates, ItemItemModel? model, int count, double weight)
    {
        if (model is not null)
        {
            AddPopular(candidates, model, [], count, weight);
            return;
        }

        var topics = candidates.Catalog.Topics;
        for (var rank = 0; rank < topics.Count; rank++)
        {
            foreach (var item in candidates.Catalog.Entry(topics[rank], candidates.Now))
            {
                candidates.Add(item, weight / (1 + rank), $"an introduction to {candidates.TopicName(topics[rank])}");
            }
        }
    }

    /// <summary>Items gathered from the signals: scores add up, the reason is the one of the largest part.</summary>
    private sealed class Candidates(ContentCatalog catalog, Ecrm.Common.Catalog.TopicCatalog topicCatalog, IReadOnlySet<string> exclude, DateTimeOffset now)
    {
        private readonly Dictionary<string, Candidate> _byId = new(StringComparer.Ordinal);

        public ContentCatalog Catalog => catalog;

        public DateTimeOffset Now => now;

        public string TopicName(string topic) => topicCatalog.FindTopic(topic)?.Name ?? topic;

        public void Add(ContentItem item, double score, string reason)
        {
            if (score <= 0 || exclude.Contains(item.Id))
            {
                return;
            }

            if (!_byId.TryGetValue(item.Id, out var candidate))
            {
                _byId[item.Id] = new Candidate(item, _byId.Count) { Score = score, Largest = score, Reason = reason };
                return;
            }

            candidate.Score += score;
            if (score > candidate.Largest)
            {
                (candidate.Largest, candidate.Reason) = (score, reason);
            }
        }

        /// <summary>The best <paramref name="count"/> by score (ties: first gathered), at most <paramref name="maxPerTopic"/> of a topic, each allowed by <paramref name="allowed"/>.</summary>
        public List<RecommendedItem> Select(int count, int maxPerTopic, Func<string, bool> allowed)
        {
            var perTopic = new Dictionary<string, int>(StringComparer.Ordinal);
            var items = new List<RecommendedItem>(count);
            foreach (var candidate in _byId.Values.OrderByDescending(c => c.Score).ThenBy(c => c.Order))
            {
                if (items.Count == count)
                {
                    break;
                }

                var item = candidate.Item;
                var shown = perTopic.GetValueOrDefault(item.Topic);
                if (shown >= maxPerTopic || !allowed(item.Id))
                {
                    continue;
                }

                perTopic[item.Topic] = shown + 1;
                items.Add(new RecommendedItem(item.Id, item.Title, item.Url, item.Topic, item.Stage, Math.Round(candidate.Score, 4), candidate.Reason));
            }

            return items;
        }

        private sealed class Candidate(ContentItem item, int order)
        {
            public ContentItem Item => item;

            public int Order => order;

            public double Score { get; set; }

            public double Largest { get; set; }

            public string Reason { get; set; } = "";
        }
    }
}
