using System.Diagnostics;
using Ecrm.Common.Catalog;
using Ecrm.Common.Hosting;
using Ecrm.LoadDriver;
using Ecrm.LoadDriver.Traffic;

if (args is ["funnel", ..])
{
    return await FunnelRun.RunAsync(args);
}

if (args is ["latency", ..])
{
    return await LatencyRun.RunAsync(args);
}

if (RecommenderRun.Handles(args))
{
    return await RecommenderRun.RunAsync(args);
}

if (args is ["archive-insert", ..])
{
    return await ArchiveInsertRun.RunAsync(args);
}

if (args is ["scale", ..])
{
    return await ScaleRun.RunAsync(args);
}

if (args is ["triggers", ..])
{
    return await TriggerRun.RunAsync(args);
}

var options = CommandLine.Parse(args);
if (options is null)
{
    Console.Error.WriteLine(CommandLine.Usage);
    Console.Error.WriteLine(RecommenderRun.Usage);
    Console.Error.WriteLine(ScaleRun.Usage);
    Console.Error.WriteLine(ArchiveInsertRun.Usage);
    return 2;
}

var parsed = TopicCatalog.Parse(await File.ReadAllBytesAsync(options.Catalog));
if (parsed.Catalog is null)
{
    Console.Error.WriteLine($"catalog {options.Catalog} is invalid: {string.Join("; ", parsed.Errors)}");
    return 2;
}

var generator = new TrafficGenerator(parsed.Catalog, options.Seed, TimeSpan.FromDays(options.HistoryDays));
var now = DateTimeOffset.UtcNow;
var journeys = Enumerable.Range(1, options.Customers).Select(c => generator.Journey(c, now)).ToArray();

if (options.Command == "load")
{
    return await LoadRun.RunAsync(options, journeys);
}

if (options.Command == "fold")
{
    return await FoldRun.RunAsync(options, parsed.Catalog, journeys);
}

var total = journeys.Sum(j => j.Count);
using var client = new CollectorClient(options.Collector, options.WriteKey);
var progress = new ConsoleProgress(total, "events");
var stopwatch = Stopwatch.StartNew();
await Parallel.ForEachAsync(journeys, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (journey, cancellationToken) =>
{
    if (journey.Count > 0)
    {
        await client.SendAsync(journey, cancellationToken);
        progress.Add(journey.Count);
    }
});
progress.Finish();
Console.WriteLine($"sent {total} events for {options.Customers} customers in {stopwatch.Elapsed.TotalSeconds:F1} s ({total / stopwatch.Elapsed.TotalSeconds:F0} events/s)");
return 0;
