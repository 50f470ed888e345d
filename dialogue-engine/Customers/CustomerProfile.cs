using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Storage;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Customers;

/// <summary>
/// The integrated view of one customer: every id linked to them, their traits, their dialogues
/// (Redis) and their recent interactions across channels (the ClickHouse archive).
/// </summary>
public sealed class CustomerProfile(IConnectionMultiplexer redis, DialogueReader dialogues, ArchiveClient clickHouse)
{
    public async Task<(string Customer, IReadOnlyList<string> Identities, IReadOnlyDictionary<string, JsonElement> Traits)> ReadIdentityAsync(string id)
    {
        var database = redis.GetDatabase();
        var customer = await dialogues.ResolveAsync(id);
        var linked = (await database.SetMembersAsync(RedisKeys.Identities(customer))).Select(v => (string)v!).Order(StringComparer.Ordinal);
        var traits = (await database.HashGetAllAsync(RedisKeys.Traits(customer)))
            .ToDictionary(e => (string)e.Name!, e => JsonDocument.Parse((string)e.Value!).RootElement.Clone(), StringComparer.Ordinal);
        return (customer, [customer, .. linked], traits);
    }

    public Task<IReadOnlyList<DialogueState>> ReadDialoguesAsync(string customer) => dialogues.ReadAsync(customer);

    /// <summary>The most recent interactions of every id of the customer, newest first, one row per event.</summary>
    public Task<IReadOnlyList<TimelineEntry>> ReadTimelineAsync(IReadOnlyList<string> identities, int limit, CancellationToken cancellationToken) =>
        CustomerArchive.ReadTimelineAsync(clickHouse, identities, limit, cancellationToken);
}
