using System.Diagnostics;
using System.Globalization;
using Ecrm.Common.Archive;
using Ecrm.Common.Catalog;
using Ecrm.Common.Hosting;
using Ecrm.DialogueEngine.Funnels;

namespace Ecrm.LoadDriver;

/// <summary>
/// funnel: fills an archive database with generated events (ClickHouse generates them itself, so
/// filling is quick), then times the engine's own funnel queries over it, next to plain scans of the
/// same table measured in the same run.
/// </summary>
internal static class FunnelRun
{
    public const string Usage = "usage: Ecrm.LoadDriver funnel --clickhouse URL [--events 10000000] [--customers 1000000] [--topics 50] [--days 30] [--runs 5] [--output DIR]";
    private const string Database = "funnel_bench";
    private const int ChunkRows = 1_000_000;

    public static async Task<int> RunAsync(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        if (!values.TryGetValue("clickhouse", out var url))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        long Long(string name, long fallback) => values.TryGetValue(name, out var text) ? long.Parse(text, CultureInfo.InvariantCulture) : fallback;
        var (events, customers, topics, days, runs) = (Long("events", 10_000_000), Long("customers", 1_000_000), (int)Long("topics", 50), Long("days", 30), (int)Long("runs", 5));

        var clickHouse = new ArchiveClient(new ClickHouseOptions { Url = url, Database = Database });
        await clickHouse.ExecuteAsync("drop database", $"DROP DATABASE IF EXISTS {Database}", CancellationToken.None);
        await ArchiveSchema.EnsureAsync(clickHouse, CancellationToken.None);

        var end = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero);
        var start = end.AddDays(-days);
        Console.WriteLine($"generating {events:N0} events of {customers:N0} customers in {topics} topics over {days} days (the compact dialogue history kept by its view)");
        var progress = new ConsoleProgress(events, "events");
        var generating = Stopwatch.StartNew();
        for (long first = 0; first < events; first += ChunkRows)
        {
            var rows = Math.Min(ChunkRows, events - first);
            await SyntheticArchive.GenerateEventsAsync(clickHouse, first, rows, customers, topics, start.ToUnixTimeSeconds(), days * 86400, CancellationToken.None);
            progress.Add(rows);
        }

        progress.Finish();
        var generatedPerSecond = events / generating.Elapsed.TotalSeconds;
        await SyntheticArchive.GenerateLinksAsync(clickHouse, customers, start.ToUnixTimeSeconds(), CancellationToken.None);

        var catalog = TopicCatalog.Parse(
            "{\"topics\":[" + string.Join(',', Enumerable.Range(0, topics).Select(t => $"{{\"id\":\"t{t}\",\"rules\":[{{\"match\":{{\"path\":\"/t{t}\"}},\"stage\":1}}]}}")) + "]}").Catalog!;
        var queries = new FunnelQueries(clickHouse);
        var request = new FunnelRequest(new FunnelQuery(start, end.AddDays(1), null, null, FunnelOrder.Dialogue, BreakdownKind.None, null));
        var results = new List<(string What, double MedianMs, double MinMs)>();

        async Task TimeAsync(string what, Func<Task> query)
        {
            await query(); // warm
            var timings = new List<double>();
            for (var i = 0; i < runs; i++)
            {
                var watch = Stopwatch.StartNew();
                await query();
                timings.Add(watch.Elapsed.TotalMilliseconds);
            }

            timings.Sort();
            Console.WriteLine($"{what,-70} median {timings[timings.Count / 2],8:F0} ms   min {timings[0],8:F0} ms");
            results.Add((what, timings[timings.Count / 2], timings[0]));
        }

        Task OneTopicAsync() => queries.ReadAsync(catalog, "t1", request, null, CancellationToken.None);
        Task OverviewAsync() => queries.ReadAsync(catalog, null, request, null, CancellationToken.None);

        var count = await SyntheticArchive.CountEventsAsync(clickHouse, CancellationToken.None);
        var unmerged = await SyntheticArchive.SizeAsync(clickHouse, compact: true, CancellationToken.None);
        Console.WriteLine($"{count:N0} events archived; compact dialogue history {unmerged.Rows:N0} rows in {unmerged.Parts} parts before merging; timing {runs} runs each after one warm-up");
        await TimeAsync("reference: SELECT count() WHERE has(topics, 't1')", () => SyntheticArchive.CountTopicEventsAsync(clickHouse, "t1", CancellationToken.None));
        await TimeAsync("4-stage funnel of one topic, before the compact table's merges", OneTopicAsync);
        await TimeAsync($"every topic's funnel at once ({topics} topics), before the compact table's merges", OverviewAsync);

        // What the background merges reach in time, done now, so that the figures below are the steady state.
        var merging = Stopwatch.StartNew();
        await SyntheticArchive.MergeCompactAsync(clickHouse, CancellationToken.None);
        var mergeMs = merging.Elapsed.TotalMilliseconds;
        var compact = await SyntheticArchive.SizeAsync(clickHouse, compact: true, CancellationToken.None);
        var raw = await SyntheticArchive.SizeAsync(clickHouse, compact: false, CancellationToken.None);
        Console.WriteLine($"merged in {mergeMs:F0} ms: compact {compact.Rows:N0} rows, {compact.Bytes:N0} bytes; raw events {raw.Rows:N0} rows, {raw.Bytes:N0} bytes");

