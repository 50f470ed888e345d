using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Ecrm.LoadDriver.Traffic;

namespace Ecrm.LoadDriver;

/// <summary>
/// scale: the folding consumer group's throughput with the given engine instances. Generated traffic is
/// stamped as the collector stamps it; a warm-up part is produced first and waited for (JIT, connections,
/// every partition assigned), then the measured part is produced to Kafka ahead of the engines (a bounded
/// backlog: the mock brokers keep only a few MB a partition), and the clock runs until the engines' <c>ecrm_engine_events_folded_total</c> counters, summed, say
/// every event is folded: the lag is back to 0. Writes NAME.json and a per-second NAME.csv.
/// </summary>
internal static class ScaleRun
{
    /// <summary>About 1.5 MB of events a partition: the mock brokers drop a partition's old segments beyond about 5 MB.</summary>
    private const int BacklogPerPartition = 3_000;

    public const string Usage =
        "       Ecrm.LoadDriver scale --kafka BOOTSTRAP --topic TOPIC --catalog FILE --engines URL[,URL...] [--pids PID[,PID...]] [--events 200000] [--warmup 5000] [--name NAME] [--output DIR]";

    public static async Task<int> RunAsync(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        if (!values.TryGetValue("kafka", out var kafka) || !values.TryGetValue("topic", out var topic)
            || !values.TryGetValue("catalog", out var catalogFile) || !values.TryGetValue("engines", out var engineList))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        int Int(string name, int fallback) => values.TryGetValue(name, out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;
        var (events, warmup) = (Int("events", 200_000), Int("warmup", 5_000));
        var name = values.GetValueOrDefault("name", "scale");
        var output = values.GetValueOrDefault("output", "benchmarks/results");
        var engines = engineList.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(u => new Uri(u.TrimEnd('/') + "/metrics")).ToArray();
        var catalog = TopicCatalog.Parse(await File.ReadAllBytesAsync(catalogFile)).Catalog ?? throw new InvalidOperationException($"catalog {catalogFile} is invalid");

        var run = Guid.NewGuid().ToString("N")[..6];
        var warm = Messages(catalog, warmup, $"warm{run}", seed: 7);
        var measured = Messages(catalog, events, $"s{run}", seed: 42);
        var cluster = new KafkaOptions { BootstrapServers = kafka };
        using var producer = KafkaClientFactory.CreateDurableProducer(cluster, tune: config => config.LingerMs = 5);
        using var admin = KafkaClientFactory.CreateAdminClient(cluster);
        var partitions = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics[0].Partitions.Count;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        Console.WriteLine($"{engines.Length} engine(s), {topic} with {partitions} partitions; warming up with {warm.Count:N0} events");
        var before = await FoldedAsync(http, engines);
        await ProduceAllAsync(producer, topic, warm);
        if (!await WaitForAsync(http, engines, before.Sum() + warm.Count, TimeSpan.FromMinutes(2)))
        {
            Console.Error.WriteLine("the engines did not fold the warm-up within 2 minutes");
            return 1;
        }

        var pids = values.TryGetValue("pids", out var pidList) ? pidList.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray() : [];
        var cpuBefore = pids.Sum(ProcessCpuSeconds);
        var start = await FoldedAsync(http, engines);
        // librdkafka's mock brokers keep only the last few MB of each partition and drop older segments (and
        // have crashed doing so), so the backlog is kept bounded instead of produced all at once: enough to
        // keep every engine busy the whole time, little enough for the brokers.
        var maxBacklog = BacklogPerPartition * partitions;
        Console.WriteLine($"producing {measured.Count:N0} events (backlog at most {maxBacklog:N0}) and timing until all are folded");
        var clock = Stopwatch.StartNew();
        var perSecond = new List<long>();
        var progress = new ConsoleProgress(measured.Count, "events folded");
        var produced = 0;
        var producing = Task.CompletedTask;
        long folded = 0;
        while (folded < measured.Count && clock.Elapsed < TimeSpan.FromMinutes(10))
        {
            folded = (await FoldedAsync(http, engines)).Sum() - start.Sum();
            progress.Add(folded - progress.Done);
            var second = (int)clock.Elapsed.TotalSeconds;
            while (perSecond.Count <= second)
            {
                perSecond.Add(perSecond.Count == 0 ? 0 : perSecond[^1]);
            }

            perSecond[second] = folded;
            if (produced < measured.Count && produced - folded < maxBacklog / 2 && producing.IsCompleted)
            {
                var next = measured.GetRange(produced, (int)Math.Min(measured.Count - produced, maxBacklog - (produced - folded)));
                produced += next.Count;
                producing = ProduceAllAsync(producer, topic, next);
            }

            await Task.Delay(20);
        }

        var seconds = clock.Elapsed.TotalSeconds;
        progress.Finish();
        await producing;
        var end = await FoldedAsync(http, engines);
        var cpuSeconds = pids.Sum(ProcessCpuSeconds) - cpuBefore;
        if (folded < measured.Count)
        {
            Console.Error.WriteLine($"only {folded:N0} of {measured.Count:N0} events folded within 10 minutes");
            return 1;
        }

        var summary = new Dictionary<string, object>
        {
            ["name"] = name,
            ["engines"] = engines.Length,
            ["partitions"] = partitions,
            ["events"] = measured.Count,
            ["meanEventBytes"] = measured.Sum(m => (long)m.Value.Length) / measured.Count,
            ["maxBacklog"] = maxBacklog,
            ["seconds"] = Math.Round(seconds, 2),
            ["foldedEventsPerSecond"] = Math.Round(measured.Count / seconds),
            ["foldedPerEngine"] = string.Join('/', end.Zip(start, (e, s) => e - s)),
            // The engines' own CPU (user + system, from /proc) over the measured part, per event folded: 0 without --pids.
            ["engineCpuMicrosecondsPerEvent"] = Math.Round(cpuSeconds * 1e6 / measured.Count, 1),
        };
        Directory.CreateDirectory(output);
        await File.WriteAllTextAsync(Path.Combine(output, name + ".json"), JsonSerializer.Serialize(summary, LoadDriverJsonContext.Default.DictionaryStringObject));
        var csv = new StringBuilder("second,folded_total,folded_in_second\n");
        for (var s = 1; s < perSecond.Count; s++)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{s},{perSecond[s]},{perSecond[s] - perSecond[s - 1]}\n");
        }

        await File.WriteAllTextAsync(Path.Combine(output, name + ".csv"), csv.ToString());
        Console.WriteLine(string.Join("  ", summary.Select(kv => $"{kv.Key}={kv.Value}")));
        return 0;
    }

