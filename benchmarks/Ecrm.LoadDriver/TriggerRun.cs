using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Ecrm.Testing;

namespace Ecrm.LoadDriver;

/// <summary>
/// triggers: the time from a transition (produced to the transitions topic) to its webhook arriving
/// at a local receiver, with many waits pending in Redis, next to a bare HTTP POST round trip to the
/// same receiver measured in the same run.
/// </summary>
internal static class TriggerRun
{
    public const string Usage = "usage: Ecrm.LoadDriver triggers --engine URL --admin-key KEY --kafka BOOTSTRAP --topic TRANSITIONS [--waits 10000] [--transitions 2000] [--rate 50] [--output DIR]";

    public static async Task<int> RunAsync(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        if (!values.TryGetValue("engine", out var engine) || !values.TryGetValue("admin-key", out var adminKey)
            || !values.TryGetValue("kafka", out var kafka) || !values.TryGetValue("topic", out var topic))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        int Int(string name, int fallback) => values.TryGetValue(name, out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;
        var (waits, transitions, rate) = (Int("waits", 10_000), Int("transitions", 2000), Int("rate", 50));

        using var receiver = new WebhookReceiver();
        var arrivals = new Arrivals(receiver);
        using var api = new HttpClient { BaseAddress = new Uri(engine), Timeout = TimeSpan.FromSeconds(30) };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
        using var producer = KafkaClientFactory.CreateDurableProducer(new KafkaOptions { BootstrapServers = kafka }, tune: config => config.LingerMs = 0);
        const string Secret = "benchmark-webhook-secret-0123456789";
        var run = Guid.NewGuid().ToString("N")[..8];

        // 1. Pending waits: a rule that waits six hours for a purchase after the cart, and that many carts.
        await CreateRuleAsync(api, $$"""{"id":"bench-wait-{{run}}","when":{"topic":"*","toStage":3},"unless":{"toStage":4,"within":"PT6H"},"action":{"type":"webhook","url":"{{receiver.Url("")}}","secret":"{{Secret}}"} }""");
        var seeding = Stopwatch.StartNew();
        var seeds = Enumerable.Range(0, waits).Select(i => producer.ProduceAsync(topic, Message(Change($"wait-{run}-{i}", 2, 3)))).ToArray();
        await Task.WhenAll(seeds);
        long pending;
        while ((pending = await PendingAsync(api)) < waits)
        {
            if (seeding.Elapsed > TimeSpan.FromMinutes(5))
            {
                Console.Error.WriteLine($"only {pending} of {waits} waits pending after 5 minutes");
                return 1;
            }

            await Task.Delay(200);
        }

        Console.WriteLine($"{pending:N0} waits pending (seeded in {seeding.Elapsed.TotalSeconds:F1} s)");

        // 2. Reference: bare HTTP POSTs of a webhook-sized body to the same receiver, one at a time.
        using var plain = new HttpClient();
        var body = new byte[1500];
        var reference = new List<double>();
        for (var i = 0; i < 500; i++)
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await plain.PostAsync(receiver.Url("ref"), new ByteArrayContent(body));
            reference.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        // 3. Transitions to webhook: an immediate rule, transitions at a steady rate, each timed from just before it is produced.
        await CreateRuleAsync(api, $$"""{"id":"bench-now-{{run}}","when":{"topic":"*","toStage":2},"action":{"type":"webhook","url":"{{receiver.Url("hook")}}","secret":"{{Secret}}"} }""");
        var warm = $"warm-{run}";
        await producer.ProduceAsync(topic, Message(Change(warm, 1, 2)));
        await arrivals.WaitAsync(warm, TimeSpan.FromSeconds(60));

        var sent = new ConcurrentDictionary<string, long>();
        var interval = TimeSpan.FromSeconds(1.0 / rate);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < transitions; i++)
        {
            var customer = $"now-{run}-{i}";
            var due = interval * i;
            if (due > clock.Elapsed)
            {
                await Task.Delay(due - clock.Elapsed);
            }

            sent[customer] = Stopwatch.GetTimestamp();
            _ = producer.ProduceAsync(topic, Message(Change(customer, 1, 2)));
        }

        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (sent.Keys.Count(arrivals.At.ContainsKey) < transitions && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var latencies = sent.Where(s => arrivals.At.ContainsKey(s.Key))
            .Select(s => Stopwatch.GetElapsedTime(s.Value, arrivals.At[s.Key]).TotalMilliseconds).Order().ToArray();
        var duplicates = arrivals.Duplicates;
        Console.WriteLine($"transition -> webhook, {latencies.Length:N0}/{transitions:N0} delivered at {rate}/s with {await PendingAsync(api):N0} jobs pending:"
            + $" p50 {Percentile(latencies, 0.50):F1} ms, p90 {Percentile(latencies, 0.90):F1} ms, p99 {Percentile(latencies, 0.99):F1} ms, max {latencies.LastOrDefault():F1} ms; duplicates {duplicates}");
        var refSorted = reference.Order().ToArray();
        Console.WriteLine($"reference: bare HTTP POST round trip to the same receiver, 500 sequential: p50 {Percentile(refSorted, 0.50):F2} ms, p99 {Percentile(refSorted, 0.99):F2} ms");
        // Nothing delivered still writes a report (of zeros) rather than failing on NaN.
        double Delivered(double q) => latencies.Length == 0 ? 0 : Math.Round(Percentile(latencies, q), 1);
        var summary = new Dictionary<string, object>
        {
            ["waits"] = waits,
            ["transitions"] = transitions,
            ["rate"] = rate,
            ["delivered"] = latencies.Length,
            ["duplicates"] = duplicates,
            ["pendingJobs"] = await PendingAsync(api),
            ["p50Ms"] = Delivered(0.50),
            ["p90Ms"] = Delivered(0.90),
            ["p99Ms"] = Delivered(0.99),
            ["maxMs"] = Math.Round(latencies.LastOrDefault(), 1),
            ["referencePostP50Ms"] = Math.Round(Percentile(refSorted, 0.50), 2),
            ["referencePostP99Ms"] = Math.Round(Percentile(refSorted, 0.99), 2),
        };
        var output = values.GetValueOrDefault("output", "benchmarks/results");
        Directory.CreateDirectory(output);
        await File.WriteAllTextAsync(Path.Combine(output, "triggers.json"), JsonSerializer.Serialize(summary, LoadDriverJsonContext.Default.DictionaryStringObject));
        return latencies.Length == transitions ? 0 : 1;
    }

    private static DialogueChange Change(string customer, int from, int to) => new()
    {
        Customer = customer,
        Topic = "tv-oled-55",
        FromStage = from,
        ToStage = to,
        Channel = "web",
        MessageId = Guid.NewGuid().ToString(),
        Timestamp = DateTimeOffset.UtcNow,
    };

    private static Message<string, byte[]> Message(DialogueChange change) =>
        new() { Key = change.Customer, Value = JsonSerializer.SerializeToUtf8Bytes(change, EcrmJsonContext.Default.DialogueChange) };

    private static async Task CreateRuleAsync(HttpClient api, string json)
    {
        using var response = await api.PostAsync("api/triggers", new StringContent(json, Encoding.UTF8, "application/json"));
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST api/triggers: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    private static async Task<long> PendingAsync(HttpClient api)
    {
        using var stats = JsonDocument.Parse(await api.GetStringAsync("api/triggers/stats"));
        return stats.RootElement.GetProperty("pendingJobs").GetInt64();
    }

    private static double Percentile(double[] sorted, double p) => Percentiles.NearestRank(sorted, p);

    /// <summary>When each customer's webhook arrived at the tests' loopback receiver, and how many arrived twice.</summary>
    private sealed class Arrivals
    {
        private int _duplicates;

        public Arrivals(WebhookReceiver receiver) => receiver.OnReceived = Note;

        public ConcurrentDictionary<string, long> At { get; } = new();

        public int Duplicates => _duplicates;

        public async Task WaitAsync(string customer, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (!At.ContainsKey(customer))
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"no webhook for {customer} within {timeout.TotalSeconds:F0} s");
                }

                await Task.Delay(50);
            }
        }

        private void Note(WebhookReceiver.Received received)
        {
            if (received.Path != "/hook" || received.Body.Length == 0)
            {
                return;
            }

            var customer = JsonDocument.Parse(received.Body).RootElement.GetProperty("customer").GetProperty("id").GetString()!;
            if (!At.TryAdd(customer, received.ReceivedAtTimestamp))
            {
                Interlocked.Increment(ref _duplicates);
            }
        }
    }
}
