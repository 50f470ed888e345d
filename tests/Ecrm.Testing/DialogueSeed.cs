using Ecrm.Common.Catalog;
using Ecrm.Common.Storage;
using StackExchange.Redis;

namespace Ecrm.Testing;

/// <summary>
/// Puts a customer's dialogue at a stage the way the engine does: by folding one event through the
/// <see cref="DialogueStore"/>, so that tests of what reads dialogues (the recommender, triggers) never write the
/// store's layout themselves. The scale has four stages; reaching the fourth converts the dialogue.
/// </summary>
public static class DialogueSeed
{
    private static readonly FoldRules Rules = new(CatalogVersion: 1, LastStage: 4, Dormancy: TimeSpan.FromDays(30),
        ScoreHalfLife: TimeSpan.FromDays(14), ConversionGrace: TimeSpan.FromDays(1));

    public static async Task ReachStageAsync(IConnectionMultiplexer redis, string customer, string topic, int stage, long atMs = 1000, string channel = "web")
    {
        var reply = await new DialogueStore(redis, new DedupePolicy(TimeSpan.FromDays(1), 100)).FoldAsync(customer, null,
            [new FoldEvent($"seed-{Guid.NewGuid():N}", -1, -1, atMs, channel, NamesUser: false, RecordKnown: false, [new TopicStage(topic, stage)])], Rules);
        if (reply.Owner is not null || reply.Dead.Count > 0)
        {
            throw new InvalidOperationException($"seeding {customer}'s {topic} at stage {stage} folded nothing: {(reply.Owner is null ? reply.Dead[0].Reason : $"{customer} belongs to {reply.Owner}")}");
        }
    }
}
