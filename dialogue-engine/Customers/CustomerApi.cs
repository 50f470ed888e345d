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
        return endpoints;
    }

    private static async Task<IResult> GetDialoguesAsync(string customerId, DialogueReader reader, CatalogHolder catalog)
    {
        var stages = catalog.Catalog.Stages;
        var dialogues = await reader.ReadAsync(customerId);
        return TypedResults.Ok(new CustomerDialogues(customerId, dialogues.Select(d => new DialogueView(
            d.Topic,
            catalog.Catalog.FindTopic(d.Topic)?.Name ?? d.Topic,
            d.Stage,
            stages.NameOf(d.Stage),
            d.Status,
            d.FirstInteraction,
            d.LastInteraction,
            d.StagesReached.Select(s => new StageView(s.Stage, stages.NameOf(s.Stage), s.At, s.Channel)).ToArray(),
            d.InteractionsByChannel)).ToArray()));
    }
}

public sealed record CustomerDialogues(string CustomerId, IReadOnlyList<DialogueView> Dialogues);

public sealed record DialogueView(
    string Topic,
    string TopicName,
    int Stage,
    string StageName,
    string Status,
    DateTimeOffset? FirstInteraction,
    DateTimeOffset? LastInteraction,
    IReadOnlyList<StageView> Stages,
    IReadOnlyDictionary<string, long> Interactions);

public sealed record StageView(int Stage, string Name, DateTimeOffset At, string Channel);
