using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Ecrm.Common.Archive;

/// <summary>One state of a trigger firing, as <c>trigger_firings</c> keeps it (the latest version wins).</summary>
public sealed record FiringRow(
    string FiringId, string RuleId, string Customer, string Topic, int Episode, int FromStage, int ToStage, string Channel,
    string TransitionMessageId, DateTimeOffset TransitionAt, string Status, int Attempts, string Error, DateTimeOffset FiredAt,
    DateTimeOffset UpdatedAt, long Version);

public sealed record ConversionDayRow(long Day, long Fired, long Converted);

/// <summary>
/// The triggers' part of the archive: firing rows (written first to a Redis outbox as JSONEachRow lines,
/// then moved here in batches), their listing, and the conversions that followed them.
/// </summary>
public static class TriggerArchive
{
    private const int MaxErrorLength = 500;

    /// <summary>A firing row as one JSONEachRow line: the form the outbox holds until <see cref="InsertAsync"/> moves it.</summary>
    public static string ToJsonLine(FiringRow row)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("firing_id", row.FiringId);
            w.WriteString("rule_id", row.RuleId);
            w.WriteString("customer_key", row.Customer);
            w.WriteString("topic", row.Topic);
            w.WriteNumber("episode", row.Episode);
            w.WriteNumber("from_stage", row.FromStage);
            w.WriteNumber("to_stage", row.ToStage);
            w.WriteString("channel", row.Channel);
            w.WriteString("transition_message_id", row.TransitionMessageId);
            w.WriteNumber("transition_at", row.TransitionAt.ToUnixTimeSeconds());
            w.WriteNumber("transition_at_ms", row.TransitionAt.ToUnixTimeMilliseconds());
            w.WriteString("status", row.Status);
            w.WriteNumber("attempts", row.Attempts);
            w.WriteString("error", row.Error.Length <= MaxErrorLength ? row.Error : row.Error[..MaxErrorLength]);
            w.WriteNumber("fired_at", row.FiredAt.ToUnixTimeSeconds());
            w.WriteNumber("fired_at_ms", row.FiredAt.ToUnixTimeMilliseconds());
            w.WriteNumber("updated_at_ms", row.UpdatedAt.ToUnixTimeMilliseconds());
            w.WriteNumber("version", row.Version);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The customer of an outbox line, for erasure; null when the line is not a firing row.</summary>
    public static string? CustomerOf(string jsonLine)
    {
        using var row = JsonDocument.Parse(jsonLine);
        return row.RootElement.TryGetProperty("customer_key", out var customer) ? customer.GetString() : null;
    }

    /// <summary>Writes outbox lines; the table replaces by firing id, so a repeated insert counts once.</summary>
    public static Task InsertAsync(ArchiveClient archive, IEnumerable<string> jsonLines, CancellationToken cancellationToken)
    {
        var body = new StringBuilder();
        foreach (var line in jsonLines)
        {
            body.Append(line).Append('\n');
        }

        return archive.InsertJsonEachRowAsync(ArchiveSchema.TriggerFirings, Encoding.UTF8.GetBytes(body.ToString()), cancellationToken);
    }

    /// <summary>Firings of a rule per status.</summary>
    public static async Task<Dictionary<string, long>> CountByStatusAsync(ArchiveClient archive, string rule, CancellationToken cancellationToken)
    {
        var counts = await archive.QueryAsync("trigger firing counts",
            $"SELECT status, count() FROM {archive.Table(ArchiveSchema.TriggerFirings)} FINAL WHERE rule_id = {ArchiveSql.Quote(rule)} GROUP BY status FORMAT TSV", cancellationToken);
        return counts.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .ToDictionary(p => p[0], p => long.Parse(p[1], CultureInfo.InvariantCulture), StringComparer.Ordinal);
    }

