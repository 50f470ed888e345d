using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ecrm.Common.Catalog;

namespace Ecrm.Common.Archive;

/// <summary>A dialogue condition: the customer reached <see cref="MinStage"/> in the topic within the last days, and (optionally) has not converted there.</summary>
public sealed record DialogueCondition
{
    public string? Topic { get; init; }
    // set, not init: the source-generated reader assigns every init property, defaults included, and would zero this.
    public int MinStage { get; set; } = 1;
    public int? WithinDays { get; init; }
    public bool NotConverted { get; init; }
}

/// <summary>A condition on an identify trait's latest value. Numbers compare as numbers.</summary>
public sealed record TraitCondition
{
    public string? Name { get; init; }
    public string? Op { get; init; }
    public JsonElement Value { get; init; }
}

/// <summary>
/// Activity from <c>Order Completed</c> events: recency, frequency and monetary value (the
/// <c>revenue</c> property), and the value tier they give (see <see cref="SegmentSql.ValueTier"/>).
/// </summary>
public sealed record ActivityCondition
{
    public string? ValueTier { get; init; }
    public int? RecencyDays { get; init; }
    public int? MinOrders { get; init; }
    public double? MinRevenue { get; init; }
}

/// <summary>What a segment asks; every part optional, all parts must hold.</summary>
public sealed record SegmentConditions
{
    public List<DialogueCondition>? Dialogue { get; init; }
    public List<TraitCondition>? Traits { get; init; }
    public ActivityCondition? Activity { get; init; }

    /// <summary>Leave out customers the business marked as abusive (the identify trait <c>suppressed: true</c>). On by default.</summary>
    public bool ExcludeSuppressed { get; set; } = true;
}

/// <summary>
/// Turns validated segment conditions into one ClickHouse query of customer ids (column
/// <c>customer</c>, after identity resolution) with their activity. Every value the caller gave is a
/// validated number or a quoted literal: a hostile value gets a 400 or matches nothing, never runs.
/// </summary>
public static partial class SegmentSql
{
    public const int MaxConditions = 20;
    private static readonly string[] Ops = ["eq", "ne", "gt", "gte", "lt", "lte", "contains"];
    private static readonly string[] Tiers = ["high", "medium", "low", "none"];

    /// <summary>
    /// The value tier: recency (last order within 30 days 3, within 90 days 2, else 1), frequency
    /// (5 orders or more 3, 2 or more 2, else 1) and monetary value (revenue 1,000 or more 3, 200 or
    /// more 2, else 1) add up to 3-9: 8 or more is high, 5 or more medium, below that low; no order is none.
    /// </summary>
    public static string ValueTier(long now)
    {
        var score = $"(if({now} - last_order <= 2592000, 3, if({now} - last_order <= 7776000, 2, 1)) + if(orders >= 5, 3, if(orders >= 2, 2, 1)) + if(revenue >= 1000, 3, if(revenue >= 200, 2, 1)))";
        return $"if(orders = 0, 'none', multiIf({score} >= 8, 'high', {score} >= 5, 'medium', 'low'))";
    }

    public static List<string> Validate(SegmentConditions conditions, TopicCatalog catalog)
    {
        var errors = new List<string>();
        var dialogue = conditions.Dialogue ?? [];
        var traits = conditions.Traits ?? [];
        if (dialogue.Count + traits.Count > MaxConditions)
        {
            errors.Add($"conditions: at most {MaxConditions}");
        }

        for (var i = 0; i < dialogue.Count; i++)
        {
            var d = dialogue[i];
            if (d is null || string.IsNullOrEmpty(d.Topic) || catalog.FindTopic(d.Topic) is null)
            {
                errors.Add($"dialogue[{i}].topic: not a topic of the catalog");
            }
            else if (d.MinStage < 1 || d.MinStage > catalog.Stages.Last)
            {
                errors.Add($"dialogue[{i}].minStage: a number from 1 to {catalog.Stages.Last}");
            }
            else if (d.WithinDays is < 1 or > 3650)
            {
                errors.Add($"dialogue[{i}].withinDays: a number of days from 1 to 3650");
            }
        }

        for (var i = 0; i < traits.Count; i++)
        {
            var t = traits[i];
            if (t is null || string.IsNullOrEmpty(t.Name) || !TraitNamePattern().IsMatch(t.Name))
            {
                errors.Add($"traits[{i}].name: 1-64 letters, digits, '_', '-' or '.'");
            }
            else if (!Ops.Contains(t.Op))
            {
                errors.Add($"traits[{i}].op: one of {string.Join(", ", Ops)}");
            }
            else if (t.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False))
            {
                errors.Add($"traits[{i}].value: a string, number or boolean");
            }
            else if (t.Op is "gt" or "gte" or "lt" or "lte" && t.Value.ValueKind != JsonValueKind.Number)
            {
                errors.Add($"traits[{i}].value: {t.Op} compares numbers; give {ArchiveSql.StorableNumberRule}");
            }
            else if (t.Value.ValueKind == JsonValueKind.Number && !(t.Value.TryGetDouble(out var number) && ArchiveSql.IsStorableNumber(number)))
            {
                errors.Add($"traits[{i}].value: {ArchiveSql.StorableNumberRule}");
            }
            else if (t.Value.ValueKind == JsonValueKind.String && (t.Value.GetString()!.Length > 200 || t.Value.GetString()!.Contains('\0', StringComparison.Ordinal)))
            {
                errors.Add($"traits[{i}].value: at most 200 characters, no NUL");
            }
        }

