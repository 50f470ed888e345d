using System.Globalization;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Catalog;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Archive;

namespace Ecrm.DialogueEngine.Funnels;

public sealed record FunnelStage(
    int Stage,
    string Name,
    long Customers,
    double? ConversionFromPrevious,
    double? ConversionFromFirst,
    double? MedianTimeFromPrevious,
    double? P90TimeFromPrevious);

public sealed record FunnelBreakdown(string Key, IReadOnlyList<FunnelStage> Stages);

public sealed record Funnel(
    string Topic,
    string TopicName,
    DateTimeOffset From,
    DateTimeOffset To,
    string Window,
    string Order,
    IReadOnlyList<FunnelStage> Stages,
    IReadOnlyList<FunnelBreakdown> Breakdown)
{
    /// <summary>Customers who reached the last stage, of those who entered.</summary>
    public double Conversion => Stages.Count == 0 || Stages[0].Customers == 0 ? 0 : (double)Stages[^1].Customers / Stages[0].Customers;
}

/// <summary>
/// Dialogue funnels over the ClickHouse archive. Customers are counted distinct after identity
/// resolution (an id linked to a customer counts as that customer); a re-delivered event only
/// repeats an interaction already there, which changes no first-reached time and no count. A
/// customer enters a topic's funnel at their first interaction with it in the range, and counts at
/// step k when they reached stage k (or, in strict order, an interaction of exactly stage k after
/// step k-1) within the window after entering. Times between steps are between the first times
/// each stage was reached.
/// </summary>
public sealed class FunnelQueries(ClickHouseClient clickHouse)
{
    /// <summary>
    /// The funnel of every topic asked for (all of them when <paramref name="topic"/> is null), each
    /// with its breakdown. <paramref name="customersSql"/>, a query of customer ids, limits it to a segment.
    /// </summary>
    public async Task<IReadOnlyList<Funnel>> ReadAsync(TopicCatalog catalog, string? topic, FunnelRequest request, string? customersSql, CancellationToken cancellationToken)
    {
        var stageCount = catalog.Stages.Count;
        var byKey = await QueryAsync(BuildSql(clickHouse.Database, stageCount, topic, request, customersSql), stageCount, cancellationToken);
        // A breakdown splits customers by key; the whole funnel (with its times) is its own query,
        // because a customer may sit under several keys (channel) and times do not add up.
        var overall = request.Breakdown == BreakdownKind.None
            ? byKey
            : await QueryAsync(BuildSql(clickHouse.Database, stageCount, topic, request with { Breakdown = BreakdownKind.None }, customersSql), stageCount, cancellationToken);

        var topics = topic is null ? catalog.Topics.Select(t => t.Id) : [topic];
        var funnels = new List<Funnel>();
        foreach (var id in topics)
        {
            var total = overall.TryGetValue((id, ""), out var found) ? found : (Counts: new long[stageCount], Times: new (double?, double?)[stageCount]);
            var breakdown = request.Breakdown == BreakdownKind.None
                ? []
                : byKey.Where(e => e.Key.Topic == id)
                    .OrderByDescending(e => e.Value.Counts[0]).ThenBy(e => e.Key.Key, StringComparer.Ordinal)
                    .Select(e => new FunnelBreakdown(e.Key.Key.Length == 0 ? "(none)" : e.Key.Key, Stages(catalog, e.Value.Counts, e.Value.Times)))
                    .ToList();
            funnels.Add(new Funnel(id, catalog.FindTopic(id)?.Name ?? id, request.From, request.To, request.WindowText,
                request.Order == FunnelOrder.Strict ? "strict" : "dialogue", Stages(catalog, total.Counts, total.Times), breakdown));
        }

        return funnels;
    }