    /// <summary>The rule's latest firings, newest first, optionally of one status.</summary>
    public static async Task<IReadOnlyList<FiringRow>> ListAsync(ArchiveClient archive, string rule, string? status, int limit, CancellationToken cancellationToken)
    {
        var rows = await archive.QueryAsync("trigger firings",
            $"""
            SELECT firing_id, rule_id, customer_key, topic, episode, from_stage, to_stage, channel, transition_message_id, status, attempts, error,
                   toString(transition_at_ms) AS transition_at_ms, toString(fired_at_ms) AS fired_at_ms, toString(updated_at_ms) AS updated_at_ms, toString(version) AS version
            FROM {archive.Table(ArchiveSchema.TriggerFirings)} FINAL
            WHERE rule_id = {ArchiveSql.Quote(rule)}{(status is null ? "" : $" AND status = {ArchiveSql.Quote(status)}")}
            ORDER BY fired_at_ms DESC, firing_id
            LIMIT {ArchiveSql.Number(limit)}
            FORMAT JSONEachRow
            """, cancellationToken);
        return [.. rows.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            var row = JsonDocument.Parse(line).RootElement;
            return new FiringRow(
                row.GetProperty("firing_id").GetString()!,
                row.GetProperty("rule_id").GetString()!,
                row.GetProperty("customer_key").GetString()!,
                row.GetProperty("topic").GetString()!,
                row.GetProperty("episode").GetInt32(),
                row.GetProperty("from_stage").GetInt32(),
                row.GetProperty("to_stage").GetInt32(),
                row.GetProperty("channel").GetString()!,
                row.GetProperty("transition_message_id").GetString()!,
                Ms(row.GetProperty("transition_at_ms")),
                row.GetProperty("status").GetString()!,
                row.GetProperty("attempts").GetInt32(),
                row.GetProperty("error").GetString()!,
                Ms(row.GetProperty("fired_at_ms")),
                Ms(row.GetProperty("updated_at_ms")),
                long.Parse(row.GetProperty("version").GetString()!, CultureInfo.InvariantCulture));
        })];
    }

    /// <summary>
    /// Of a rule's firings in [from, to) that were not <paramref name="suppressedStatus"/>: per day, how many
    /// were followed within the window by the customer reaching a deeper stage of the same topic.
    /// </summary>
    public static async Task<IReadOnlyList<ConversionDayRow>> ConversionsAsync(
        ArchiveClient archive, string rule, string suppressedStatus, DateTimeOffset from, DateTimeOffset to, TimeSpan window, CancellationToken cancellationToken)
    {
        var firings = archive.Table(ArchiveSchema.TriggerFirings);
        var ruleId = ArchiveSql.Quote(rule);
        var fromMs = ArchiveSql.Number(from.ToUnixTimeMilliseconds());
        var toMs = ArchiveSql.Number(to.ToUnixTimeMilliseconds());
        var windowMs = ArchiveSql.Number((long)window.TotalMilliseconds);

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
                    WHERE rule_id = {ruleId} AND status != {ArchiveSql.Quote(suppressedStatus)}
                      AND fired_at_ms >= {fromMs} AND fired_at_ms < {toMs}
                )
                ALL LEFT JOIN
                (
                    SELECT customer_key, topic, timestamp_ms AS t_at_ms, to_stage AS t_stage
                    FROM {archive.Table(ArchiveSchema.Transitions)} FINAL
                    WHERE (customer_key, topic) IN (SELECT customer_key, topic FROM {firings} WHERE rule_id = {ruleId})
                      AND timestamp_ms >= {fromMs} AND timestamp_ms < {toMs} + {windowMs}
                ) USING (customer_key, topic)
                GROUP BY firing_id, f_fired_ms
            )
            GROUP BY c_day
            ORDER BY c_day
            FORMAT JSONEachRow
            """;
        var days = new List<ConversionDayRow>();
        foreach (var line in (await archive.QueryAsync("trigger conversions", sql, cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var row = JsonDocument.Parse(line).RootElement;
            days.Add(new ConversionDayRow(Number(row.GetProperty("c_day")), Number(row.GetProperty("c_fired")), Number(row.GetProperty("c_converted"))));
        }

        return days;
    }

    /// <summary>Whether a customer matches a segment's query (<see cref="SegmentSql.CustomersSql"/>).</summary>
    public static async Task<bool> InSegmentAsync(ArchiveClient archive, string segmentSql, string customer, CancellationToken cancellationToken) =>
        await archive.QueryNumberAsync("segment membership", $"SELECT count() FROM ({segmentSql}) WHERE customer = {ArchiveSql.Quote(customer)} FORMAT TSV", cancellationToken) != 0;

    // ClickHouse writes UInt64 as a quoted string in JSON.
    private static long Number(JsonElement value) =>
        value.ValueKind == JsonValueKind.String ? long.Parse(value.GetString()!, CultureInfo.InvariantCulture) : value.GetInt64();

    private static DateTimeOffset Ms(JsonElement value) => DateTimeOffset.FromUnixTimeMilliseconds(Number(value));
}
