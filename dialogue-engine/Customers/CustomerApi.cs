using Ecrm.Common.Archive;
using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;

namespace Ecrm.DialogueEngine.Customers;

/// <summary><c>GET /api/customers/{id}/dialogues</c> (API key): the customer's live dialogues, most recent first.</summary>
public static class CustomerApi
{
    public static IEndpointRouteBuilder MapCustomerApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/customers/{customerId}/dialogues", GetDialoguesAsync).RequireKey(KeyScope.Read);
        endpoints.MapGet("/api/customers/{customerId}", GetCustomerAsync).RequireKey(KeyScope.Read);
        return endpoints;
    }

    /// <summary>
    /// The integrated view: identities, traits, dialogues and the cross-channel timeline. The timeline
    /// comes from the archive; when ClickHouse is down the rest is still served and the timeline is null.
    /// </summary>
    private static async Task<IResult> GetCustomerAsync(string customerId, int? timeline, CustomerProfile profile, CatalogHolder catalog, TimeProvider time, CancellationToken cancellationToken)
    {
        var (customer, identities, traits) = await profile.ReadIdentityAsync(customerId);
        IReadOnlyList<TimelineEntry>? entries;
        try
        {
            entries = await profile.ReadTimelineAsync(identities, timeline ?? 50, cancellationToken);
        }
        catch (Exception e) when (ArchiveAnswers.IsArchiveAway(e))
        {
            entries = null;
        }

        return TypedResults.Ok(new CustomerView(
            customer, identities, traits, Views(await profile.ReadDialoguesAsync(customer), catalog, time.GetUtcNow()), entries, ByTopic(entries, catalog)));
    }

    private static async Task<IResult> GetDialoguesAsync(string customerId, DialogueReader reader, CatalogHolder catalog, TimeProvider time) =>
        TypedResults.Ok(new CustomerDialogues(customerId, Views(await reader.ReadAsync(customerId), catalog, time.GetUtcNow())));

    /// <summary>
    /// The communication history: the timeline grouped by topic, topics by their latest interaction.
    /// An interaction that maps to no topic is listed under the empty topic.
    /// </summary>
    private static TopicHistory[]? ByTopic(IReadOnlyList<TimelineEntry>? entries, CatalogHolder catalog) =>
        entries?
            .SelectMany(e => e.Topics.Count == 0 ? [("", e)] : e.Topics.Select(t => (Topic: t, Entry: e)))
            .GroupBy(p => p.Topic, p => p.Entry)
            .OrderByDescending(g => g.Max(e => e.Timestamp))
            .Select(g => new TopicHistory(g.Key, g.Key.Length == 0 ? "" : catalog.Catalog.FindTopic(g.Key)?.Name ?? g.Key, [.. g]))
            .ToArray();

    private static DialogueView[] Views(IReadOnlyList<DialogueState> dialogues, CatalogHolder catalog, DateTimeOffset now)
    {
        var stages = catalog.Catalog.Stages;
        var settings = catalog.Catalog.Settings;
        return dialogues.Select(d => new DialogueView(
            d.Topic,
            catalog.Catalog.FindTopic(d.Topic)?.Name ?? d.Topic,
            d.Stage,
            stages.NameOf(d.Stage),
            d.StatusAt(now, settings),
            d.Episode,
            Math.Round(d.ScoreAt(now, settings), 3),
            d.FirstInteraction,
            d.LastInteraction,
            d.StagesReached.Select(s => new StageView(s.Stage, stages.NameOf(s.Stage), s.At, s.Channel)).ToArray(),
            d.InteractionsByChannel)).ToArray();
    }
}

public sealed record CustomerView(
    string CustomerId,
    IReadOnlyList<string> Identities,
    IReadOnlyDictionary<string, System.Text.Json.JsonElement> Traits,
    IReadOnlyList<DialogueView> Dialogues,
    IReadOnlyList<TimelineEntry>? Timeline,
    IReadOnlyList<TopicHistory>? TimelineByTopic);

public sealed record TopicHistory(string Topic, string TopicName, IReadOnlyList<TimelineEntry> Interactions);

public sealed record CustomerDialogues(string CustomerId, IReadOnlyList<DialogueView> Dialogues);

public sealed record DialogueView(
    string Topic,
    string TopicName,
    int Stage,
    string StageName,
    string Status,
    int Episode,
    double Score,
    DateTimeOffset? FirstInteraction,
    DateTimeOffset? LastInteraction,
    IReadOnlyList<StageView> Stages,
    IReadOnlyDictionary<string, long> Interactions);

public sealed record StageView(int Stage, string Name, DateTimeOffset At, string Channel);
