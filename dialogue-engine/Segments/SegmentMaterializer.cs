using Ecrm.Common.Archive;
using Ecrm.Common.Storage;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Segments;

/// <summary>
/// Keeps each saved segment's customers in a Redis set, recomputed every
/// <see cref="EngineOptions.SegmentRefreshSeconds"/>, so the recommender can boost content for a
/// segment with one SISMEMBER instead of a ClickHouse query per request. The new members fill a
/// second key that is renamed over the old one: readers never see a half-filled set.
/// </summary>
public sealed partial class SegmentMaterializer(
    SegmentStore store, IConnectionMultiplexer redis, ArchiveClient clickHouse, IOptions<EngineOptions> options, ILogger<SegmentMaterializer> logger) : BackgroundService
{
    private const int Chunk = 1000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(options.Value.SegmentRefreshSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                foreach (var segment in await store.ListAsync())
                {
                    await MaterializeAsync(segment, stoppingToken);
                }
            }
            catch (Exception e) when (e is RedisException or HttpRequestException or ArchiveException or TimeoutException && !stoppingToken.IsCancellationRequested)
            {
                LogFailed(e);
            }

            await Task.Delay(interval, stoppingToken);
        }
    }

    public async Task<long> MaterializeAsync(SavedSegment segment, CancellationToken cancellationToken)
    {
        if (store.Validate(segment.Conditions).Count > 0)
        {
            // Saved against an older catalog (a topic since removed): nothing to compute.
            return 0;
        }

        var database = redis.GetDatabase();
        var next = RedisKeys.SegmentMembersNext(segment.Id);
        await database.KeyDeleteAsync(next);
        long members = 0;
        var chunk = new List<RedisValue>(Chunk);
        await foreach (var customer in SegmentArchive.CustomersAsync(clickHouse, store.CustomersSql(segment.Conditions), cancellationToken))
        {
            chunk.Add(customer);
            if (chunk.Count == Chunk)
            {
                members += await database.SetAddAsync(next, [.. chunk]);
                chunk.Clear();
            }
        }

        if (chunk.Count > 0)
        {
            members += await database.SetAddAsync(next, [.. chunk]);
        }

        if (members == 0)
        {
            await database.KeyDeleteAsync(RedisKeys.SegmentMembers(segment.Id));
        }
        else
        {
            await database.KeyRenameAsync(next, RedisKeys.SegmentMembers(segment.Id));
        }

        return members;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not refresh the saved segments' members; trying again at the next interval")]
    private partial void LogFailed(Exception exception);
}
