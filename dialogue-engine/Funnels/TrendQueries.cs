using System.Text.Json;
using Ecrm.Common.Catalog;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Archive;

namespace Ecrm.DialogueEngine.Funnels;

public sealed record TrendPoint(string Date, long Entries);

public sealed record TrendSeries(int Stage, string Name, string? Channel, IReadOnlyList<TrendPoint> Points);

public sealed record Trend(string Topic, string TopicName, string Interval, DateTimeOffset From, DateTimeOffset To, IReadOnlyList<TrendSeries> Series);

/// <summary>
/// Stage entries per day or week from the archived transitions. A jump from stage 1 to 3 enters
/// stages 2 and 3. Each customer (after identity resolution) enters a stage once per episode, on the
/// day they first did: a merge that repeats a visitor's stage for the customer is not a new entry.
/// </summary>
public sealed class TrendQueries(ClickHouseClient clickHouse)
{
    public async Task<Trend> ReadAsync(TopicCatalog catalog, string topic, FunnelRequest request, bool weekly, bool byChannel, CancellationToken cancellationToken)
    {
        var db = clickHouse.Database;
        var from = request.From.ToUnixTimeSeconds();
        var to = request.To.ToUnixTimeSeconds();
        var channelFilter = request.Channel is null ? "" : $" AND channel = {ClickHouseSql.Quote(request.Channel)}";
        var bucket = weekly ? "toMonday(day)" : "day";
        var channel = byChannel ? "channel" : "''";
        var sql =
            $"""
            SELECT toString({bucket}) AS date, stage, ch, toUInt32(count()) AS entries
            FROM (
                SELECT customer, episode, stage, {channel} AS ch, min(toDate(timestamp)) AS day
                FROM (
                    SELECT if(owner = '', customer_key, owner) AS customer, episode, stage, channel, timestamp
                    FROM (
                        SELECT customer_key, episode, channel, timestamp, stage
                        FROM {db}.{ArchiveSchema.Transitions} FINAL
                        ARRAY JOIN arrayMap(i -> toUInt8(i + from_stage + 1), range(toUInt64(to_stage - from_stage))) AS stage
                        WHERE topic = {ClickHouseSql.Quote(topic)} AND timestamp >= toDateTime({from}) AND timestamp < toDateTime({to}){channelFilter}
                    )
                    ANY LEFT JOIN ({FunnelQueries.LinksSql(db)}) USING customer_key
                )
                GROUP BY customer, episode, stage, ch
            )
            GROUP BY date, stage, ch
            ORDER BY date, stage, ch
            FORMAT JSONEachRow
            """;
        var points = new Dictionary<(int Stage, string Channel), List<TrendPoint>>();
        foreach (var line in (await clickHouse.QueryAsync(sql, cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var row = JsonDocument.Parse(line).RootElement;
            var key = (row.GetProperty("stage").GetInt32(), row.GetProperty("ch").GetString()!);
            if (!points.TryGetValue(key, out var list))
            {
                points[key] = list = [];
            }

            list.Add(new TrendPoint(row.GetProperty("date").GetString()!, row.GetProperty("entries").GetInt64()));
        }

        var channels = byChannel ? points.Keys.Select(k => k.Channel).Distinct().Order(StringComparer.Ordinal).ToList() : [""];
        var series = (from stage in Enumerable.Range(1, catalog.Stages.Count)
                      from ch in channels
                      select new TrendSeries(stage, catalog.Stages.NameOf(stage), byChannel ? ch : null, points.GetValueOrDefault((stage, ch)) ?? []))
                     .ToList();
        return new Trend(topic, catalog.FindTopic(topic)?.Name ?? topic, weekly ? "week" : "day", request.From, request.To, series);
    }
}
