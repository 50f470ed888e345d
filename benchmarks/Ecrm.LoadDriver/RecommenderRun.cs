using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Catalog;
using Ecrm.Common.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Ecrm.LoadDriver;

/// <summary>
/// The recommender's benchmark commands:
/// <c>rate</c> sends GETs at a fixed rate (open loop: request i is due at i / rate seconds, and its
/// latency counts from then, so a slow server cannot hide its queueing), cycling through a file of paths;
/// <c>archive</c> writes a <c>user item weight timestamp</c> file into a ClickHouse archive as events,
/// for the <c>train</c> command; <c>publish-topics</c> publishes a topic catalog into Redis as the engine does.
/// </summary>
internal static class RecommenderRun
{
    public const string Usage =
        "       Ecrm.LoadDriver rate --url BASE --paths FILE --rate 2000 --seconds 20 [--key API_KEY] [--connections 64] [--name NAME] [--output DIR]\n" +
        "       Ecrm.LoadDriver serve-empty --url http://127.0.0.1:PORT   (answers every request 200 with an empty body: the reference endpoint)\n" +
        "       Ecrm.LoadDriver archive --clickhouse URL --database DB --interactions FILE [--catalog TOPIC_CATALOG]\n" +
        "       Ecrm.LoadDriver publish-topics --redis HOST:PORT --catalog FILE";

    public static bool Handles(string[] args) => args is ["rate" or "archive" or "publish-topics" or "serve-empty", ..];

    public static async Task<int> RunAsync(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        return args[0] switch
        {
            "rate" => await RateAsync(values),
            "archive" => await ArchiveAsync(values),
            "serve-empty" => await ServeEmptyAsync(values),
            _ => await PublishTopicsAsync(values),
        };
    }

    private static async Task<int> RateAsync(Dictionary<string, string> values)
    {
        var paths = (await File.ReadAllLinesAsync(values["paths"])).Where(p => p.Length > 0).ToArray();
        var rate = int.Parse(values.GetValueOrDefault("rate", "2000"), CultureInfo.InvariantCulture);
        var seconds = int.Parse(values.GetValueOrDefault("seconds", "20"), CultureInfo.InvariantCulture);
        var connections = int.Parse(values.GetValueOrDefault("connections", "64"), CultureInfo.InvariantCulture);
        var name = values.GetValueOrDefault("name", "rate");
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
        {
            BaseAddress = new Uri(values["url"]),
            Timeout = TimeSpan.FromSeconds(30),
        };
        if (values.TryGetValue("key", out var key))
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        // A second of warm-up (JIT, connections), not counted.
        await SendForAsync(http, paths, rate, 1, null);
        var total = rate * seconds;
        var latencies = new double[total];
        var clock = Stopwatch.StartNew();
        var failures = await SendForAsync(http, paths, rate, seconds, latencies);
        var elapsed = clock.Elapsed.TotalSeconds;
        Array.Sort(latencies);
        double At(double quantile) => Percentiles.NearestRank(latencies, quantile);
        var summary = new Dictionary<string, object>
        {
            ["name"] = name,
            ["rate"] = rate,
            ["seconds"] = seconds,
            ["requests"] = total,
            ["failures"] = failures,
            ["achievedPerSecond"] = Math.Round(total / elapsed),
            ["p50Ms"] = Math.Round(At(0.50), 3),
            ["p90Ms"] = Math.Round(At(0.90), 3),
            ["p99Ms"] = Math.Round(At(0.99), 3),
            ["p999Ms"] = Math.Round(At(0.999), 3),
            ["maxMs"] = Math.Round(latencies[^1], 3),
        };
        var json = JsonSerializer.Serialize(summary);
        Console.WriteLine(json);
        var output = values.GetValueOrDefault("output", "benchmarks/results");
        Directory.CreateDirectory(output);
        await File.WriteAllTextAsync(Path.Combine(output, $"{name}.json"), json);
        return failures == 0 ? 0 : 1;
    }

