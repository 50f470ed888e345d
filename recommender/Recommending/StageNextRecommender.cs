using Ecrm.Common.Storage;
using Ecrm.Recommender.Content;

namespace Ecrm.Recommender.Recommending;

public sealed record RecommendedItem(string Id, string Title, string Url, string Topic, int Stage, double Score, string Reason);

public sealed record Recommendation(string RecommendationId, IReadOnlyList<RecommendedItem> Items, string Model);

/// <summary>
/// Serves each customer the content for the next step of their live dialogues: a customer at stage k
/// of a topic gets that topic's stage k+1 content, most recently active dialogues first. Converted
/// dialogues get nothing more on their topic.
/// </summary>
public sealed class StageNextRecommender(DialogueReader dialogues, ContentHolder content, TopicCatalogView topics, TimeProvider time)
{
    public const string ModelName = "stage-next";

    public Task<Recommendation> RecommendAsync(string customer, int count, IReadOnlySet<string> exclude) =>
        RecommendAsync(customer, count, exclude, currentTopic: null);

    /// <summary>
    /// Recommends for a customer (or an anonymous visitor, or nobody yet), given what the current page
    /// says: the topic and stage it serves count as the most recent dialogue, so a first-time visitor on
    /// a product's details page is shown that product's next step.
    /// </summary>
    public async Task<Recommendation> RecommendAsync(string? customer, int count, IReadOnlySet<string> exclude, (string Topic, int Stage)? currentTopic)
    {
        var now = time.GetUtcNow();
        var catalog = content.Current;
        var topicCatalog = topics.Current;
        var items = new List<RecommendedItem>(count);
        var live = customer is null ? [] : (await dialogues.ReadAsync(customer)).ToList();
        if (currentTopic is var (topic, stage))
        {
            var known = live.FindIndex(d => d.Topic == topic);
            var deepest = known < 0 ? stage : Math.Max(stage, live[known].Stage);
            var status = known < 0 ? DialogueStatus.Open : live[known].Status;
            if (known >= 0)
            {
                live.RemoveAt(known);
            }

            live.Insert(0, new DialogueState(topic, deepest, status, now, now, [], new Dictionary<string, long>(), 0));
        }

        for (var rank = 0; rank < live.Count && items.Count < count; rank++)
        {
            var dialogue = live[rank];
            if (dialogue.Status == DialogueStatus.Converted)
            {
                continue;
            }

            var next = NextStageWithContent(catalog, dialogue.Topic, dialogue.Stage, now);
            if (next is null)
            {
                continue;
            }

            // Dialogues are read most recent first; the score keeps that order and says how strong it is.
            var score = Math.Round(1.0 / (1 + rank), 4);
            var topicName = topicCatalog.FindTopic(dialogue.Topic)?.Name ?? dialogue.Topic;
            foreach (var item in next)
            {
                if (items.Count == count)
                {
                    break;
                }

                if (!exclude.Contains(item.Id))
                {
                    items.Add(new RecommendedItem(item.Id, item.Title, item.Url, item.Topic, item.Stage, score, $"next step in your interest in {topicName}"));
                }
            }
        }

        return new Recommendation(Guid.NewGuid().ToString("N"), items, ModelName);
    }

    /// <summary>The active content of the first stage after the current one that has any.</summary>
    private static ContentItem[]? NextStageWithContent(ContentCatalog catalog, string topic, int stage, DateTimeOffset now)
    {
        for (var next = stage + 1; next <= 20; next++)
        {
            var active = catalog.For(topic, next).Where(i => i.IsActiveAt(now)).ToArray();
            if (active.Length > 0)
            {
                return active;
            }
        }

        return null;
    }
}
