namespace Ecrm.LoadDriver;

internal sealed record CommandLine(string Command, Uri Collector, string WriteKey, string Catalog, int Customers, int Seed, int HistoryDays)
{
    public static CommandLine? Parse(string[] args)
    {
        if (args.Length == 0)
        {
            return null;
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            values[args[i].TrimStart('-')] = args[i + 1];
        }

        return values.TryGetValue("collector", out var collector) && values.TryGetValue("write-key", out var writeKey) && values.TryGetValue("catalog", out var catalog)
            ? new CommandLine(
                args[0],
                new Uri(collector.EndsWith('/') ? collector : collector + "/"),
                writeKey,
                catalog,
                int.Parse(values.GetValueOrDefault("customers", "300")),
                int.Parse(values.GetValueOrDefault("seed", "42")),
                int.Parse(values.GetValueOrDefault("history-days", "30")))
            : null;
    }
}

/// <summary>A one-line progress display that redraws in place on a terminal and prints every 10% otherwise.</summary>
internal sealed class Progress(int total)
{
    private readonly Lock _lock = new();
    private int _done;
    private int _lastDecile = -1;

    public void Add(int count)
    {
        lock (_lock)
        {
            _done += count;
            var fraction = total == 0 ? 1 : (double)_done / total;
            if (!Console.IsOutputRedirected)
            {
                var width = 40;
                var filled = (int)(fraction * width);
                Console.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {_done}/{total} events");
            }
            else if ((int)(fraction * 10) > _lastDecile)
            {
                _lastDecile = (int)(fraction * 10);
                Console.WriteLine($"{_done}/{total} events ({fraction:P0})");
            }
        }
    }

    public static void Finish()
    {
        if (!Console.IsOutputRedirected)
        {
            Console.WriteLine();
        }
    }
}