        await TimeAsync("reference: SELECT count() WHERE has(topics, 't1')", () => SyntheticArchive.CountTopicEventsAsync(clickHouse, "t1", CancellationToken.None));
        await TimeAsync("reference: SELECT uniqExact(customer_key) of all events", () => SyntheticArchive.CountIdsAsync(clickHouse, CancellationToken.None));
        await TimeAsync("4-stage funnel of one topic (dialogue order, identity-resolved)", OneTopicAsync);
        await TimeAsync("4-stage funnel of one topic, 7-day window",
            () => queries.ReadAsync(catalog, "t1", request with { Window = TimeSpan.FromDays(7) }, null, CancellationToken.None));
        await TimeAsync("4-stage funnel of one topic, broken down by first channel",
            () => queries.ReadAsync(catalog, "t1", request with { Breakdown = BreakdownKind.FirstChannel }, null, CancellationToken.None));
        await TimeAsync("4-stage funnel of one topic, strict order (windowFunnel over raw events)",
            () => queries.ReadAsync(catalog, "t1", request with { Order = FunnelOrder.Strict }, null, CancellationToken.None));
        await TimeAsync($"every topic's funnel at once ({topics} topics)", OverviewAsync);
        var funnel = (await queries.ReadAsync(catalog, "t1", request, null, CancellationToken.None))[0];
        Console.WriteLine("t1: " + string.Join(" → ", funnel.Stages.Select(s => $"{s.Customers:N0}")));

        // The view's insert cost: the same generated inserts into a database with it and into one without it.
        var (withView, withoutView) = await TimeViewCostAsync(url, customers, topics, start.ToUnixTimeSeconds(), days * 86400);
        Console.WriteLine($"{ViewCostRows:N0} events inserted with the view in {withView:F0} ms, without it in {withoutView:F0} ms");

        var output = values.GetValueOrDefault("output", "benchmarks/results");
        Directory.CreateDirectory(output);
        await File.WriteAllLinesAsync(Path.Combine(output, "funnel.csv"),
            ["query,median_ms,min_ms", .. results.Select(r => string.Create(CultureInfo.InvariantCulture, $"\"{r.What}\",{r.MedianMs:F0},{r.MinMs:F0}"))]);
        var summary = new Dictionary<string, object>
        {
            ["events"] = events,
            ["customers"] = customers,
            ["topics"] = topics,
            ["days"] = days,
            ["runs"] = runs,
            ["generatedRowsPerSecond"] = Math.Round(generatedPerSecond),
            ["funnelCustomersPerStage"] = string.Join('/', funnel.Stages.Select(s => s.Customers)),
            ["compactRowsUnmerged"] = unmerged.Rows,
            ["compactPartsUnmerged"] = unmerged.Parts,
            ["compactRows"] = compact.Rows,
            ["compactBytes"] = compact.Bytes,
            ["compactMergeMs"] = Math.Round(mergeMs),
            ["eventRows"] = raw.Rows,
            ["eventBytes"] = raw.Bytes,
            ["viewCostRows"] = ViewCostRows,
            ["insertWithViewMs"] = Math.Round(withView),
            ["insertWithoutViewMs"] = Math.Round(withoutView),
        };
        await File.WriteAllTextAsync(Path.Combine(output, "funnel.json"), System.Text.Json.JsonSerializer.Serialize(summary, LoadDriverJsonContext.Default.DictionaryStringObject));
        return 0;
    }

    private const long ViewCostRows = 3 * ChunkRows;

    /// <summary>
    /// Milliseconds to insert the first <see cref="ViewCostRows"/> generated events into a fresh archive with
    /// the compact table's view and into one without it, a chunk to each in turn (the machine's noise falls on both).
    /// </summary>
    private static async Task<(double WithView, double WithoutView)> TimeViewCostAsync(string url, long customers, int topics, long start, long span)
    {
        var with = new ArchiveClient(new ClickHouseOptions { Url = url, Database = Database + "_view" });
        var without = new ArchiveClient(new ClickHouseOptions { Url = url, Database = Database + "_noview" });
        foreach (var archive in new[] { with, without })
        {
            await archive.ExecuteAsync("drop database", $"DROP DATABASE IF EXISTS {archive.Database}", CancellationToken.None);
            await ArchiveSchema.EnsureAsync(archive, CancellationToken.None);
        }

        await SyntheticArchive.DropDialogueStagesViewAsync(without, CancellationToken.None);
        var times = new double[2];
        for (long first = 0; first < ViewCostRows; first += ChunkRows)
        {
            for (var i = 0; i < 2; i++)
            {
                var watch = Stopwatch.StartNew();
                await SyntheticArchive.GenerateEventsAsync(i == 0 ? with : without, first, ChunkRows, customers, topics, start, span, CancellationToken.None);
                times[i] += watch.Elapsed.TotalMilliseconds;
            }
        }

        foreach (var archive in new[] { with, without })
        {
            await archive.ExecuteAsync("drop database", $"DROP DATABASE IF EXISTS {archive.Database}", CancellationToken.None);
            archive.Dispose();
        }

        return (times[0], times[1]);
    }
}
