using System.Globalization;
using Ecrm.Common.Storage;
using Ecrm.Recommender.Models;

namespace Ecrm.Recommender.Training;

/// <summary>
/// Reads training interactions from the dialogue engine's ClickHouse archive: one per (customer, topic),
/// the customer resolved through the identity links (an anonymous visitor's events count for the
/// customer they became), the weight the deepest stage reached (view &lt; details &lt; cart &lt; purchase),
/// the time the last interaction. Max and last are unchanged by the archive's possible duplicate rows,
/// so no FINAL is needed. The SQL runs on ClickHouse 18.16 and on current releases.
/// </summary>
public sealed class ArchiveInteractions(ClickHouseClient clickHouse)
{
    public async Task<List<Interaction>> ReadAsync(DateTimeOffset? since, CancellationToken cancellationToken)
    {
        var db = clickHouse.Database;
        var from = (since ?? DateTimeOffset.UnixEpoch).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        var sql = $"""
            SELECT if(owner = '', id, owner) AS customer, topic, max(stage) AS weight, max(ts) AS last_ms
            FROM (
                SELECT customer_key AS id, topic, stage, timestamp_ms AS ts
                FROM {db}.events
                ARRAY JOIN topics AS topic, stages AS stage
                WHERE timestamp_ms >= {from} AND stage > 0
            )
            ANY LEFT JOIN (
                SELECT linked_id AS id, any(customer_key) AS owner FROM {db}.identity_links GROUP BY linked_id
            ) USING id
            GROUP BY customer, topic
            FORMAT TabSeparated
            """;
        var interactions = new List<Interaction>();
        await foreach (var line in clickHouse.QueryLinesAsync(sql, cancellationToken))
        {
            var fields = line.Split('\t');
            if (fields.Length == 4)
            {
                interactions.Add(new Interaction(
                    Unescape(fields[0]),
                    Unescape(fields[1]),
                    double.Parse(fields[2], CultureInfo.InvariantCulture),
                    DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(fields[3], CultureInfo.InvariantCulture))));
            }
        }

        return interactions;
    }

    /// <summary>TabSeparated escapes backslash, tab, newline and a few more with a backslash.</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var builder = new System.Text.StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] != '\\' || i + 1 == field.Length)
            {
                builder.Append(field[i]);
                continue;
            }

            builder.Append(field[++i] switch
            {
                't' => '\t',
                'n' => '\n',
                'r' => '\r',
                '0' => '\0',
                'b' => '\b',
                'f' => '\f',
                var other => other,
            });
        }

        return builder.ToString();
    }
}
