using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ecrm.Common.Catalog;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Archive;
using Ecrm.DialogueEngine.Funnels;

namespace Ecrm.DialogueEngine.Segments;

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

public sealed record SavedSegment(string Id, string Name, SegmentConditions Conditions);

/// <summary>
/// Turns validated segment conditions into one ClickHouse query of customer ids (column
/// <c>customer</c>, after identity resolution) with their activity. Every value the caller gave is a
/// validated number or a quoted literal: a hostile value gets a 400 or matches nothing, never runs.
/// </summary>
public static class SegmentSql
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
            if (t is null || string.IsNullOrEmpty(t.Name) || !FunnelRequest.TraitNamePattern().IsMatch(t.Name))
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
            else if (t.Op is "gt" or "gte" or "lt" or "lte" && (t.Value.ValueKind != JsonValueKind.Number || !double.IsFinite(t.Value.GetDouble())))
            {
                errors.Add($"traits[{i}].value: {t.Op} compares numbers; give a finite number");
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

            if (a.MinRevenue is { } revenue && (!double.IsFinite(revenue) || revenue < 0 || revenue > 1e12))
            {
                errors.Add("activity.minRevenue: a number from 0 to 10^12");
            }
        }

        return errors;
    }

    /// <summary>
    /// One row per customer who matches: customer, value_tier, orders, revenue, last_seen (unix s).
    /// <paramref name="now"/> fixes "the last N days" so that a count and its list agree.
    /// </summary>
    public static string CustomersSql(string db, SegmentConditions conditions, TopicCatalog catalog, DateTimeOffset now)
    {
        var nowSeconds = now.ToUnixTimeSeconds();
        var columns = new StringBuilder();
        var where = new List<string>();
        var dialogue = conditions.Dialogue ?? [];
        for (var i = 0; i < dialogue.Count; i++)
        {
            var d = dialogue[i];
            var topic = ClickHouseSql.Quote(d.Topic!);
            var since = d.WithinDays is { } days ? $" AND ts >= {nowSeconds - (days * 86400L)}" : "";
            columns.Append(CultureInfo.InvariantCulture, $", maxIf(stage, topic = {topic}{since}) AS d{i}_stage");
            where.Add($"d{i}_stage >= {d.MinStage}");
            if (d.NotConverted)
            {
                // Never converted in the topic, at any time: a customer who bought it is not a prospect for it.
                columns.Append(CultureInfo.InvariantCulture, $", maxIf(stage, topic = {topic}) AS d{i}_deepest");
                where.Add($"d{i}_deepest < {catalog.Stages.Last}");
            }
        }

        var traits = conditions.Traits ?? [];
        var traitNames = traits.Select(t => t.Name!).Append("suppressed").Distinct(StringComparer.Ordinal).ToList();
        for (var i = 0; i < traits.Count; i++)
        {
            var t = traits[i];
            var column = $"trait_{traitNames.IndexOf(t.Name!)}";
            where.Add(TraitPredicate(column, t));
        }

        if (conditions.ExcludeSuppressed)
        {
            where.Add($"trait_{traitNames.IndexOf("suppressed")} != 'true'");
        }

        if (conditions.Activity is { } a)
        {
            if (a.ValueTier is { } tier)
            {
                where.Add($"value_tier = {ClickHouseSql.Quote(tier)}");
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
                where.Add($"revenue >= {minRevenue.ToString("R", CultureInfo.InvariantCulture)}");
            }
        }

        var traitColumns = string.Concat(traitNames.Select((name, i) => $", argMaxIf(trait_value_{i}, ts, is_identify AND trait_value_{i} != '') AS trait_{i}"));
        var traitValues = string.Concat(traitNames.Select((name, i) =>
        {
            var quoted = ClickHouseSql.Quote(name);
            return $", if(type = 'identify', if(visitParamExtractString(payload, {quoted}) != '', visitParamExtractString(payload, {quoted}), visitParamExtractRaw(payload, {quoted})), '') AS trait_value_{i}";
        }));

        return
            $"""
            SELECT customer, {ValueTier(nowSeconds)} AS value_tier, orders, revenue, last_seen
            FROM (
                SELECT customer,
                       max(ts) AS last_seen,
                       countIf(is_order) AS orders,
                       sumIf(order_revenue, is_order) AS revenue,
                       maxIf(ts, is_order) AS last_order{traitColumns}{columns}
                FROM (
                    SELECT if(owner = '', customer_key, owner) AS customer, ts, topic, stage, type,
                           type = 'identify' AS is_identify, event = 'Order Completed' AND idx = 1 AS is_order,
                           visitParamExtractFloat(payload, 'revenue') AS order_revenue{traitValues}
                    FROM (
                        SELECT customer_key, toUInt32(timestamp) AS ts, type, event, payload, topics, stages
                        FROM {db}.{ArchiveSchema.Events} FINAL
                    )
                    -- One row per matched topic; an event of no topic keeps one row. Orders count on the first.
                    ARRAY JOIN if(empty(topics), [''], topics) AS topic, if(empty(stages), [toUInt8(0)], stages) AS stage,
                               arrayEnumerate(if(empty(topics), [''], topics)) AS idx
                    ANY LEFT JOIN ({FunnelQueries.LinksSql(db)}) USING customer_key
                )
                GROUP BY customer
            )
            {(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where))}
            """;
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
        var number = t.Value.ValueKind == JsonValueKind.Number ? t.Value.GetDouble().ToString("R", CultureInfo.InvariantCulture) : null;
        return t.Op switch
        {
            "eq" when number is not null => $"toFloat64OrZero({column}) = {number} AND {column} != ''",
            "ne" when number is not null => $"NOT (toFloat64OrZero({column}) = {number} AND {column} != '')",
            "eq" => $"{column} = {ClickHouseSql.Quote(text)}",
            "ne" => $"{column} != {ClickHouseSql.Quote(text)}",
            "contains" => $"position({column}, {ClickHouseSql.Quote(text)}) > 0",
            "gt" => $"{column} != '' AND toFloat64OrZero({column}) > {number}",
            "gte" => $"{column} != '' AND toFloat64OrZero({column}) >= {number}",
            "lt" => $"{column} != '' AND toFloat64OrZero({column}) < {number}",
            _ => $"{column} != '' AND toFloat64OrZero({column}) <= {number}",
        };
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, AllowTrailingCommas = true, ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(SegmentConditions))]
[JsonSerializable(typeof(SavedSegment))]
[JsonSerializable(typeof(SegmentBody))]
internal sealed partial class SegmentJsonContext : JsonSerializerContext;
