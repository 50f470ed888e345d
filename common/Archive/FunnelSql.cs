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
/// Dialogue order reads the compact dialogue history (<see cref="ArchiveSchema.DialogueStages"/>, or
/// <see cref="ArchiveSchema.DialogueChannelStages"/> when a channel filters or splits it), never the raw
/// events: it counts the dialogues that began in the range. A customer enters a topic's funnel when their
/// first interaction with it (on the channel, with a channel filter or breakdown) falls in [From, To), and
/// counts at step k when they first reached stage k or deeper before To and within the window after
/// entering. A customer who was already in the dialogue before From is not entered again by a later step:
/// that is what keeps the table one row per dialogue, whatever the number of events.
/// Strict order needs every interaction in turn, and reads the raw events of the range.
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
        if (strict)
        {
            perCustomer.Append(CultureInfo.InvariantCulture, $"windowFunnel({window})(ts{string.Concat(Enumerable.Range(1, stageCount).Select(k => $", stage = {k}"))}) AS level, ");
        }

        // Strict order: the first interaction of exactly stage k in the range. Dialogue order: the first time at stage
        // k or deeper (position k of each dialogue row's array, 0 where the row never got there), before To; the first
        // interaction of all, wherever it falls, decides whether the customer enters.
        var perKey = StepColumns(perCustomer, stageCount, request,
            k => strict ? $"minIf(ts, stage = {k})" : k == 1 ? "min(f[1])" : $"minIf(f[{k}], f[{k}] > 0 AND f[{k}] < {to})",
            k => strict ? $"level >= {k}" : null);

        var (keyExpression, extraGroup) = request.Breakdown switch
        {
            BreakdownKind.Channel => ("channel", ", channel"),
            BreakdownKind.FirstChannel => (strict ? "argMin(channel, ts)" : "argMin(channel, f[1])", ""),
            BreakdownKind.CohortWeek => ($"toString(toMonday(toDate(toDateTime({(strict ? "min(ts)" : "t1")}))))", ""),
            BreakdownKind.Trait => ("any(trait_value)", ""),
            _ => ("''", ""),
        };

        var columns = strict ? "ts, stage, channel" : "f, channel";
        var resolvedRows =
            $"""
            SELECT topic, if(owner = '', customer_key, owner) AS customer, {columns}
            FROM ({(strict ? EventRowsSql(db, topic, request) : DialogueRowsSql(db, topic, request))})
            ANY LEFT JOIN ({LinksSql(db)}) USING customer_key
            """;
        if (request.Breakdown == BreakdownKind.Trait)
        {
            resolvedRows = $"SELECT * FROM ({resolvedRows}) ANY LEFT JOIN ({TraitSql(db, request.BreakdownTrait!)}) USING customer";
        }

        return
            $"""
            SELECT topic, key{perKey}
            FROM (
                SELECT topic, customer, {perCustomer}{keyExpression} AS key
                FROM ({resolvedRows})
                {segmentFilter}
                GROUP BY topic, customer{extraGroup}
            )
            WHERE r1
            GROUP BY topic, key
            FORMAT JSONEachRow
            """;
    }

    /// <summary>
    /// The all-topics overview in dialogue order (no channel, breakdown or segment) from <paramref name="snapshot"/>:
    /// its rows, but for the customers that changed since, which are grouped again from the dialogue rows. The same
    /// answer as <see cref="Build"/> with no topic, without grouping every dialogue by customer.
    /// </summary>
    public static string BuildOverview(string db, int stageCount, FunnelQuery request, DialogueSummary.Snapshot snapshot, DialogueSummary.Changes changes)
    {
        var to = request.To.ToUnixTimeSeconds();
        var perRow = new StringBuilder();
        var perKey = StepColumns(perRow, stageCount, request, k => k == 1 ? "f[1]" : $"if(f[{k}] > 0 AND f[{k}] < {to}, f[{k}], 0)", _ => null);
        // GLOBAL IN: on a cluster the dialogue rows are read on every shard, and the changes table is on the server queried only.
        var changed = $"SELECT customer FROM {changes.Table}";
        var rows = changes.Customers == 0
            ? $"SELECT topic, f FROM {db}.{snapshot.Table} WHERE f[1] < {to}"
            : $"""
              SELECT topic, f FROM {db}.{snapshot.Table}
              WHERE f[1] < {to} AND customer NOT IN (SELECT id FROM {changes.Table}) AND customer NOT IN ({changed})
              UNION ALL
              SELECT topic, f FROM ({ResolvedDialoguesSql(db, $"customer_key GLOBAL IN ({changed}) OR customer_key GLOBAL IN (SELECT customer_key FROM ({LinksSql(db)}) WHERE owner IN ({changed}))")})
              """;

        return
            $"""
            SELECT topic, '' AS key{perKey}
            FROM (
                SELECT topic, {perRow}1
                FROM ({rows})
            )
            WHERE r1
            GROUP BY topic
            FORMAT JSONEachRow
            """;
    }

    /// <summary>
    /// Each (topic, customer)'s dialogue after identity resolution: the first time at each stage over all of the
    /// customer's ids (<c>f</c>), from the dialogue rows of the ids that <paramref name="idFilter"/> keeps (all when empty).
    /// </summary>
    internal static string ResolvedDialoguesSql(string db, string idFilter) =>
        $"""
        SELECT topic, customer, minForEach(f) AS f
        FROM (
            SELECT topic, if(owner = '', customer_key, owner) AS customer, finalizeAggregation(first_at) AS f
            FROM (SELECT topic, customer_key, first_at FROM {db}.{ArchiveSchema.DialogueStages}{(idFilter.Length == 0 ? "" : $" WHERE {idFilter}")})
            ANY LEFT JOIN ({LinksSql(db)}) USING customer_key
        )
        GROUP BY topic, customer
        """;

    /// <summary>
    /// Appends to <paramref name="perCustomer"/> each step's time <c>tK</c> (<paramref name="reachedAt"/>) and whether the
    /// customer counts there, <c>rK</c> (<paramref name="reached"/>, or by default: entered in the range for the first
    /// step, reached within the window after entering for the others); returns the counts and step times per key.
    /// </summary>
    private static StringBuilder StepColumns(StringBuilder perCustomer, int stageCount, FunnelQuery request, Func<int, string> reachedAt, Func<int, string?> reached)
    {
        var from = request.From.ToUnixTimeSeconds();
        var to = request.To.ToUnixTimeSeconds();
        // No window means the whole range.
        var window = (long)(request.Window ?? (request.To - request.From)).TotalSeconds;
        var perKey = new StringBuilder();
        for (var k = 1; k <= stageCount; k++)
        {
            perCustomer.Append(CultureInfo.InvariantCulture, $"{reachedAt(k)} AS t{k}, ");
            var counts = reached(k) ?? (k == 1 ? $"t1 >= {from} AND t1 < {to}" : $"t{k} > 0 AND t{k} - t1 <= {window}");
            perCustomer.Append(CultureInfo.InvariantCulture, $"({counts}) AS r{k}, ");
            perKey.Append(CultureInfo.InvariantCulture, $", countIf(r{k}) AS c{k}");
            if (k > 1)
            {
                perKey.Append(CultureInfo.InvariantCulture, $", quantilesIf(0.5, 0.9)(t{k} - t{k - 1}, r{k}) AS q{k}");
            }
        }

        return perKey;
    }

    /// <summary>
    /// Dialogue order: one row per dialogue of an id (per channel, when a channel filters or splits the funnel), with
    /// its first times per stage (<c>f</c>) and the channel of its first interaction. Each row's own state is read,
    /// not a GROUP BY of the table: rows of parts not merged yet repeat a key, and the minimum per customer taken
    /// above comes out the same. A dialogue whose first interaction is at or after To neither enters nor counts.
    /// </summary>
    private static string DialogueRowsSql(string db, string? topic, FunnelQuery request)
    {
        var byChannel = request.Channel is not null || request.Breakdown == BreakdownKind.Channel;
        var filters = new List<string> { $"f[1] < {request.To.ToUnixTimeSeconds()}" };
        if (topic is not null)
        {
            filters.Add($"topic = {ArchiveSql.Quote(topic)}");
        }

        if (request.Channel is not null)
        {
            filters.Add($"channel = {ArchiveSql.Quote(request.Channel)}");
        }

        return byChannel
            ? $"SELECT topic, customer_key, channel, finalizeAggregation(first_at) AS f FROM {db}.{ArchiveSchema.DialogueChannelStages} WHERE {string.Join(" AND ", filters)}"
            : $"SELECT topic, customer_key, {(request.Breakdown == BreakdownKind.FirstChannel ? "finalizeAggregation(first_channel)" : "''")} AS channel, finalizeAggregation(first_at) AS f FROM {db}.{ArchiveSchema.DialogueStages} WHERE {string.Join(" AND ", filters)}";
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
            SELECT topic, customer_key, ts, stage, channel
            FROM (
                SELECT customer_key, toUInt32(timestamp) AS ts, channel, topic, stage
                FROM {db}.{ArchiveSchema.Events}
                ARRAY JOIN topics AS topic, stages AS stage
                WHERE {filters}
            )
            {(topic is null ? "" : $"WHERE topic = {ArchiveSql.Quote(topic)}")}
            """;
    }

    /// <summary>
    /// Each linked id with the customer it belongs to, for an ANY LEFT JOIN: a link archived twice (re-delivered) is two
    /// rows until its table merges, and the join takes one of them, so no GROUP BY is needed (it was a fifth of a funnel's time).
    /// </summary>
    public static string LinksSql(string db) =>
        // ClickHouse aliases are query-wide: the owner is renamed in a subquery before linked_id takes the name customer_key.
        $"SELECT linked_id AS customer_key, link_owner AS owner FROM (SELECT linked_id, customer_key AS link_owner FROM {db}.{ArchiveSchema.IdentityLinks})";

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