        if (conditions.Activity is { } a)
        {
            if (a.ValueTier is not null && !Tiers.Contains(a.ValueTier))
            {
                errors.Add($"activity.valueTier: one of {string.Join(", ", Tiers)}");
            }

            if (a.RecencyDays is < 1 or > 3650)
            {
                errors.Add("activity.recencyDays: a number of days from 1 to 3650");
            }

            if (a.MinOrders is < 0 or > 1_000_000)
            {
                errors.Add("activity.minOrders: a number from 0 to 1,000,000");
            }

            if (a.MinRevenue is { } revenue && (!ArchiveSql.IsStorableNumber(revenue) || revenue < 0 || revenue > 1e12))
            {
                errors.Add("activity.minRevenue: a number from 0 to 10^12");
            }
        }

        return errors;
    }

    /// <summary>
    /// One row per customer who matches: customer, value_tier, orders, revenue, last_seen (unix s).
    /// <paramref name="now"/> fixes "the last N days" so that a count and its list agree.
    /// Every condition reads the compact history the archive keeps beside the raw events, never the events
    /// themselves, so raw-event retention changes no segment: dialogue conditions the dialogue stages, trait
    /// conditions the identify traits, value and recency the orders, "last seen" each id's last interaction.
    /// Each source gives one row per id as sent (UNION ALL, with zeros for the other sources' columns); the rows
    /// are summed up per customer after identity resolution, and a customer is anyone any source knows.
    /// </summary>
    public static string CustomersSql(string db, SegmentConditions conditions, TopicCatalog catalog, DateTimeOffset now)
    {
        var nowSeconds = now.ToUnixTimeSeconds();
        var where = new List<string>();
        // ClickHouse aliases are query-wide, so each source's column is s_NAME and the per-customer one NAME.
        var columns = new List<SourceColumn>
        {
            new("seen", "toUInt32(0)", "max(s_seen)") { FromActivity = "maxMerge(last_seen)" },
            new("orders", "toUInt64(0)", "sum(s_orders)") { FromOrders = "count()" },
            new("order_revenue", "toFloat64(0)", "sum(s_order_revenue)") { FromOrders = "sum(revenue)" },
            new("last_order_at", "toUInt32(0)", "max(s_last_order_at)") { FromOrders = "max(ts)" },
        };

        var dialogue = conditions.Dialogue ?? [];
        for (var i = 0; i < dialogue.Count; i++)
        {
            var d = dialogue[i];
            var topic = ArchiveSql.Quote(d.Topic!);
            // last[k] is the last time at stage k or deeper, so it never grows with k: the positions at or after
            // "since" are a prefix, and their count is the deepest stage the id was at within the last days.
            var stage = d.WithinDays is { } days ? $"arrayCount(t -> t >= {nowSeconds - (days * 86400L)}, last)" : "length(last)";
            columns.Add(new($"d{i}_stage", "toUInt64(0)", $"max(s_d{i}_stage)") { FromStages = $"maxIf({stage}, topic = {topic})" });
            where.Add($"d{i}_stage >= {d.MinStage}");
            if (d.NotConverted)
            {
                // Never converted in the topic, at any time: a customer who bought it is not a prospect for it.
                columns.Add(new($"d{i}_deepest", "toUInt64(0)", $"max(s_d{i}_deepest)") { FromStages = $"maxIf(length(last), topic = {topic})" });
                where.Add($"d{i}_deepest < {catalog.Stages.Last}");
            }
        }

        var traits = conditions.Traits ?? [];
        var traitNames = traits.Select(t => t.Name!).Append("suppressed").Distinct(StringComparer.Ordinal).ToList();
        for (var i = 0; i < traitNames.Count; i++)
        {
            var name = ArchiveSql.Quote(traitNames[i]);
            // The latest value wins across the customer's ids: each id's latest, with its time.
            columns.Add(new($"tv_{i}", "''", $"argMaxIf(s_tv_{i}, s_tt_{i}, s_tv_{i} != '')") { FromTraits = $"argMaxIf(value, ts, name = {name})" });
            columns.Add(new($"tt_{i}", "toUInt32(0)", $"max(s_tt_{i})") { FromTraits = $"maxIf(ts, name = {name})" });
        }

        for (var i = 0; i < traits.Count; i++)
        {
            where.Add(TraitPredicate($"tv_{traitNames.IndexOf(traits[i].Name!)}", traits[i]));
        }

        if (conditions.ExcludeSuppressed)
        {
            where.Add($"tv_{traitNames.IndexOf("suppressed")} != 'true'");
        }

        if (conditions.Activity is { } a)
        {
            if (a.ValueTier is { } tier)
            {
                where.Add($"value_tier = {ArchiveSql.Quote(tier)}");
            }

            if (a.RecencyDays is { } recency)
            {
                where.Add($"orders > 0 AND last_order >= {nowSeconds - (recency * 86400L)}");
            }

            if (a.MinOrders is { } minOrders)
            {
                where.Add($"orders >= {minOrders}");
            }

            if (a.MinRevenue is { } minRevenue)
            {
                where.Add($"revenue >= {ArchiveSql.Number(minRevenue)}");
            }
        }

        string Source(Func<SourceColumn, string?> pick) => string.Join(", ", columns.Select(c => $"{pick(c) ?? c.Zero} AS s_{c.Name}"));
        var conditionColumns = string.Concat(columns.Skip(4).Select(c => $", {c.Name}"));

        return
            $"""
            SELECT customer, {ValueTier(nowSeconds)} AS value_tier, orders, revenue, last_seen
            FROM (
                SELECT customer, seen AS last_seen, orders, last_order_at AS last_order,
                       -- Kept finite: two huge but storable revenues would add up to infinity, which JSON cannot carry.
                       least(greatest(order_revenue, -1e300), 1e300) AS revenue{conditionColumns}
                FROM (
                    SELECT customer, {string.Join(", ", columns.Select(c => $"{c.PerCustomer} AS {c.Name}"))}
                    FROM (
                        SELECT if(owner = '', customer_key, owner) AS customer, {string.Join(", ", columns.Select(c => "s_" + c.Name))}
                        FROM (
                            SELECT customer_key, {Source(c => c.FromActivity)}
                            FROM {db}.{ArchiveSchema.CustomerActivity}
                            GROUP BY customer_key
                            UNION ALL
                            SELECT customer_key, {Source(c => c.FromOrders)}
                            -- An order re-delivered before its table merged counts once.
                            FROM (SELECT customer_key, message_id, any(ts) AS ts, any(revenue) AS revenue FROM {db}.{ArchiveSchema.Orders} GROUP BY customer_key, message_id)
                            GROUP BY customer_key
                            UNION ALL
                            SELECT customer_key, {Source(c => c.FromStages)}
                            -- Each row's own state: unmerged rows of one key only repeat a maximum.
                            FROM (SELECT topic, customer_key, finalizeAggregation(last_at) AS last FROM {db}.{ArchiveSchema.DialogueStages})
                            GROUP BY customer_key
                            UNION ALL
                            SELECT customer_key, {Source(c => c.FromTraits)}
                            FROM {db}.{ArchiveSchema.CustomerTraits}
                            GROUP BY customer_key
                        )
                        -- Joined above the reads, so that on a cluster it runs once, over every shard's rows.
                        ANY LEFT JOIN ({FunnelSql.LinksSql(db)}) USING customer_key
                    )
                    GROUP BY customer
                )
            )
            {(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where))}
            """;
    }

    /// <summary>A column of the segment query: its zero, how each source gives it per id, and how ids add up per customer.</summary>
    private sealed record SourceColumn(string Name, string Zero, string PerCustomer)
    {
        public string? FromActivity { get; init; }

        public string? FromOrders { get; init; }

        public string? FromStages { get; init; }

        public string? FromTraits { get; init; }
    }

    private static string TraitPredicate(string column, TraitCondition t)
    {
        var text = t.Value.ValueKind switch
        {
            JsonValueKind.String => t.Value.GetString()!,
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            _ => t.Value.GetRawText(),
        };
        var number = t.Value.ValueKind == JsonValueKind.Number ? ArchiveSql.Number(t.Value.GetDouble()) : null;
        return t.Op switch
        {
            "eq" when number is not null => $"toFloat64OrZero({column}) = {number} AND {column} != ''",
            "ne" when number is not null => $"NOT (toFloat64OrZero({column}) = {number} AND {column} != '')",
            "eq" => $"{column} = {ArchiveSql.Quote(text)}",
            "ne" => $"{column} != {ArchiveSql.Quote(text)}",
            "contains" => $"position({column}, {ArchiveSql.Quote(text)}) > 0",
            "gt" => $"{column} != '' AND toFloat64OrZero({column}) > {number}",
            "gte" => $"{column} != '' AND toFloat64OrZero({column}) >= {number}",
            "lt" => $"{column} != '' AND toFloat64OrZero({column}) < {number}",
            _ => $"{column} != '' AND toFloat64OrZero({column}) <= {number}",
        };
    }

    /// <summary>A trait's name as funnels and segments take it: letters, digits, '_', '-' or '.', at most 64.</summary>
    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$")]
    public static partial Regex TraitNamePattern();
}

