using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Events;

namespace Ecrm.LoadDriver;

/// <summary>
/// Sends pre-serialized requests as fast as the collector acknowledges them, from a fixed number of
/// concurrent senders, for a fixed time. Only acknowledged (200) events count. Prints a line a second
/// and writes a per-second CSV and a JSON summary.
/// </summary>
internal static class LoadRun
{
    public static async Task<int> RunAsync(CommandLine options, List<EventEnvelope>[] journeys)
    {
        var events = journeys.SelectMany(j => j).ToList();
        var requests = BuildRequests(events, options);
        Console.WriteLine($"{requests.Count} request bodies of {(options.Single ? 1 : options.BatchSize)} events ready; {options.Concurrency} senders for {options.Seconds} s");

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.Concurrency, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
        {
            BaseAddress = options.Collector,
            Timeout = TimeSpan.FromSeconds(60),
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(options.WriteKey + ":")));

        var seconds = new SecondStats[options.Seconds + 1];
        for (var i = 0; i < seconds.Length; i++)
        {
            seconds[i] = new SecondStats();
        }

        var failures = 0L;
        var connectionErrors = 0L;
        var next = -1;
        var clock = Stopwatch.StartNew();
        var duration = TimeSpan.FromSeconds(options.Seconds);
        using var reporter = new Timer(_ => Report(seconds, (int)clock.Elapsed.TotalSeconds - 1), null, 1000, 1000);
        var senders = Enumerable.Range(0, options.Concurrency).Select(_ => Task.Run(async () =>
        {
            while (clock.Elapsed < duration)
            {
                var (path, body, count) = requests[(int)((uint)Interlocked.Increment(ref next) % (uint)requests.Count)];
                var started = clock.Elapsed;
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                HttpResponseMessage response;
                try
                {
                    response = await http.PostAsync(path, content);
                }
                catch (HttpRequestException)
                {
                    // Under overload the server may reset a connection (its accept backlog is full): a
                    // refusal the client sees, counted apart from the answers that were not 200.
                    Interlocked.Increment(ref connectionErrors);
                    continue;
                }

                using var answered = response;
                var latency = clock.Elapsed - started;
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref failures);
                    continue;
                }

                var second = Math.Min((int)started.TotalSeconds, options.Seconds);
                seconds[second].Add(count, latency.TotalMilliseconds);
            }
        })).ToArray();
        await Task.WhenAll(senders);
        var elapsed = clock.Elapsed.TotalSeconds;

        var all = seconds.SelectMany(s => s.Latencies).Order().ToArray();
        var acknowledged = seconds.Sum(s => s.Events);
        var summary = new Dictionary<string, object>
        {
            ["mode"] = options.Single ? "single" : $"batch-{options.BatchSize}",
            ["concurrency"] = options.Concurrency,
            ["seconds"] = Math.Round(elapsed, 2),
            ["acknowledgedEvents"] = acknowledged,
            ["eventsPerSecond"] = Math.Round(acknowledged / elapsed),
            ["requestsPerSecond"] = Math.Round(all.Length / elapsed),
            ["failedRequests"] = failures,
            ["connectionErrors"] = connectionErrors,
            ["ackLatencyMsP50"] = Percentile(all, 0.50),
            ["ackLatencyMsP99"] = Percentile(all, 0.99),
        };
        Directory.CreateDirectory(options.Output);
        // The same payloads, one per line, for the kcat reference run (kcat -l).
        await File.WriteAllLinesAsync(Path.Combine(options.Output, "events.ndjson"), events.Select(e => JsonSerializer.Serialize(e, EcrmJsonContext.Default.EventEnvelope)));
        var name = options.Single ? "collector-single" : $"collector-batch{options.BatchSize}";
        await File.WriteAllTextAsync(Path.Combine(options.Output, name + ".json"), JsonSerializer.Serialize(summary, LoadDriverJsonContext.Default.DictionaryStringObject));
        await File.WriteAllLinesAsync(Path.Combine(options.Output, name + ".csv"),
            ["second,events,requests,p50_ms,p99_ms", .. seconds.Take(options.Seconds).Select((s, i) => string.Create(CultureInfo.InvariantCulture, $"{i + 1},{s.Events},{s.Latencies.Count},{s.Percentile(0.5)},{s.Percentile(0.99)}"))]);
        Console.WriteLine(string.Join("  ", summary.Select(kv => $"{kv.Key}={kv.Value}")));
        return failures == 0 && connectionErrors == 0 ? 0 : 1;
    }

    private static List<(string Path, byte[] Body, int Count)> BuildRequests(List<EventEnvelope> events, CommandLine options)
    {
        if (options.Single)
        {
            return events.Select(e => ($"v1/{EventTypeNames.Of(e.Type!.Value)}", JsonSerializer.SerializeToUtf8Bytes(e, EcrmJsonContext.Default.EventEnvelope), 1)).ToList();
        }

        return events.Chunk(options.BatchSize)
            .Select(chunk => ("v1/batch", JsonSerializer.SerializeToUtf8Bytes(new EventBatch { Batch = [.. chunk], SentAt = DateTimeOffset.UtcNow }, EcrmJsonContext.Default.EventBatch), chunk.Length))
            .ToList();
    }

    private static void Report(SecondStats[] seconds, int second)
    {
        if (second >= 0 && second < seconds.Length)
        {
            var stats = seconds[second];
            Console.WriteLine($"t={second + 1,3}s  {stats.Events,8} events/s  {stats.Latencies.Count,6} req/s  p50 {stats.Percentile(0.5),7:F1} ms  p99 {stats.Percentile(0.99),7:F1} ms");
        }
    }

    private static double Percentile(double[] sorted, double q) => sorted.Length == 0 ? 0 : Math.Round(Percentiles.NearestRank(sorted, q), 2);

    private sealed class SecondStats
    {
        private readonly Lock _lock = new();

        public long Events { get; private set; }

        public List<double> Latencies { get; } = [];

        public void Add(int events, double latencyMs)
        {
            lock (_lock)
            {
                Events += events;
                Latencies.Add(latencyMs);
            }
        }

        public double Percentile(double q)
        {
            lock (_lock)
            {
                return LoadRun.Percentile([.. Latencies.Order()], q);
            }
        }
    }
}
