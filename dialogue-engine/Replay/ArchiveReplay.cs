using System.Diagnostics;
using System.Text;
using Ecrm.Common.Archive;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Consuming;
using Ecrm.DialogueEngine.Folding;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Replay;

/// <summary>
/// Rebuilds the customers' Redis state (dialogues, episodes, identities, traits) from the ClickHouse
/// archive, through the same batch fold as the live consumer, in the order the engine consumed the
/// events (received time, then Kafka partition and offset). Live folding must be stopped meanwhile.
/// Catalogs are kept; transitions are not announced again.
/// </summary>
public sealed class ArchiveReplay(IConnectionMultiplexer redis, ArchiveClient clickHouse, CatalogHolder catalog, BatchFolder folder)
{
    private const int BatchSize = 1000;

    public async Task<(long Events, TimeSpan Elapsed)> RunAsync(CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        await catalog.StartAsync(cancellationToken);
        try
        {
            var removed = await ClearCustomerStateAsync();
            Console.WriteLine($"removed {removed:N0} customer keys from Redis; replaying with topic catalog version {catalog.Catalog.Version}");
            var total = await EventArchive.CountAsync(clickHouse, cancellationToken);
            var progress = new ConsoleProgress(total, "events");
            var batch = new List<EventEnvelope>(BatchSize);
            await foreach (var line in EventArchive.PayloadsInOrderAsync(clickHouse, cancellationToken))
            {
                // The payload is the event as it was on the events topic: compact JSON, one per line.
                if (EventReader.Read(Encoding.UTF8.GetBytes(line), out _) is { } item)
                {
                    batch.Add(item);
                }

                if (batch.Count == BatchSize)
                {
                    await FoldAsync(batch, progress);
                }
            }

            await FoldAsync(batch, progress);
            progress.Finish();
            return (progress.Done, stopwatch.Elapsed);
        }
        finally
        {
            await catalog.StopAsync(CancellationToken.None);
        }
    }

    private async Task FoldAsync(List<EventEnvelope> batch, ConsoleProgress progress)
    {
        if (batch.Count == 0)
        {
            return;
        }

        var folded = await folder.FoldAsync(batch, catalog.Matcher);
        await folder.MarkPublishedAsync(folded);
        progress.Add(batch.Count);
        batch.Clear();
    }

    /// <summary>Deletes every per-customer key on every primary (catalogs and other documents stay).</summary>
    private async Task<long> ClearCustomerStateAsync()
    {
        long removed = 0;
        var database = redis.GetDatabase();
        await foreach (var page in redis.KeysOnEveryPrimaryAsync(RedisKeys.AllCustomersPattern).Chunk(1000))
        {
            removed += await DeleteAsync(database, page);
        }

        return removed;
    }

    private static async Task<long> DeleteAsync(IDatabase database, IReadOnlyList<RedisKey> keys)
    {
        // One key per call: on a cluster the keys of a page sit in different slots.
        var deletes = keys.Select(k => database.KeyDeleteAsync(k)).ToArray();
        await Task.WhenAll(deletes);
        return deletes.Count(d => d.Result);
    }
}
