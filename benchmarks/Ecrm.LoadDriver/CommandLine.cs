namespace Ecrm.LoadDriver;

/// <summary>
/// demo: every customer's journey once, with progress. load: as fast as possible for a while, measuring
/// acknowledged events/s and acknowledgement latency, in batches or as single-event requests.
/// </summary>
internal sealed record CommandLine(
    string Command,
    Uri Collector,
    string WriteKey,
    string Catalog,
    int Customers,
    int Seed,
    int HistoryDays,
    int Seconds,
    int BatchSize,
    int Concurrency,
    bool Single,
    string Output,
    string Redis)
{
    public const string Usage =
        "usage: Ecrm.LoadDriver demo|load --collector URL --write-key KEY --catalog FILE [--customers N] [--seed N] [--history-days N]\n" +
        "       load only: [--seconds 20] [--batch 100] [--concurrency 8] [--single true] [--output DIR]\n" +
        "       Ecrm.LoadDriver fold --redis HOST:PORT --catalog FILE [--customers N] [--concurrency 512] [--output DIR]";

    public static CommandLine? Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("demo" or "load" or "fold"))
        {
            return null;
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        int Int(string name, int fallback) => values.TryGetValue(name, out var text) ? int.Parse(text) : fallback;
        if (args[0] == "fold")
        {
            values.TryAdd("collector", "http://unused/");
            values.TryAdd("write-key", "unused");
        }

        return values.TryGetValue("collector", out var collector) && values.TryGetValue("write-key", out var writeKey) && values.TryGetValue("catalog", out var catalog)
            ? new CommandLine(
                args[0],
                new Uri(collector.EndsWith('/') ? collector : collector + "/"),
                writeKey,
                catalog,
                Int("customers", args[0] == "demo" ? 300 : 50_000),
                Int("seed", 42),
                Int("history-days", 30),
                Int("seconds", 20),
                Int("batch", 100),
                Int("concurrency", 8),
                values.GetValueOrDefault("single") == "true",
                values.GetValueOrDefault("output", "benchmarks/results"),
                values.GetValueOrDefault("redis", "127.0.0.1:6379"))
            : null;
    }
}
