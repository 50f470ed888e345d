using System.Globalization;
using System.Text.Json;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Archive;

namespace Ecrm.DialogueEngine.Triggers;

public sealed record ConversionDay(string Date, long Fired, long Converted);

/// <summary>
/// Of a rule's firings in [from, to): how many were followed, within the window, by the customer
/// reaching a deeper stage of the same topic than the one that fired the rule. Per day and in total.
/// </summary>
public sealed record TriggerConversionReport(
    string Trigger, DateTimeOffset From, DateTimeOffset To, string Window, long Fired, long Converted, double? Rate, IReadOnlyList<ConversionDay> Days);

/// <summary>
/// Conversions after firing, from the archive: the rule's firings (<c>trigger_firings</c>) joined with
/// the stage transitions (<c>transitions</c>) on customer and topic. Suppressed firings acted on
/// nobody and are left out. Every value in the SQL is quoted or a number the engine produced.
/// </summary>
public static class TriggerConversions
{
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromDays(7);

    public static async Task<TriggerConversionReport> ReadAsync(
        ClickHouseClient clickHouse, string rule, DateTimeOffset from, DateTimeOffset to, TimeSpan window, string windowText, CancellationToken cancellationToken)
    {
        var db = clickHouse.Database;
        var firings = $"{db}.{ArchiveSchema.TriggerFirings}";
        var ruleId = ClickHouseSql.Quote(rule);
        var fromMs = from.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        var toMs = to.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        var windowMs = ((long)window.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);

        // 18.16 joins on equality only, so the time and stage conditions are applied after an
        // ALL LEFT JOIN, per firing (max of 0/1). The right side holds only the customers and topics
        // the rule fired for. Aliases are query-wide on 18.16: every alias below is a fresh name.
        var sql = $"""
            SELECT intDiv(f_fired_ms, 86400000) AS c_day, count() AS c_fired, sum(c_hit) AS c_converted
            FROM
            (
                SELECT firing_id, f_fired_ms,
                       max(t_at_ms > f_fired_ms AND t_at_ms <= f_fired_ms + {windowMs} AND t_stage > f_stage) AS c_hit
                FROM
                (
                    SELECT firing_id, customer_key, topic, fired_at_ms AS f_fired_ms, to_stage AS f_stage
                    FROM {firings} FINAL
                    WHERE rule_id = {ruleId} AND status != {ClickHouseSql.Quote(FiringStatus.Suppressed)}
                      AND fired_at_ms >= {fromMs} AND fired_at_ms < {toMs}
                )
                ALL LEFT JOIN
                (
                    SELECT customer_key, topic, timestamp_ms AS t_at_ms, to_stage AS t_stage
                    FROM {db}.{ArchiveSchema.Transitions} FINAL
                    WHERE (customer_key, topic) IN (SELECT customer_key, topic FROM {firings} WHERE rule_id = {ruleId})
                      AND timestamp_ms >= {fromMs} AND timestamp_ms < {toMs} + {windowMs}
                ) USING (customer_key, topic)
                GROUP BY firing_id, f_fired_ms
            )
            GROUP BY c_day
            ORDER BY c_day
            FORMAT JSONEachRow
            """;
        var days = new List<ConversionDay>();
        foreach (var line in (await clickHouse.QueryAsync(sql, cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var row = JsonDocument.Parse(line).RootElement;
            var day = DateTimeOffset.UnixEpoch.AddDays(Number(row.GetProperty("c_day"))).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            days.Add(new ConversionDay(day, Number(row.GetProperty("c_fired")), Number(row.GetProperty("c_converted"))));
        }

        var fired = days.Sum(d => d.Fired);
        var converted = days.Sum(d => d.Converted);
        return new TriggerConversionReport(rule, from, to, windowText, fired, converted, fired == 0 ? null : (double)converted / fired, days);
    }

    // ClickHouse writes UInt64 as a quoted string in JSON.
    private static long Number(JsonElement value) =>
        value.ValueKind == JsonValueKind.String ? long.Parse(value.GetString()!, CultureInfo.InvariantCulture) : value.GetInt64();
}