    /// <summary>
    /// Starts request i at i / rate seconds from now, never waiting for earlier ones; returns the failures.
    /// A dedicated thread sleeps with microsecond precision until each request is due and starts it
    /// there: a 1 ms timer (Task.Delay) released requests in clumps up to a millisecond late, and
    /// handing each to the thread pool queued them behind the responses, which made the driver's own
    /// floor most of the 5 ms being measured.
    /// </summary>
    private static async Task<long> SendForAsync(HttpClient http, string[] paths, int rate, int seconds, double[]? latencies)
    {
        var total = rate * seconds;
        var failures = 0L;
        var inFlight = new Task[total];
        var clock = Stopwatch.StartNew();
        var ticksPerRequest = (double)Stopwatch.Frequency / rate;

        async Task SendAsync(int index, long dueTicks)
        {
            try
            {
                using var response = await http.GetAsync(paths[index % paths.Length], HttpCompletionOption.ResponseContentRead);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref failures);
                }
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref failures);
            }

            if (latencies is not null)
            {
                latencies[index] = (clock.ElapsedTicks - dueTicks) * 1000.0 / Stopwatch.Frequency;
            }
        }

        var pacer = new Thread(() =>
        {
            for (var i = 0; i < total; i++)
            {
                var due = (long)(i * ticksPerRequest);
                var wait = due - clock.ElapsedTicks;
                if (wait > 0)
                {
                    PreciseSleep.For(wait * 1_000_000 / Stopwatch.Frequency);
                }

                inFlight[i] = SendAsync(i, due);
            }
        })
        { IsBackground = true, Name = "pacer", Priority = ThreadPriority.AboveNormal };
        pacer.Start();
        await Task.Run(pacer.Join);
        await Task.WhenAll(inFlight);
        return failures;
    }

    /// <summary>
    /// An empty Kestrel endpoint: every request gets 200 and no body. The reference for HTTP latency
    /// figures: what the driver, the HTTP stack and the shared cores cost without any work.
    /// </summary>
    private static async Task<int> ServeEmptyAsync(Dictionary<string, string> values)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(values["url"]);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Run(context =>
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            return Task.CompletedTask;
        });
        Console.WriteLine($"serving empty responses on {values["url"]}");
        await app.RunAsync();
        return 0;
    }

    private static async Task<int> ArchiveAsync(Dictionary<string, string> values)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
        var clickHouse = new ArchiveClient(new ClickHouseOptions { Url = values["clickhouse"], Database = values.GetValueOrDefault("database", "ecrm") });
        await ArchiveSchema.EnsureAsync(clickHouse, CancellationToken.None);
        string[]? topics = null;
        if (values.TryGetValue("catalog", out var catalogFile))
        {
            topics = [.. TopicCatalog.Parse(await File.ReadAllBytesAsync(catalogFile)).Catalog!.Topics.Select(t => t.Id)];
        }

        var rows = new StringBuilder();
        var count = 0;
        foreach (var line in File.ReadLines(values["interactions"]))
        {
            var fields = line.Split(['\t', ',', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 4)
            {
                continue;
            }

            // With a catalog, items fold onto its topics (numeric ids modulo the topic count), so a model serves its content.
            var item = topics is null ? fields[1] : topics[(int.TryParse(fields[1], out var number) ? number : fields[1].Sum(c => c)) % topics.Length];
            var seconds = long.Parse(fields[3], CultureInfo.InvariantCulture);
            var stage = Math.Clamp((int)Math.Round(double.Parse(fields[2], CultureInfo.InvariantCulture)), 1, 20);
            rows.Append(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["message_id"] = $"bench-{count}",
                ["customer_key"] = fields[0],
                ["type"] = "page",
                ["channel"] = "web",
                ["timestamp"] = seconds,
                ["timestamp_ms"] = seconds * 1000,
                ["received_at"] = seconds,
                ["received_at_ms"] = seconds * 1000,
                ["topics"] = new[] { item },
                ["stages"] = new[] { stage },
                ["payload"] = "{}",
                ["archived_at_ms"] = 1,
            })).Append('\n');
            if (++count % 50_000 == 0)
            {
                await clickHouse.InsertJsonEachRowAsync(ArchiveSchema.Events, Encoding.UTF8.GetBytes(rows.ToString()), CancellationToken.None);
                rows.Clear();
            }
        }

        if (rows.Length > 0)
        {
            await clickHouse.InsertJsonEachRowAsync(ArchiveSchema.Events, Encoding.UTF8.GetBytes(rows.ToString()), CancellationToken.None);
        }

        Console.WriteLine($"archived {count:N0} interactions as events in {clickHouse.Database}.{ArchiveSchema.Events}");
        return 0;
    }

    private static async Task<int> PublishTopicsAsync(Dictionary<string, string> values)
    {
        using var redis = RedisConnection.Connect(values["redis"]);
        var version = await new VersionedDocuments(redis).PublishAsync(TopicCatalog.DocumentName, await File.ReadAllTextAsync(values["catalog"]));
        Console.WriteLine($"published topic catalog version {version}");
        return 0;
    }
}
