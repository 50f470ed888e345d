using System.Text.Json;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Archive;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Customers;

public sealed record TimelineEntry(DateTimeOffset Timestamp, string Channel, string Type, string Event, IReadOnlyList<string> Topics, IReadOnlyList<int> Stages);

/// <summary>
/// The integrated view of one customer: every id linked to them, their traits, their dialogues
/// (Redis) and their recent interactions across channels (the ClickHouse archive).
/// </summary>
public sealed class CustomerProfile(IConnectionMultiplexer redis, DialogueReader dialogues, ClickHouseClient clickHouse)
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
    public async Task<IReadOnlyList<TimelineEntry>> ReadTimelineAsync(IReadOnlyList<string> identities, int limit, CancellationToken cancellationToken)
    {
        var ids = string.Join(", ", identities.Select(ClickHouseSql.Quote));
        // argMax per message id: a re-delivered event may sit in the archive twice until the table merges.
        var body = await clickHouse.QueryAsync(
            $"""
            SELECT toUnixTimestamp(max(timestamp)) AS ts, any(channel) AS channel, any(type) AS type, any(event) AS event, any(topics) AS topics, any(stages) AS stages
            FROM {clickHouse.Database}.{ArchiveSchema.Events}
            WHERE customer_key IN ({ids})
            GROUP BY message_id
            ORDER BY ts DESC
            LIMIT {Math.Clamp(limit, 1, 500)}
            FORMAT JSONEachRow
            """, cancellationToken);
        var entries = new List<TimelineEntry>();
        foreach (var line in body.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var row = JsonDocument.Parse(line).RootElement;
            entries.Add(new TimelineEntry(
                DateTimeOffset.FromUnixTimeSeconds(row.GetProperty("ts").GetInt64()),
                row.GetProperty("channel").GetString()!,
                row.GetProperty("type").GetString()!,
                row.GetProperty("event").GetString()!,
                row.GetProperty("topics").EnumerateArray().Select(t => t.GetString()!).ToArray(),
                row.GetProperty("stages").EnumerateArray().Select(t => t.GetInt32()).ToArray()));
        }

        return entries;
    }
}