    /// <summary>At least <paramref name="count"/> events of generated journeys, as the collector writes them: stamped and keyed by customer.</summary>
    private static List<Message<string, byte[]>> Messages(TopicCatalog catalog, int count, string prefix, int seed)
    {
        var generator = new TrafficGenerator(catalog, seed, TimeSpan.FromDays(30));
        var now = DateTimeOffset.UtcNow;
        var messages = new List<Message<string, byte[]>>(count + 64);
        for (var customer = 1; messages.Count < count; customer++)
        {
            foreach (var item in generator.Journey(customer, now))
            {
                // Fresh ids per run, so a second run into the same Redis folds instead of hitting dedupe markers.
                item.AnonymousId = item.AnonymousId is null ? null : prefix + item.AnonymousId;
                item.UserId = item.UserId is null ? null : prefix + item.UserId;
                item.Timestamp = item.OriginalTimestamp ?? now;
                item.ReceivedAt = now;
                messages.Add(new Message<string, byte[]> { Key = item.CustomerKey!, Value = JsonSerializer.SerializeToUtf8Bytes(item, EcrmJsonContext.Default.EventEnvelope) });
            }
        }

        return messages;
    }

    private static async Task ProduceAllAsync(IProducer<string, byte[]> producer, string topic, List<Message<string, byte[]>> messages)
    {
        var deliveries = new List<Task>(messages.Count);
        foreach (var message in messages)
        {
            deliveries.Add(producer.ProduceAsync(topic, message));
        }

        await Task.WhenAll(deliveries);
    }

    /// <summary>Polls the engines' folded counters every 50 ms until their sum reaches the target.</summary>
    private static async Task<bool> WaitForAsync(HttpClient http, Uri[] engines, long target, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if ((await FoldedAsync(http, engines)).Sum() >= target)
            {
                return true;
            }

            await Task.Delay(50);
        }

        return false;
    }

    private static async Task<long[]> FoldedAsync(HttpClient http, Uri[] engines)
    {
        var counts = new long[engines.Length];
        for (var i = 0; i < engines.Length; i++)
        {
            foreach (var line in (await http.GetStringAsync(engines[i])).Split('\n'))
            {
                if (line.StartsWith("ecrm_engine_events_folded_total", StringComparison.Ordinal))
                {
                    counts[i] += (long)double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                }
            }
        }

        return counts;
    }

    /// <summary>A process's CPU time so far, user and system, from /proc/PID/stat (fields 14 and 15, in USER_HZ ticks of 1/100 s on Linux).</summary>
    private static double ProcessCpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }
}
