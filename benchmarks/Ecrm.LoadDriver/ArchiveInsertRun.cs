using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.DialogueEngine;
using Ecrm.DialogueEngine.Archive;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.LoadDriver.Traffic;

namespace Ecrm.LoadDriver;

/// <summary>
/// archive-insert: the archive's write path, as the archive consumer runs it: generated events matched to
/// topics, encoded by <see cref="ArchiveBatch"/> in inserts of 20,000 rows (<c>Engine:ArchiveMaxBatchRows</c>), two in
/// flight (<c>Engine:ArchiveInsertsInFlight</c>: the next batch is built and encoded while the previous one is written),
/// and sent in RowBinary over HTTP (ClickHouse.Driver), timed after one untimed warm-up insert. The same rows are then exported to ROWS_FILE, so clickhouse-client can insert
/// exactly them as the reference. Writes archive-insert.json.
/// </summary>
internal static class ArchiveInsertRun
{
    public const string Usage =
        "       Ecrm.LoadDriver archive-insert --clickhouse URL --catalog FILE --rows-file FILE [--events 200000] [--database archive_bench] [--rows-per-insert N] [--in-flight N] [--output DIR]";

    // The archive consumer's defaults (Engine:ArchiveMaxBatchRows, Engine:ArchiveInsertsInFlight).
    private static readonly int RowsPerInsert = new EngineOptions().ArchiveMaxBatchRows;
    private static readonly int InsertsInFlight = new EngineOptions().ArchiveInsertsInFlight;

    public static async Task<int> RunAsync(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        if (!values.TryGetValue("clickhouse", out var url) || !values.TryGetValue("catalog", out var catalogFile) || !values.TryGetValue("rows-file", out var rowsFile))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var events = int.Parse(values.GetValueOrDefault("events", "200000"), CultureInfo.InvariantCulture);
        var catalog = TopicCatalog.Parse(await File.ReadAllBytesAsync(catalogFile)).Catalog ?? throw new InvalidOperationException($"catalog {catalogFile} is invalid");
        var matcher = new TopicMatcher(catalog.WithVersion(1));
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        var clickHouse = new ArchiveClient(new ClickHouseOptions { Url = url, Database = values.GetValueOrDefault("database", "archive_bench") });
        await clickHouse.ExecuteAsync("drop database", $"DROP DATABASE IF EXISTS {clickHouse.Database}", CancellationToken.None);
        await ArchiveSchema.EnsureAsync(clickHouse, CancellationToken.None);

        // Events as the archive consumer reads them off Kafka: stamped envelopes and their bytes.
        var generator = new TrafficGenerator(catalog, 42, TimeSpan.FromDays(30));
        var now = DateTimeOffset.UtcNow;
        var work = new List<(EventEnvelope Item, byte[] Payload, List<TopicStage> Matches)>(events + 64);
        for (var customer = 1; work.Count < events; customer++)
        {
            foreach (var item in generator.Journey(customer, now))
            {
                item.Timestamp = item.OriginalTimestamp ?? now;
                item.ReceivedAt = now;
                var matches = new List<TopicStage>();
                matcher.Match(item, matches);
                work.Add((item, JsonSerializer.SerializeToUtf8Bytes(item, EcrmJsonContext.Default.EventEnvelope), matches));
            }
        }

        // The archive consumer is a long-running process: one untimed insert into a scratch database first, so
        // the figure is its steady state (JIT, the first connection), as clickhouse-client's is a native binary's.
        using (var warmUp = new ArchiveClient(new ClickHouseOptions { Url = url, Database = clickHouse.Database + "_warmup" }))
        {
            await ArchiveSchema.EnsureAsync(warmUp, CancellationToken.None);
            using var batch = new ArchiveBatch(DateTimeOffset.UtcNow);
            foreach (var (item, payload, matches) in work.Take(RowsPerInsert))
            {
                batch.AddEvent(item, payload, matches, 0, 0);
            }

            await batch.WriteAsync(warmUp, CancellationToken.None);
            await warmUp.ExecuteAsync("drop database", $"DROP DATABASE {warmUp.Database}", CancellationToken.None);
        }

        var rowsPerInsert = values.TryGetValue("rows-per-insert", out var rowsText) ? int.Parse(rowsText, CultureInfo.InvariantCulture) : RowsPerInsert;
        var inFlight = values.TryGetValue("in-flight", out var inFlightText) ? int.Parse(inFlightText, CultureInfo.InvariantCulture) : InsertsInFlight;
        Console.WriteLine($"encoding and inserting {work.Count:N0} events in inserts of {rowsPerInsert:N0} rows, {inFlight} at a time");
        var progress = new ConsoleProgress(work.Count, "rows");
        var clock = Stopwatch.StartNew();
        var writing = new Queue<(Task Write, ArchiveBatch Batch, int Rows)>();
        foreach (var chunk in work.Chunk(rowsPerInsert))
        {
            var batch = new ArchiveBatch(DateTimeOffset.UtcNow);
            for (var i = 0; i < chunk.Length; i++)
            {
                batch.AddEvent(chunk[i].Item, chunk[i].Payload, chunk[i].Matches, 0, i);
            }

            if (writing.Count == inFlight)
            {
                var done = writing.Dequeue();
                await done.Write;
                done.Batch.Dispose();
                progress.Add(done.Rows);
            }

            writing.Enqueue((Task.Run(() => batch.WriteAsync(clickHouse, CancellationToken.None)), batch, chunk.Length));
        }

        while (writing.TryDequeue(out var done))
        {
            await done.Write;
            done.Batch.Dispose();
            progress.Add(done.Rows);
        }

        var seconds = clock.Elapsed.TotalSeconds;
        progress.Finish();

        await using (var rows = File.CreateText(rowsFile))
        {
            await foreach (var line in clickHouse.QueryLinesAsync("export rows", $"SELECT * FROM {clickHouse.Database}.{ArchiveSchema.Events} FORMAT JSONEachRow", CancellationToken.None))
            {
                await rows.WriteLineAsync(line);
            }
        }

        var summary = new Dictionary<string, object>
        {
            ["events"] = work.Count,
            ["rowsPerInsert"] = RowsPerInsert,
            ["seconds"] = Math.Round(seconds, 2),
            ["rowsPerSecond"] = Math.Round(work.Count / seconds),
            ["meanPayloadBytes"] = work.Sum(w => (long)w.Payload.Length) / work.Count,
        };
        var output = values.GetValueOrDefault("output", "benchmarks/results");
        Directory.CreateDirectory(output);
        await File.WriteAllTextAsync(Path.Combine(output, "archive-insert.json"), JsonSerializer.Serialize(summary, LoadDriverJsonContext.Default.DictionaryStringObject));
        Console.WriteLine(string.Join("  ", summary.Select(kv => $"{kv.Key}={kv.Value}")));
        return 0;
    }
}
