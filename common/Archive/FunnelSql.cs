using System.Globalization;
using System.Text;

namespace Ecrm.Common.Archive;

/// <summary>How a funnel splits its customers.</summary>
public enum BreakdownKind
{
    None,

    /// <summary>One funnel per channel, counting each channel's interactions only.</summary>
    Channel,

    /// <summary>By the channel of the customer's first interaction with the topic.</summary>
    FirstChannel,

    /// <summary>By the week (Monday) the customer entered the funnel.</summary>
    CohortWeek,

    /// <summary>By the latest value of an identify trait.</summary>
    Trait,
}

/// <summary>
/// How a step counts. <see cref="Dialogue"/>: a customer is at step k once their dialogue reached
/// stage k or deeper (a stage-3 event also passes steps 1 and 2), which is what the dialogue state
/// says. <see cref="Strict"/>: every step needs an interaction mapped to exactly that stage, after
/// the previous step's, within the window (ClickHouse's windowFunnel).
/// </summary>
public enum FunnelOrder
{
    Dialogue,
    Strict,
}

/// <summary>What a funnel asks of the archive: the range [From, To) in UTC, the window after entering, and how to count and split.</summary>
public record FunnelQuery(
    DateTimeOffset From,
    DateTimeOffset To,
    TimeSpan? Window,
    string? Channel,
    FunnelOrder Order,
    BreakdownKind Breakdown,
    string? BreakdownTrait);

/// <summary>
/// The funnel SQL: one row per (topic, breakdown key) with the customers at each step (<c>c1</c>..) and
/// the median and p90 time from the previous step (<c>q2</c>..). Customers are counted distinct after
/// identity resolution (an id linked to a customer counts as that customer).
/// Dialogue order reads the compact dialogue history (<see cref="ArchiveSchema.DialogueStages"/>), so it
/// counts the dialogues that began in the range: a customer enters a topic's funnel when their first
/// interaction with it ever (on the channel, with a channel filter or breakdown) falls in [From, To), and
/// counts at step k when they first reached stage k or deeper before To and within the window after
/// entering. Strict order needs every interaction in turn and reads the raw events of the range.
/// </summary>
public static class FunnelSql
{
    /// <summary>The funnel SQL. Every value from the request is a validated number or a quoted literal.</summary>
    public static string Build(string db, int stageCount, string? topic, FunnelQuery request, string? customersSql)
    {
        var from = request.From.ToUnixTimeSeconds();
        var to = request.To.ToUnixTimeSeconds();
        // No window means the whole range.
        var window = (long)(request.Window ?? (request.To - request.From)).TotalSeconds;
        var strict = request.Order == FunnelOrder.Strict;
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
            // Dialogue order: rows before To only (see the read below), so t1 > 0 means the dialogue began before To.
            var reached = strict ? $"level >= {k}" : k == 1 ? $"t1 >= {from}" : $"t{k} > 0 AND t{k} - t1 <= {window}";
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

        var rows = strict ? EventRowsSql(db, topic, request) : StageRowsSql(db, topic, request);
        var resolvedEvents =
            $"""
            SELECT topic, if(owner = '', customer_key, owner) AS customer, ts, stage, channel
            FROM ({rows})
            ANY LEFT JOIN ({LinksSql(db)}) USING customer_key
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

    /// <summary>
    /// Dialogue order: each id's first time at each stage of each topic on each channel, of all time up to To.
    /// A time at or after To can neither be the one that enters nor one that counts, so it is left out here;
    /// a time before From stays, because it means the dialogue began before the range.
    /// </summary>
    private static string StageRowsSql(string db, string? topic, FunnelQuery request)
    {
        var filters = new List<string>();
        if (topic is not null)
        {
            filters.Add($"topic = {ArchiveSql.Quote(topic)}");
        }

        if (request.Channel is not null)
        {
            filters.Add($"channel = {ArchiveSql.Quote(request.Channel)}");
        }

        // Each row's own state, not a GROUP BY that merges them: rows of parts not merged yet repeat a key, and
        // the minimum per customer taken above comes out the same, without a grouping as large as the table.
        filters.Add($"ts < {request.To.ToUnixTimeSeconds()}");
        return
            $"""
            SELECT topic, customer_key, channel, stage, finalizeAggregation(first_at) AS ts
            FROM {db}.{ArchiveSchema.DialogueStages}
            WHERE {string.Join(" AND ", filters)}
            """;
    }

    /// <summary>Strict order: every interaction in the range, from the raw events.</summary>
    private static string EventRowsSql(string db, string? topic, FunnelQuery request)
    {
        var from = request.From.ToUnixTimeSeconds();
        var to = request.To.ToUnixTimeSeconds();
        var filters = new StringBuilder($"date >= toDate(toDateTime({from})) AND date <= toDate(toDateTime({to})) AND timestamp >= toDateTime({from}) AND timestamp < toDateTime({to})");
        if (topic is not null)
        {
            filters.Append(CultureInfo.InvariantCulture, $" AND has(topics, {ArchiveSql.Quote(topic)})");
        }

        if (request.Channel is not null)
        {
            filters.Append(CultureInfo.InvariantCulture, $" AND channel = {ArchiveSql.Quote(request.Channel)}");
        }

        return
            $"""
            SELECT topic, customer_key, channel, stage, ts
            FROM (
                SELECT customer_key, toUInt32(timestamp) AS ts, channel, topic, stage
                FROM {db}.{ArchiveSchema.Events}
                ARRAY JOIN topics AS topic, stages AS stage
                WHERE {filters}
            )
            {(topic is null ? "" : $"WHERE topic = {ArchiveSql.Quote(topic)}")}
            """;
    }

    /// <summary>Each linked id with the customer it belongs to.</summary>
    public static string LinksSql(string db) =>
        // ClickHouse aliases are query-wide: the owner is renamed in a subquery before linked_id takes the name customer_key.
        $"SELECT linked_id AS customer_key, any(link_owner) AS owner FROM (SELECT linked_id, customer_key AS link_owner FROM {db}.{ArchiveSchema.IdentityLinks}) GROUP BY linked_id";

    /// <summary>Each customer's latest value of an identify trait (after identity resolution), from the compact traits.</summary>
    private static string TraitSql(string db, string trait) =>
        $"""
        SELECT customer, argMax(value, ts) AS trait_value
        FROM (
            SELECT if(owner = '', customer_key, owner) AS customer, ts, value
            FROM (
                SELECT customer_key, ts, value FROM {db}.{ArchiveSchema.CustomerTraits} WHERE name = {ArchiveSql.Quote(trait)}
            )
            -- Joined above the read of the traits, so that on a cluster it runs once, over every shard's rows.
            ANY LEFT JOIN ({LinksSql(db)}) USING customer_key
        )
        GROUP BY customer
        """;
}
