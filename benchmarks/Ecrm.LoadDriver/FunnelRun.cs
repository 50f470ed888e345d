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

        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
        var clickHouse = new ArchiveClient(new ClickHouseOptions { Url = url, Database = Database });
        await clickHouse.ExecuteAsync("drop database", $"DROP DATABASE IF EXISTS {Database}", CancellationToken.None);
        await ArchiveSchema.EnsureAsync(clickHouse, CancellationToken.None);
        // The compact dialogue tables are filled once after generating, as for an archive that had events before
        // they existed (ArchiveSchema's backfill): their views over each generated chunk would make filling 4 times slower.
        await ArchiveSchema.DropCompactTablesAsync(clickHouse, CancellationToken.None);

        var end = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero);
        var start = end.AddDays(-days);
        Console.WriteLine($"generating {events:N0} events of {customers:N0} customers in {topics} topics over {days} days");
        var progress = new ConsoleProgress(events, "events");
        var generating = Stopwatch.StartNew();
        for (long first = 0; first < events; first += ChunkRows)
        {
            var rows = Math.Min(ChunkRows, events - first);
            await clickHouse.ExecuteAsync("generate events", GenerateEventsSql(first, rows, customers, topics, start.ToUnixTimeSeconds(), days * 86400), CancellationToken.None);
            progress.Add(rows);
        }

        progress.Finish();
        var generatedPerSecond = events / generating.Elapsed.TotalSeconds;
        var backfilling = Stopwatch.StartNew();
        await ArchiveSchema.EnsureAsync(clickHouse, CancellationToken.None);
        var backfillSeconds = backfilling.Elapsed.TotalSeconds;
        Console.WriteLine($"compact dialogue tables filled from the events in {backfillSeconds:F1} s");
        var sizes = await ArchiveSchema.TableSizesAsync(clickHouse, CancellationToken.None);
        foreach (var (table, (rows, bytes)) in sizes)
        {
            Console.WriteLine($"{table,-26} {rows,14:N0} rows {bytes / 1048576.0,10:F1} MiB compressed");
        }

        // One customer in ten also browsed as an anonymous visitor ("a<n>") before logging in as "c<n>".
        await clickHouse.ExecuteAsync(
            "generate links",
            $"INSERT INTO {Database}.{ArchiveSchema.IdentityLinks} (linked_id, customer_key, message_id, timestamp, archived_at_ms) " +
            $"SELECT concat('a', toString(number * 10)), concat('c', toString(number * 10)), toString(number), toDateTime({start.ToUnixTimeSeconds()}), 0 FROM numbers({customers / 10})",
            CancellationToken.None);

        var catalog = TopicCatalog.Parse(
            "{\"topics\":[" + string.Join(',', Enumerable.Range(0, topics).Select(t => $"{{\"id\":\"t{t}\",\"rules\":[{{\"match\":{{\"path\":\"/t{t}\"}},\"stage\":1}}]}}")) + "]}").Catalog!;
        var queries = new FunnelQueries(clickHouse);
        var request = new FunnelRequest(start, end.AddDays(1), null, null, FunnelOrder.Dialogue, BreakdownKind.None, null, null);
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
            Console.WriteLine($"{what,-62} median {timings[timings.Count / 2],8:F0} ms   min {timings[0],8:F0} ms");
            results.Add((what, timings[timings.Count / 2], timings[0]));
        }

        var count = await clickHouse.QueryAsync($"SELECT count() FROM {Database}.{ArchiveSchema.Events} FORMAT TSV", CancellationToken.None);
        Console.WriteLine($"{count.Trim()} events archived; timing {runs} runs each after one warm-up");
        await TimeAsync("reference: SELECT count() WHERE has(topics, 't1')",
            () => clickHouse.QueryAsync($"SELECT count() FROM {Database}.{ArchiveSchema.Events} WHERE has(topics, 't1') FORMAT TSV", CancellationToken.None));
        await TimeAsync("reference: SELECT uniqExact(customer_key) of all events",
            () => clickHouse.QueryAsync($"SELECT uniqExact(customer_key) FROM {Database}.{ArchiveSchema.Events} FORMAT TSV", CancellationToken.None));
        await TimeAsync("4-stage funnel of one topic (dialogue order, identity-resolved)",
            () => queries.ReadAsync(catalog, "t1", request, null, CancellationToken.None));
        await TimeAsync("4-stage funnel of one topic, 7-day window",
            () => queries.ReadAsync(catalog, "t1", request with { Window = TimeSpan.FromDays(7) }, null, CancellationToken.None));
        await TimeAsync("4-stage funnel of one topic, strict order (windowFunnel)",
            () => queries.ReadAsync(catalog, "t1", request with { Order = FunnelOrder.Strict }, null, CancellationToken.None));
        await TimeAsync("4-stage funnel of one topic, broken down by first channel",
            () => queries.ReadAsync(catalog, "t1", request with { Breakdown = BreakdownKind.FirstChannel }, null, CancellationToken.None));
        await TimeAsync($"every topic's funnel at once ({topics} topics), grouping every dialogue (no snapshot)",
            () => queries.ReadAsync(catalog, null, request, null, CancellationToken.None));

        // The engine takes the overview's snapshot in the background (Engine:OverviewSnapshotMinutes); rows written
        // within DialogueSummary.DefaultInsertMargin before it count as changed, so it is taken once the backfill is that old.
        var sinceBackfill = backfilling.Elapsed - TimeSpan.FromSeconds(backfillSeconds);
        var wait = DialogueSummary.DefaultInsertMargin + TimeSpan.FromSeconds(1) - sinceBackfill;
        if (wait > TimeSpan.Zero)
        {
            Console.WriteLine($"waiting {wait.TotalSeconds:F0} s for the backfilled rows to be older than the snapshot's margin");
            await Task.Delay(wait);
        }

        var snapshotting = Stopwatch.StartNew();
        await DialogueSummary.BuildAsync(clickHouse, CancellationToken.None);
        var snapshotSeconds = snapshotting.Elapsed.TotalSeconds;
        Console.WriteLine($"overview snapshot taken in {snapshotSeconds:F1} s");
        await TimeAsync($"every topic's funnel at once ({topics} topics)",
            () => queries.ReadAsync(catalog, null, request, null, CancellationToken.None));
        // Live traffic after the snapshot: its customers are grouped again at each overview.
        const int LiveEvents = 20_000;
        await clickHouse.ExecuteAsync("generate events", GenerateEventsSql(events, LiveEvents, customers, topics, start.ToUnixTimeSeconds(), days * 86400), CancellationToken.None);
        await TimeAsync($"every topic's funnel at once, {LiveEvents:N0} events written since the snapshot",
            () => queries.ReadAsync(catalog, null, request, null, CancellationToken.None));
        var funnel = (await queries.ReadAsync(catalog, "t1", request, null, CancellationToken.None))[0];
        Console.WriteLine("t1: " + string.Join(" → ", funnel.Stages.Select(s => $"{s.Customers:N0}")));

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
            ["backfillSeconds"] = Math.Round(backfillSeconds, 1),
            ["snapshotSeconds"] = Math.Round(snapshotSeconds, 1),
            ["eventRows"] = sizes[ArchiveSchema.Events].Rows,
            ["eventBytes"] = sizes[ArchiveSchema.Events].Bytes,
            ["dialogueStagesRows"] = sizes[ArchiveSchema.DialogueStages].Rows,
            ["dialogueStagesBytes"] = sizes[ArchiveSchema.DialogueStages].Bytes,
            ["dialogueChannelStagesRows"] = sizes[ArchiveSchema.DialogueChannelStages].Rows,
            ["dialogueChannelStagesBytes"] = sizes[ArchiveSchema.DialogueChannelStages].Bytes,
        };
        await File.WriteAllTextAsync(Path.Combine(output, "funnel.json"), System.Text.Json.JsonSerializer.Serialize(summary, LoadDriverJsonContext.Default.DictionaryStringObject));
        return 0;
    }

    /// <summary>
    /// Events of <paramref name="rows"/> numbers: each customer keeps to about three neighbouring
    /// topics, stages thin out (55 % awareness, 25 % interest, 13 % consideration, 7 % purchase),
    /// times spread evenly over the range, and one customer in ten sent half their events anonymously.
    /// </summary>
    private static string GenerateEventsSql(long first, long rows, long customers, int topics, long start, long span) =>
        $"""
        INSERT INTO {Database}.{ArchiveSchema.Events}
            (message_id, customer_key, anonymous_id, user_id, type, event, channel, timestamp, timestamp_ms, received_at, received_at_ms,
             kafka_partition, kafka_offset, topics, stages, payload, archived_at_ms)
        SELECT toString(n) AS message_id,
               if(c % 10 = 0 AND intHash32(n * 3) % 2 = 0, concat('a', toString(c)), concat('c', toString(c))) AS customer_key,
               '', '', 'page', '', ['web', 'email', 'mobile'][intHash32(n * 17) % 3 + 1],
               toDateTime(ts), ts * 1000, toDateTime(ts), ts * 1000, 0, n,
               [concat('t', toString((c % {topics} + intHash32(n * 5) % 3) % {topics}))],
               [toUInt8(multiIf(r < 55, 1, r < 80, 2, r < 93, 3, 4))],
               '', 0
        FROM (
            SELECT number AS n, intHash32(number) % {customers} AS c, {start} + intHash32(number * 31) % {span} AS ts, intHash32(number * 13) % 100 AS r
            FROM numbers({first}, {rows})
        )
        """;
}
