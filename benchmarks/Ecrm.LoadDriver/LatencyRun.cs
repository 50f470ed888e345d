using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Catalog;
using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using StackExchange.Redis;

namespace Ecrm.LoadDriver;

/// <summary>
/// latency: at a steady rate, new visitors each open a topic's intro page. For every one it measures
/// the collector's acknowledgement, then how long after the acknowledgement the stage is visible in
/// Redis and the recommender's answer has changed to that topic's next step; meanwhile it samples
/// CPU and memory of the given processes. Writes a per-second CSV, a JSON summary and gnuplot charts.
/// </summary>
internal static class LatencyRun
{
    public const string Usage =
        "usage: Ecrm.LoadDriver latency --collector URL --write-key KEY --recommender URL --api-key KEY --redis HOST:PORT --catalog FILE\n" +
        "       [--rate 100] [--seconds 30] [--output DIR] [--pids collector=PID,dialogue-engine=PID,recommender=PID]";

    private static readonly TimeSpan GiveUp = TimeSpan.FromSeconds(10);

    private sealed record Sample(int Second, double AckMs, double VisibleMs, double RecommendedMs, double RecommenderCallMs);

    public static async Task<int> RunAsync(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        string[] required = ["collector", "write-key", "recommender", "api-key", "redis", "catalog"];
        if (required.Any(r => !values.ContainsKey(r)))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var rate = int.Parse(values.GetValueOrDefault("rate", "100"), CultureInfo.InvariantCulture);
        var seconds = int.Parse(values.GetValueOrDefault("seconds", "30"), CultureInfo.InvariantCulture);
        var output = values.GetValueOrDefault("output", "benchmarks/results");
        var pids = values.GetValueOrDefault("pids", "").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=')).ToDictionary(p => p[0], p => int.Parse(p[1], CultureInfo.InvariantCulture));
        var catalog = TopicCatalog.Parse(await File.ReadAllBytesAsync(values["catalog"])).Catalog ?? throw new InvalidOperationException("the catalog is invalid");
        // Each topic's plain intro page (a web path rule of stage 1 without wildcards).
        var intros = catalog.Topics
            .SelectMany(t => t.Rules.Where(r => r.Stage == 1 && r.Path is { } p && !p.Contains('*') && !p.Contains('?')).Select(r => (Topic: t.Id, Path: r.Path!)))
            .GroupBy(i => i.Topic).Select(g => g.First()).ToArray();
        if (intros.Length == 0)
        {
            throw new InvalidOperationException("the catalog has no plain stage-1 web path to open");
        }

        using var redis = RedisConnection.Connect(values["redis"]);
        using var collector = Client(values["collector"], new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(values["write-key"] + ":"))));
        using var recommender = Client(values["recommender"], new AuthenticationHeaderValue("Bearer", values["api-key"]));
        var run = Guid.NewGuid().ToString("N")[..8];
        var samples = new List<Sample>();
        var failures = 0;
        var resources = new List<(int Second, string Process, double CpuPercent, double RssMb)>();
        var clock = Stopwatch.StartNew();
        var progress = new ConsoleProgress((long)rate * seconds, "visitors");
        using var sampler = StartResourceSampler(pids, clock, resources);

        var visitors = new List<Task>();
        for (var i = 0; i < rate * seconds; i++)
        {
            // Open-loop: each visitor starts on schedule, whatever the previous ones are doing.
            var due = TimeSpan.FromSeconds((double)i / rate);
            if (due > clock.Elapsed)
            {
                await Task.Delay(due - clock.Elapsed);
            }

            var (topic, path) = intros[i % intros.Length];
            var customer = $"lat-{run}-{i}";
            visitors.Add(Task.Run(async () =>
            {
                var sample = await VisitAsync(collector, recommender, redis.GetDatabase(), customer, topic, path, clock);
                lock (samples)
                {
                    if (sample is null)
                    {
                        failures++;
                    }
                    else
                    {
                        samples.Add(sample);
                    }
                }

                progress.Add(1);
            }));
        }

        await Task.WhenAll(visitors);
        progress.Finish();
        Directory.CreateDirectory(output);
        return await ReportAsync(samples, failures, resources, pids.Keys.ToList(), rate, seconds, output);
    }

    private static async Task<Sample?> VisitAsync(HttpClient collector, HttpClient recommender, IDatabase redis, string customer, string topic, string path, Stopwatch clock)
    {
        var body = "{\"batch\":[{\"type\":\"page\",\"anonymousId\":\"" + customer + "\",\"messageId\":\"" + Guid.NewGuid() + "\",\"channel\":\"web\",\"context\":{\"page\":{\"path\":\"" + path + "\"}}}]}";
        var second = (int)clock.Elapsed.TotalSeconds;
        var sent = clock.Elapsed;
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await collector.PostAsync("v1/batch", content);
        var acked = clock.Elapsed;
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }

        // Visible in Redis: the dialogue hash has its stage.
        var key = RedisKeys.Dialogue(customer, topic);
        TimeSpan? visible = null;
        while (clock.Elapsed - acked < GiveUp)
        {
            if ((await redis.HashGetAsync(key, DialogueFields.Stage)).HasValue)
            {
                visible = clock.Elapsed;
                break;
            }

            await Task.Delay(1);
        }

        // Reflected by the recommender: the answer leads with the topic's next step.
        TimeSpan? recommended = null;
        var callMs = 0.0;
        while (visible is not null && clock.Elapsed - acked < GiveUp)
        {
            var before = clock.Elapsed;
            var answer = await recommender.GetStringAsync($"v1/recommendations/{customer}?n=3");
            callMs = (clock.Elapsed - before).TotalMilliseconds;
            using var document = JsonDocument.Parse(answer);
            if (document.RootElement.GetProperty("items").EnumerateArray().Any(item => item.GetProperty("topic").GetString() == topic && item.GetProperty("stage").GetInt32() == 2))
            {
                recommended = clock.Elapsed;
                break;
            }

            await Task.Delay(1);
        }

        return visible is null || recommended is null
            ? null
            : new Sample(second, (acked - sent).TotalMilliseconds, (visible.Value - acked).TotalMilliseconds, (recommended.Value - acked).TotalMilliseconds, callMs);
    }

    /// <summary>CPU (user + system, % of one core) and resident memory of each process, once a second, from /proc.</summary>
    private static Timer StartResourceSampler(Dictionary<string, int> pids, Stopwatch clock, List<(int, string, double, double)> resources)
    {
        var last = pids.ToDictionary(p => p.Key, p => (Ticks: CpuTicks(p.Value), At: clock.Elapsed));
        return new Timer(_ =>
        {
            foreach (var (name, pid) in pids)
            {
                var ticks = CpuTicks(pid);
                var now = clock.Elapsed;
                var (previousTicks, previousAt) = last[name];
                var cpu = (ticks - previousTicks) / 100.0 / (now - previousAt).TotalSeconds * 100;
                last[name] = (ticks, now);
                lock (resources)
                {
                    resources.Add(((int)now.TotalSeconds, name, cpu, RssMb(pid)));
                }
            }
        }, null, 1000, 1000);
    }

    private static long CpuTicks(int pid)
    {
        // Fields 14 and 15 of /proc/<pid>/stat, after the parenthesised command name.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    private static double RssMb(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }

    private static async Task<int> ReportAsync(List<Sample> samples, int failures, List<(int Second, string Process, double Cpu, double Rss)> resources, List<string> processes, int rate, int seconds, string output)
    {
        static double P(IEnumerable<double> values, double q) => Percentiles.NearestRank(values.Order().ToArray(), q);

        var csv = new StringBuilder("second,visitors,ack_p50_ms,ack_p99_ms,visible_p50_ms,visible_p99_ms,recommended_p50_ms,recommended_p99_ms,recommender_call_p50_ms,recommender_call_p99_ms");
        foreach (var process in processes)
        {
            csv.Append(CultureInfo.InvariantCulture, $",{process}_cpu_percent,{process}_rss_mb");
        }

        csv.AppendLine();
        foreach (var group in samples.GroupBy(s => s.Second).OrderBy(g => g.Key))
        {
            csv.Append(CultureInfo.InvariantCulture,
                $"{group.Key},{group.Count()},{P(group.Select(s => s.AckMs), 0.5):F2},{P(group.Select(s => s.AckMs), 0.99):F2},{P(group.Select(s => s.VisibleMs), 0.5):F2},{P(group.Select(s => s.VisibleMs), 0.99):F2},{P(group.Select(s => s.RecommendedMs), 0.5):F2},{P(group.Select(s => s.RecommendedMs), 0.99):F2},{P(group.Select(s => s.RecommenderCallMs), 0.5):F2},{P(group.Select(s => s.RecommenderCallMs), 0.99):F2}");
            foreach (var process in processes)
            {
                var r = resources.Where(x => x.Process == process && x.Second == group.Key + 1).Select(x => (double?)x.Cpu).FirstOrDefault();
                var m = resources.Where(x => x.Process == process && x.Second == group.Key + 1).Select(x => (double?)x.Rss).FirstOrDefault();
                csv.Append(CultureInfo.InvariantCulture, $",{r?.ToString("F1", CultureInfo.InvariantCulture) ?? ""},{m?.ToString("F1", CultureInfo.InvariantCulture) ?? ""}");
            }

            csv.AppendLine();
        }

        await File.WriteAllTextAsync(Path.Combine(output, "latency.csv"), csv.ToString());
        var summary = new Dictionary<string, object>
        {
            ["ratePerSecond"] = rate,
            ["seconds"] = seconds,
            ["visitors"] = samples.Count,
            ["failures"] = failures,
            ["ackP50Ms"] = Math.Round(P(samples.Select(s => s.AckMs), 0.5), 2),
            ["ackP99Ms"] = Math.Round(P(samples.Select(s => s.AckMs), 0.99), 2),
            ["ackToRedisP50Ms"] = Math.Round(P(samples.Select(s => s.VisibleMs), 0.5), 2),
            ["ackToRedisP99Ms"] = Math.Round(P(samples.Select(s => s.VisibleMs), 0.99), 2),
            ["ackToRecommendationP50Ms"] = Math.Round(P(samples.Select(s => s.RecommendedMs), 0.5), 2),
            ["ackToRecommendationP99Ms"] = Math.Round(P(samples.Select(s => s.RecommendedMs), 0.99), 2),
            ["recommenderCallP50Ms"] = Math.Round(P(samples.Select(s => s.RecommenderCallMs), 0.5), 2),
            ["recommenderCallP99Ms"] = Math.Round(P(samples.Select(s => s.RecommenderCallMs), 0.99), 2),
        };
        foreach (var process in processes)
        {
            var mine = resources.Where(r => r.Process == process).ToList();
            summary[$"{process}CpuPercentMean"] = mine.Count == 0 ? 0 : Math.Round(mine.Average(r => r.Cpu), 1);
            summary[$"{process}RssMbMax"] = mine.Count == 0 ? 0 : Math.Round(mine.Max(r => r.Rss), 1);
        }

        await File.WriteAllTextAsync(Path.Combine(output, "latency.json"), JsonSerializer.Serialize(summary, LoadDriverJsonContext.Default.DictionaryStringObject));
        Console.WriteLine(string.Join("  ", summary.Select(kv => $"{kv.Key}={kv.Value}")));
        return failures == 0 ? 0 : 1;
    }

    private static HttpClient Client(string url, AuthenticationHeaderValue auth)
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = new Uri(url.EndsWith('/') ? url : url + "/"), Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = auth;
        return client;
    }
}