    /// <summary>Counts and step times per (topic, breakdown key).</summary>
    private async Task<Dictionary<(string Topic, string Key), (long[] Counts, (double? Median, double? P90)[] Times)>> QueryAsync(string sql, int stageCount, CancellationToken cancellationToken)
    {
        var rows = new Dictionary<(string, string), (long[], (double?, double?)[])>();
        foreach (var line in (await clickHouse.QueryAsync(sql, cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var row = JsonDocument.Parse(line).RootElement;
            var counts = new long[stageCount];
            var times = new (double?, double?)[stageCount];
            for (var k = 1; k <= stageCount; k++)
            {
                counts[k - 1] = ReadLong(row.GetProperty($"c{k}"));
                if (k > 1 && row.GetProperty($"q{k}") is { ValueKind: JsonValueKind.Array } q)
                {
                    times[k - 1] = (ReadDouble(q[0]), ReadDouble(q[1]));
                }
            }

            rows[(row.GetProperty("topic").GetString()!, row.GetProperty("key").GetString()!)] = (counts, times);
        }

        return rows;
    }

    private static List<FunnelStage> Stages(TopicCatalog catalog, long[] counts, (double? Median, double? P90)[] times) =>
        [.. counts.Select((customers, i) => new FunnelStage(
            i + 1,
            catalog.Stages.NameOf(i + 1),
            customers,
            i == 0 ? (customers > 0 ? 1 : null) : counts[i - 1] == 0 ? null : (double)customers / counts[i - 1],
            counts[0] == 0 ? null : (double)customers / counts[0],
            i == 0 || customers == 0 ? null : times[i].Median,
            i == 0 || customers == 0 ? null : times[i].P90))];

    /// <summary>The funnel SQL. Every value from the request is a validated number or a quoted literal.</summary>
    internal static string BuildSql(string db, int stageCount, string? topic, FunnelRequest request, string? customersSql)
    {
        var from = request.From.ToUnixTimeSeconds();
        var to = request.To.ToUnixTimeSeconds();
        // No window means the whole range.
        var window = (long)(request.Window ?? (request.To - request.From)).TotalSeconds;
        var strict = request.Order == FunnelOrder.Strict;

        var filters = new StringBuilder($"date >= toDate(toDateTime({from})) AND date <= toDate(toDateTime({to})) AND timestamp >= toDateTime({from}) AND timestamp < toDateTime({to})");
        if (topic is not null)
        {
            filters.Append(CultureInfo.InvariantCulture, $" AND has(topics, {ClickHouseSql.Quote(topic)})");
        }

        if (request.Channel is not null)
        {
            filters.Append(CultureInfo.InvariantCulture, $" AND channel = {ClickHouseSql.Quote(request.Channel)}");
        }

        var topicFilter = topic is null ? "" : $"WHERE topic = {ClickHouseSql.Quote(topic)}";
        var segmentFilter = customersSql is null ? "" : $"WHERE customer IN ({customersSql})";

        var perCustomer = new StringBuilder();
        var perKey = new StringBuilder();
        if (strict)
        {
            perCustomer.Append(CultureInfo.InvariantCulture, $"windowFunnel({window})(ts{string.Concat(Enumerable.Range(1, stageCount).Select(k => $", stage = {k}"))}) AS level, ");
        }

        for (var k = 1; k <= stageCount; k++)
        {
            var reachedAt = k == 1 ? (strict ? "minIf(ts, stage = 1)" : "min(ts)") : strict ? $"minIf(ts, stage = {k})" : $"minIf(ts, stage >= {k})";
            perCustomer.Append(CultureInfo.InvariantCulture, $"{reachedAt} AS t{k}, ");
            var reached = strict ? $"level >= {k}" : k == 1 ? "1" : $"t{k} > 0 AND t{k} - t1 <= {window}";
            perCustomer.Append(CultureInfo.InvariantCulture, $"({reached}) AS r{k}, ");
            perKey.Append(CultureInfo.InvariantCulture, $", countIf(r{k}) AS c{k}");
            if (k > 1)
            {
                perKey.Append(CultureInfo.InvariantCulture, $", quantilesIf(0.5, 0.9)(t{k} - t{k - 1}, r{k}) AS q{k}");
            }
        }

        var (keyExpression, extraGroup) = request.Breakdown switch
        {
            BreakdownKind.Channel => ("channel", ", channel"),
            BreakdownKind.FirstChannel => ("argMin(channel, ts)", ""),
            BreakdownKind.CohortWeek => ("toString(toMonday(toDate(toDateTime(min(ts)))))", ""),
            BreakdownKind.Trait => ("any(trait_value)", ""),
            _ => ("''", ""),
        };

        var resolvedEvents =
            $"""
            SELECT topic, if(owner = '', customer_key, owner) AS customer, ts, stage, channel
            FROM (
                SELECT customer_key, toUInt32(timestamp) AS ts, channel, topic, stage
                FROM {db}.{ArchiveSchema.Events}
                ARRAY JOIN topics AS topic, stages AS stage
                WHERE {filters}
            )
            ANY LEFT JOIN ({LinksSql(db)}) USING customer_key
            {topicFilter}
            """;
        if (request.Breakdown == BreakdownKind.Trait)
        {
            resolvedEvents = $"SELECT * FROM ({resolvedEvents}) ANY LEFT JOIN ({TraitSql(db, request.BreakdownTrait!)}) USING customer";
        }

        return
            $"""
            SELECT topic, key{perKey}
            FROM (
                SELECT topic, customer, {perCustomer}{keyExpression} AS key
                FROM ({resolvedEvents})
                {segmentFilter}
                GROUP BY topic, customer{extraGroup}
            )
            WHERE r1
            GROUP BY topic, key
            FORMAT JSONEachRow
            """;
    }

    /// <summary>Each linked id with the customer it belongs to.</summary>
    internal static string LinksSql(string db) =>
        // ClickHouse aliases are query-wide: the owner is renamed in a subquery before linked_id takes the name customer_key.
        $"SELECT linked_id AS customer_key, any(link_owner) AS owner FROM (SELECT linked_id, customer_key AS link_owner FROM {db}.{ArchiveSchema.IdentityLinks}) GROUP BY linked_id";

    /// <summary>Each customer's latest value of an identify trait (string or number), found in the raw payload.</summary>
    private static string TraitSql(string db, string trait)
    {
        var name = ClickHouseSql.Quote(trait);
        return
            $"""
            SELECT customer, argMax(value, ts) AS trait_value
            FROM (
                SELECT if(owner = '', customer_key, owner) AS customer, ts, value
                FROM (
                    SELECT customer_key, toUInt32(timestamp) AS ts,
                           if(visitParamExtractString(payload, {name}) != '', visitParamExtractString(payload, {name}), visitParamExtractRaw(payload, {name})) AS value
                    FROM {db}.{ArchiveSchema.Events}
                    WHERE type = 'identify'
                )
                -- Joined above the read of the events, so that on a cluster it runs once, over every shard's rows.
                ANY LEFT JOIN ({LinksSql(db)}) USING customer_key
            )
            WHERE value != ''
            GROUP BY customer
            """;
    }

    private static long ReadLong(JsonElement value) =>
        value.ValueKind == JsonValueKind.String ? long.Parse(value.GetString()!, CultureInfo.InvariantCulture) : value.GetInt64();

    private static double? ReadDouble(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => value.GetDouble(),
        JsonValueKind.String when double.TryParse(value.GetString(), CultureInfo.InvariantCulture, out var parsed) => parsed,
        _ => null,
    };
}
