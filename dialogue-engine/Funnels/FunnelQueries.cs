using System.Globalization;
using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Catalog;

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
public sealed class FunnelQueries(ArchiveClient clickHouse)
{
    /// <summary>How long before a snapshot's time a dialogue row still counts as changed (<see cref="DialogueSummary.DefaultInsertMargin"/>; tests shorten it).</summary>
    public TimeSpan SnapshotInsertMargin { get; init; } = DialogueSummary.DefaultInsertMargin;

    /// <summary>
    /// The funnel of every topic asked for (all of them when <paramref name="topic"/> is null), each
    /// with its breakdown. <paramref name="customersSql"/>, a query of customer ids, limits it to a segment.
    /// </summary>
    public async Task<IReadOnlyList<Funnel>> ReadAsync(TopicCatalog catalog, string? topic, FunnelRequest request, string? customersSql, CancellationToken cancellationToken)
    {
        var stageCount = catalog.Stages.Count;
        var byKey = await OverviewFromSnapshotAsync(stageCount, topic, request, customersSql, cancellationToken)
            ?? await QueryAsync(FunnelSql.Build(clickHouse.Database, stageCount, topic, request, customersSql), stageCount, cancellationToken);
        // A breakdown splits customers by key; the whole funnel (with its times) is its own query,
        // because a customer may sit under several keys (channel) and times do not add up.
        var overall = request.Breakdown == BreakdownKind.None
            ? byKey
            : await QueryAsync(FunnelSql.Build(clickHouse.Database, stageCount, topic, request with { Breakdown = BreakdownKind.None }, customersSql), stageCount, cancellationToken);

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

    /// <summary>
    /// The plain all-topics overview (dialogue order, no channel, breakdown or segment) from the newest snapshot of
    /// the dialogue history (<see cref="DialogueSummary"/>), regrouping only the customers changed since; null when
    /// that does not apply, when there is no snapshot or too much changed, or when the snapshot went away meanwhile
    /// (an erasure drops them): the caller then groups every dialogue.
    /// </summary>
    private async Task<Dictionary<(string Topic, string Key), (long[] Counts, (double? Median, double? P90)[] Times)>?> OverviewFromSnapshotAsync(
        int stageCount, string? topic, FunnelRequest request, string? customersSql, CancellationToken cancellationToken)
    {
        if (topic is not null || customersSql is not null || request.Order != FunnelOrder.Dialogue || request.Channel is not null || request.Breakdown != BreakdownKind.None)
        {
            return null;
        }

        try
        {
            if (await DialogueSummary.LatestAsync(clickHouse, cancellationToken) is not { } snapshot)
            {
                return null;
            }

            await using var changes = await DialogueSummary.ChangesAsync(clickHouse, snapshot, SnapshotInsertMargin, cancellationToken);
            return changes is null ? null : await QueryAsync(FunnelSql.BuildOverview(clickHouse.Database, stageCount, request, snapshot, changes), stageCount, cancellationToken);
        }
        catch (ArchiveException e) when (!e.IsTransient)
        {
            // Most likely the snapshot was dropped between finding it and reading it; grouping everything still answers.
            return null;
        }
    }

    /// <summary>Counts and step times per (topic, breakdown key).</summary>
    private async Task<Dictionary<(string Topic, string Key), (long[] Counts, (double? Median, double? P90)[] Times)>> QueryAsync(string sql, int stageCount, CancellationToken cancellationToken)
    {
        var rows = new Dictionary<(string, string), (long[], (double?, double?)[])>();
        foreach (var line in (await clickHouse.QueryAsync("funnel", sql, cancellationToken)).Split('\n', StringSplitOptions.RemoveEmptyEntries))
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

    private static long ReadLong(JsonElement value) =>
        value.ValueKind == JsonValueKind.String ? long.Parse(value.GetString()!, CultureInfo.InvariantCulture) : value.GetInt64();

    private static double? ReadDouble(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => value.GetDouble(),
        JsonValueKind.String when double.TryParse(value.GetString(), CultureInfo.InvariantCulture, out var parsed) => parsed,
        _ => null,
    };
}