public sealed record SegmentRow(string Customer, string ValueTier, long Orders, double Revenue, DateTimeOffset LastSeen);

/// <summary>Reads of a segment's query (<see cref="SegmentSql.CustomersSql"/>): its size, a page of it, its customers, its CSV export.</summary>
public static class SegmentArchive
{
    public static Task<long> CountAsync(ArchiveClient archive, string segmentSql, CancellationToken cancellationToken) =>
        archive.QueryNumberAsync("segment count", $"SELECT count() FROM ({segmentSql}) FORMAT TSV", cancellationToken);

    /// <summary>Most recently seen first.</summary>
    public static async Task<IReadOnlyList<SegmentRow>> PageAsync(ArchiveClient archive, string segmentSql, int page, int size, CancellationToken cancellationToken)
    {
        var body = await archive.QueryAsync("segment page",
            $"SELECT customer, value_tier, toString(orders) AS orders, revenue, toUInt32(last_seen) AS last_seen FROM ({segmentSql}) ORDER BY last_seen DESC, customer LIMIT {ArchiveSql.Number(size)} OFFSET {ArchiveSql.Number((page - 1L) * size)} FORMAT JSONEachRow",
            cancellationToken);
        return [.. body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            var row = JsonDocument.Parse(line).RootElement;
            return new SegmentRow(
                row.GetProperty("customer").GetString()!,
                row.GetProperty("value_tier").GetString()!,
                long.Parse(row.GetProperty("orders").GetString()!, CultureInfo.InvariantCulture),
                row.GetProperty("revenue").GetDouble(),
                DateTimeOffset.FromUnixTimeSeconds(row.GetProperty("last_seen").GetInt64()));
        })];
    }

    /// <summary>Every customer id of the segment, streamed.</summary>
    public static async IAsyncEnumerable<string> CustomersAsync(ArchiveClient archive, string segmentSql, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var line in archive.QueryLinesAsync("segment customers", $"SELECT customer FROM ({segmentSql}) FORMAT JSONEachRow", cancellationToken))
        {
            yield return JsonDocument.Parse(line).RootElement.GetProperty("customer").GetString()!;
        }
    }

    /// <summary>
    /// The segment as CSV lines (a header first), sorted by customer id. A customer id is whatever a client
    /// sent: one starting with =, +, -, @, a tab or a carriage return would run as a formula in a spreadsheet,
    /// so it goes out behind a quote, as OWASP's CSV injection advice says.
    /// </summary>
    public static IAsyncEnumerable<string> CsvLinesAsync(ArchiveClient archive, string segmentSql, CancellationToken cancellationToken) =>
        archive.QueryLinesAsync("segment export",
            $"SELECT concat(if(match(customer, '^[-=+@\\t\\r]'), '\\'', ''), customer) AS customer_id, value_tier, orders, revenue, toUInt32(last_seen) AS last_seen FROM ({segmentSql}) ORDER BY customer FORMAT CSVWithNames",
            cancellationToken);
}
