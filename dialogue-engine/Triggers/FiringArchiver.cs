using Ecrm.Common.Archive;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Triggers;

/// <summary>
/// Moves firing records from the shards' Redis outboxes into the archive's firings table, in
/// batches. A shard's outbox is drained under a lock by one instance at a time, and trimmed only after
/// the insert succeeded; the table replaces by firing id, so a repeated insert counts once.
/// </summary>
public sealed partial class FiringArchiver(
    IConnectionMultiplexer redis,
    ArchiveClient clickHouse,
    IOptions<TriggerOptions> options,
    ILogger<FiringArchiver> logger) : BackgroundService
{
    private const int MaxRows = 5000;
    private readonly string _owner = Guid.NewGuid().ToString("N");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var window = TimeSpan.FromMilliseconds(options.Value.ArchiveWindowMs);
        var schemaReady = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!schemaReady)
                {
                    await ArchiveSchema.EnsureAsync(clickHouse, stoppingToken);
                    schemaReady = true;
                }

                for (var shard = 0; shard < TriggerKeys.Shards; shard++)
                {
                    while (await DrainAsync(shard, stoppingToken) == MaxRows)
                    {
                        // A full batch: there may be more.
                    }
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException or HttpRequestException or ArchiveException
                                      || (e is OperationCanceledException && !stoppingToken.IsCancellationRequested))
            {
                LogArchiveFailed(e);
            }

            try
            {
                await Task.Delay(window, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>Writes the oldest rows of one shard's outbox; returns how many.</summary>
    internal async Task<int> DrainAsync(int shard, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var outbox = TriggerKeys.Outbox(shard);
        if (await db.ListLengthAsync(outbox) == 0 || !await db.LockTakeAsync(TriggerKeys.OutboxLock(shard), _owner, TimeSpan.FromSeconds(60)))
        {
            return 0;
        }

        try
        {
            // LPUSH adds on the left: the oldest rows are the rightmost.
            var rows = await db.ListRangeAsync(outbox, -MaxRows, -1);
            if (rows.Length == 0)
            {
                return 0;
            }

            await TriggerArchive.InsertAsync(clickHouse, rows.Select(r => (string)r!), cancellationToken);
            await db.ListTrimAsync(outbox, 0, -rows.Length - 1);
            return rows.Length;
        }
        finally
        {
            await db.LockReleaseAsync(TriggerKeys.OutboxLock(shard), _owner);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Triggers: archiving firings to ClickHouse failed; the outbox keeps them for the next round")]
    private partial void LogArchiveFailed(Exception exception);
}
