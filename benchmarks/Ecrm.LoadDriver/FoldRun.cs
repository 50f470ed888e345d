using System.Diagnostics;
using System.Text.Json;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Folding;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.LoadDriver;

/// <summary>
/// Folds generated traffic into a Redis with the engine's own fold script, as fast as a bounded number
/// of in-flight calls allows, then reports folded events/s and Redis memory per dialogue.
/// </summary>
internal static class FoldRun
{
    public static async Task<int> RunAsync(CommandLine options, TopicCatalog catalog, List<EventEnvelope>[] journeys)
    {
        var matcher = new TopicMatcher(catalog.WithVersion(1));
        var work = new List<(EventEnvelope Item, List<TopicStage> Matches)>();
        var receivedAt = DateTimeOffset.UtcNow;
        foreach (var item in journeys.SelectMany(j => j))
        {
            item.Timestamp = item.OriginalTimestamp;
            item.ReceivedAt = receivedAt;
            var matches = new List<TopicStage>();
            matcher.Match(item, matches);
            work.Add((item, matches));
        }

        using var redis = RedisConnection.Connect(options.Redis);
        var folder = new DialogueFolder(redis, Options.Create(new EngineOptions()));
        var memoryBefore = await UsedMemoryAsync(redis);
        Console.WriteLine($"{work.Count} events of {journeys.Length} customers; {options.Concurrency} folds in flight");

        using var inFlight = new SemaphoreSlim(options.Concurrency);
        var done = 0;
        var clock = Stopwatch.StartNew();
        using var reporter = new Timer(_ => Console.WriteLine($"t={clock.Elapsed.TotalSeconds,5:F1}s  {Volatile.Read(ref done),9} folded"), null, 1000, 1000);
        var tasks = new List<Task>(work.Count);
        foreach (var (item, matches) in work)
        {
            await inFlight.WaitAsync();
            tasks.Add(FoldOneAsync(folder, item, matches, matcher, inFlight, () => Interlocked.Increment(ref done)));
        }

        await Task.WhenAll(tasks);
        var seconds = clock.Elapsed.TotalSeconds;
        var memoryAfter = await UsedMemoryAsync(redis);
        var bytesPerDialogue = await DialogueHashMemoryAsync(redis, journeys.Length);
        Console.WriteLine("counting dialogues and removing the dedupe markers, to weigh the dialogue state alone");
        var (dialogues, markers) = await CountDialoguesAndDropMarkersAsync(redis);
        var memoryWithoutMarkers = await UsedMemoryAsync(redis);

        var summary = new Dictionary<string, object>
        {
            ["events"] = work.Count,
            ["seconds"] = Math.Round(seconds, 2),
            ["foldedEventsPerSecond"] = Math.Round(work.Count / seconds),
            ["dialogues"] = dialogues,
            ["dedupeMarkers"] = markers,
            ["bytesPerDialogueHash"] = bytesPerDialogue,
            ["usedMemoryDeltaBytes"] = memoryAfter - memoryBefore,
            // Everything a customer keeps (dialogue hashes, topic indexes, owners, traits, histories)
            // per dialogue, once the 7-day dedupe markers have gone.
            ["stateBytesPerDialogue"] = dialogues == 0 ? 0 : (memoryWithoutMarkers - memoryBefore) / dialogues,
            ["markerBytesPerEvent"] = work.Count == 0 ? 0 : (memoryAfter - memoryWithoutMarkers) / work.Count,
        };
        Directory.CreateDirectory(options.Output);
        await File.WriteAllTextAsync(Path.Combine(options.Output, "fold.json"), JsonSerializer.Serialize(summary, LoadDriverJsonContext.Default.DictionaryStringObject));
        Console.WriteLine(string.Join("  ", summary.Select(kv => $"{kv.Key}={kv.Value}")));
        return 0;
    }

    private static async Task FoldOneAsync(DialogueFolder folder, EventEnvelope item, List<TopicStage> matches, TopicMatcher matcher, SemaphoreSlim inFlight, Action onDone)
    {
        try
        {
            await folder.FoldAsync(item, matches, matcher);
            onDone();
        }
        finally
        {
            inFlight.Release();
        }
    }

    private static async Task<long> UsedMemoryAsync(ConnectionMultiplexer redis)
    {
        var info = (string)(await redis.GetDatabase().ScriptEvaluateAsync("return redis.call('INFO', 'memory')"))!;
        var line = info.Split('\n').First(l => l.StartsWith("used_memory:", StringComparison.Ordinal));
        return long.Parse(line["used_memory:".Length..].Trim());
    }

    /// <summary>Mean MEMORY USAGE of the dialogue hashes of up to 2,000 customers.</summary>
    private static async Task<long> DialogueHashMemoryAsync(ConnectionMultiplexer redis, int customers)
    {
        var database = redis.GetDatabase();
        long count = 0, bytes = 0;
        for (var c = 1; c <= Math.Min(customers, 2000); c++)
        {
            var customer = $"user-{c:D6}";
            foreach (var topic in await database.SortedSetRangeByRankAsync(RedisKeys.CustomerTopics(customer)))
            {
                var usage = await database.ScriptEvaluateAsync("return redis.call('MEMORY', 'USAGE', KEYS[1])", [RedisKeys.Dialogue(customer, topic!)]);
                bytes += (long)usage;
                count++;
            }
        }

        return count == 0 ? 0 : bytes / count;
    }

    /// <summary>Counts the dialogue hashes and deletes the dedupe markers, in one SCAN of the keyspace (of every primary, on a cluster).</summary>
    private static async Task<(long Dialogues, long Markers)> CountDialoguesAndDropMarkersAsync(ConnectionMultiplexer redis)
    {
        var database = redis.GetDatabase();
        long dialogues = 0, markers = 0;
        await foreach (var key in redis.KeysOnEveryPrimaryAsync(RedisKeys.AllCustomersPattern, pageSize: 10_000))
        {
            var name = key.ToString();
            if (name.Contains(":dlg:", StringComparison.Ordinal))
            {
                dialogues++;
            }
            else if (name.Contains(":msg:", StringComparison.Ordinal))
            {
                markers++;
                database.KeyDelete(key, CommandFlags.FireAndForget);
            }
        }

        // The deletes were sent without waiting; a round trip after them means they are done.
        await database.PingAsync();
        return (dialogues, markers);
    }
}
