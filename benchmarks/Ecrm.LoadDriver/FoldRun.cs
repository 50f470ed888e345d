using System.Diagnostics;
using System.Text.Json;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Folding;
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
        var receivedAt = DateTimeOffset.UtcNow;
        // Each journey is one customer's, on one partition as the collector keys it, with increasing offsets.
        const int Partitions = 12;
        var nextOffset = new long[Partitions];
        var work = new List<List<FoldItem>>(journeys.Length);
        foreach (var journey in journeys)
        {
            var partition = (int)((uint)journey[0].CustomerKey!.GetHashCode(StringComparison.Ordinal) % Partitions);
            var items = new List<FoldItem>(journey.Count);
            foreach (var item in journey)
            {
                item.Timestamp = item.OriginalTimestamp;
                item.ReceivedAt = receivedAt;
                items.Add(new FoldItem(item, partition, nextOffset[partition]++));
            }

            work.Add(items);
        }

        using var redis = RedisConnection.Connect(options.Redis);
        var store = new DialogueStore(redis, new EngineOptions().Dedupe);
        var folder = new DialogueFolder(store);
        var memoryBefore = await UsedMemoryAsync(redis);
        var events = work.Sum(j => j.Count);
        Console.WriteLine($"{events} events of {journeys.Length} customers; {options.Concurrency} customers' folds in flight, one script call per event");

        using var inFlight = new SemaphoreSlim(options.Concurrency);
        var done = 0;
        var clock = Stopwatch.StartNew();
        using var reporter = new Timer(_ => Console.WriteLine($"t={clock.Elapsed.TotalSeconds,5:F1}s  {Volatile.Read(ref done),9} folded"), null, 1000, 1000);
        var tasks = new List<Task>(work.Count);
        foreach (var journey in work)
        {
            await inFlight.WaitAsync();
            tasks.Add(FoldJourneyAsync(folder, store, journey, matcher, inFlight, () => Interlocked.Increment(ref done)));
        }

        await Task.WhenAll(tasks);
        var seconds = clock.Elapsed.TotalSeconds;
        var memoryAfter = await UsedMemoryAsync(redis);
        var bytesPerDialogue = await DialogueHashMemoryAsync(redis, journeys.Length);
        Console.WriteLine("counting dialogues and removing the dedupe state, to weigh the dialogue state alone");
        var (dialogues, dedupeKeys) = await CountDialoguesAndDropDedupeStateAsync(redis);
        var memoryWithoutDedupe = await UsedMemoryAsync(redis);

        var summary = new Dictionary<string, object>
        {
            ["events"] = events,
            ["seconds"] = Math.Round(seconds, 2),
            ["foldedEventsPerSecond"] = Math.Round(events / seconds),
            ["dialogues"] = dialogues,
            ["customers"] = journeys.Length,
            ["dedupeKeys"] = dedupeKeys,
            ["bytesPerDialogueHash"] = bytesPerDialogue,
            ["usedMemoryDeltaBytes"] = memoryAfter - memoryBefore,
            // Everything a customer keeps (dialogue hashes, topic indexes, owners, traits, histories)
            // per dialogue, without the dedupe state (applied offsets, recent message ids).
            ["stateBytesPerDialogue"] = dialogues == 0 ? 0 : (memoryWithoutDedupe - memoryBefore) / dialogues,
            ["dedupeBytesPerCustomer"] = journeys.Length == 0 ? 0 : (memoryAfter - memoryWithoutDedupe) / journeys.Length,
            ["eventsPerCustomer"] = journeys.Length == 0 ? 0 : Math.Round((double)events / journeys.Length, 2),
        };
        Directory.CreateDirectory(options.Output);
        await File.WriteAllTextAsync(Path.Combine(options.Output, "fold.json"), JsonSerializer.Serialize(summary, LoadDriverJsonContext.Default.DictionaryStringObject));
        Console.WriteLine(string.Join("  ", summary.Select(kv => $"{kv.Key}={kv.Value}")));
        return 0;
    }

    /// <summary>
    /// One customer's events, one script call each, in order (a customer's events are folded in order, as on its partition).
    /// A fold that changed a stage is marked published after it, as the engine does once its transitions are in Kafka, so
    /// the dedupe state weighed afterwards is what a customer keeps between batches.
    /// </summary>
    private static async Task FoldJourneyAsync(DialogueFolder folder, DialogueStore store, List<FoldItem> journey, TopicMatcher matcher, SemaphoreSlim inFlight, Action onDone)
    {
        try
        {
            foreach (var item in journey)
            {
                var outcome = (await folder.FoldAsync([item], matcher))[0];
                if (outcome.Transitions.Count > 0)
                {
                    await store.MarkPublishedAsync(outcome.Customer, [item.Event.MessageId!]);
                }

                onDone();
            }
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

    /// <summary>Counts the dialogue hashes and deletes the dedupe state, in one SCAN of the keyspace (of every primary, on a cluster).</summary>
    private static async Task<(long Dialogues, long DedupeKeys)> CountDialoguesAndDropDedupeStateAsync(ConnectionMultiplexer redis)
    {
        var database = redis.GetDatabase();
        long dialogues = 0, dedupe = 0;
        await foreach (var key in redis.KeysOnEveryPrimaryAsync(RedisKeys.AllCustomersPattern, pageSize: 10_000))
        {
            var name = key.ToString();
            if (name.Contains(":dlg:", StringComparison.Ordinal))
            {
                dialogues++;
            }
            else if (name.EndsWith(":fold", StringComparison.Ordinal))
            {
                dedupe++;
                database.KeyDelete(key, CommandFlags.FireAndForget);
            }
        }

        // The deletes were sent without waiting; a round trip after them means they are done.
        await database.PingAsync();
        return (dialogues, dedupe);
    }
}
