using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Catalog;

namespace Ecrm.DialogueEngine.Funnels;

public sealed record TrendPoint(string Date, long Entries);

public sealed record TrendSeries(int Stage, string Name, string? Channel, IReadOnlyList<TrendPoint> Points);

public sealed record Trend(string Topic, string TopicName, string Interval, DateTimeOffset From, DateTimeOffset To, IReadOnlyList<TrendSeries> Series);

/// <summary>
/// Stage entries per day or week from the archived transitions. A jump from stage 1 to 3 enters
/// stages 2 and 3. Each customer (after identity resolution) enters a stage once per episode, on the
/// day they first did: a merge that repeats a visitor's stage for the customer is not a new entry.
/// </summary>
public sealed class TrendQueries(ArchiveClient clickHouse)
{
    public async Task<Trend> ReadAsync(TopicCatalog catalog, string topic, FunnelRequest request, bool weekly, bool byChannel, CancellationToken cancellationToken)
    {
        var sql = TrendSql.Build(clickHouse.Database, topic, request, weekly, byChannel);
        var points = new Dictionary<(int Stage, string Channel), List<TrendPoint>>();
        foreach (var line in (await clickHouse.QueryAsync("trend", sql, cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
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
