using System.Text.Json;
using System.Text.Json.Serialization;
using Ecrm.Common.Archive;
using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Triggers;
using Microsoft.AspNetCore.Http.HttpResults;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Customers;

public sealed record ErasureJob(
    string Id,
    string RequestedId,
    string Status,
    DateTimeOffset RequestedAt,
    DateTimeOffset? FinishedAt = null,
    IReadOnlyList<string>? Identities = null,
    long RedisKeysDeleted = 0,
    string? Error = null);

public static class ErasureStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Done = "done";
    public const string Failed = "failed";
}

/// <summary>
/// <c>DELETE /api/customers/{id}</c> (admin key) erases a customer everywhere: every id linked to
/// them, their dialogues, histories, profile, identity links and dedupe markers in Redis (the
/// recommender's per-customer keys share the customer's prefix), their pending trigger waits,
/// deliveries and dead letters, and their rows in every archive table, trigger firings included
/// (<c>ALTER TABLE … DELETE</c>, on every server of a cluster). It answers 202 with a job; <c>GET /api/erasures/{job}</c> tells
/// its status. Jobs live in Redis, so a restarted engine picks up what it had not finished.
/// </summary>
public static class CustomerErasureApi
{
    public static IEndpointRouteBuilder MapCustomerErasureApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapDelete("/api/customers/{customerId}", EraseAsync).RequireKey(KeyScope.Admin);
        endpoints.MapGet("/api/erasures/{jobId}", GetAsync).RequireKey(KeyScope.Admin);
        return endpoints;
    }

    private static async Task<Results<Accepted<ErasureJob>, ProblemHttpResult>> EraseAsync(string customerId, IConnectionMultiplexer redis, TimeProvider time)
    {
        if (customerId.Length is 0 or > 256)
        {
            return TypedResults.Problem(detail: "customerId: 1-256 characters", statusCode: StatusCodes.Status400BadRequest);
        }

        var job = new ErasureJob(Guid.NewGuid().ToString("N"), customerId, ErasureStatus.Queued, time.GetUtcNow());
        var database = redis.GetDatabase();
        await database.HashSetAsync(RedisKeys.Erasures, job.Id, JsonSerializer.Serialize(job, ErasureJsonContext.Default.ErasureJob));
        await database.ListLeftPushAsync(RedisKeys.ErasureQueue, job.Id);
        return TypedResults.Accepted($"/api/erasures/{job.Id}", job);
    }

    private static async Task<Results<Ok<ErasureJob>, ProblemHttpResult>> GetAsync(string jobId, IConnectionMultiplexer redis)
    {
        var value = await redis.GetDatabase().HashGetAsync(RedisKeys.Erasures, jobId);
        return value.IsNull
            ? TypedResults.Problem(detail: "no erasure job by that id", statusCode: StatusCodes.Status404NotFound)
            : TypedResults.Ok(JsonSerializer.Deserialize((string)value!, ErasureJsonContext.Default.ErasureJob)!);
    }
}

/// <summary>Runs erasure jobs one at a time, from the Redis queue; a job found running at start-up is run again (every step is safe to repeat).</summary>
public sealed partial class ErasureWorker(
    IConnectionMultiplexer redis,
    DialogueReader dialogues,
    ArchiveClient clickHouse,
    TriggerErasure triggers,
    TimeProvider time,
    ILogger<ErasureWorker> logger) : BackgroundService
{
    private static readonly TimeSpan MutationTimeout = TimeSpan.FromMinutes(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var database = redis.GetDatabase();
        foreach (var entry in await database.HashGetAllAsync(RedisKeys.Erasures))
        {
            if (JsonSerializer.Deserialize((string)entry.Value!, ErasureJsonContext.Default.ErasureJob) is { Status: ErasureStatus.Running } interrupted)
            {
                await database.ListRightPushAsync(RedisKeys.ErasureQueue, interrupted.Id);
            }
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            RedisValue next;
            try
            {
                next = await database.ListRightPopAsync(RedisKeys.ErasureQueue);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // Redis restarting must not stop the engine (a BackgroundService that throws stops the host).
                LogQueueUnavailable(e);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
                continue;
            }

            if (next.IsNull)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), stoppingToken);
                continue;
            }

            var value = await database.HashGetAsync(RedisKeys.Erasures, (string)next!);
            if (value.IsNull || JsonSerializer.Deserialize((string)value!, ErasureJsonContext.Default.ErasureJob) is not { } job)
            {
                continue;
            }

            await SaveAsync(job with { Status = ErasureStatus.Running });
            try
            {
                job = await EraseAsync(job, stoppingToken);
                await SaveAsync(job with { Status = ErasureStatus.Done, FinishedAt = time.GetUtcNow() });
                LogErased(job.Id, job.Identities?.Count ?? 0, job.RedisKeysDeleted);
            }
            catch (Exception e) when (e is RedisException or HttpRequestException or ArchiveException or TimeoutException && !stoppingToken.IsCancellationRequested)
            {
                LogFailed(e, job.Id);
                await SaveAsync(job with { Status = ErasureStatus.Failed, FinishedAt = time.GetUtcNow(), Error = e.Message });
            }
        }
    }

    private async Task<ErasureJob> EraseAsync(ErasureJob job, CancellationToken cancellationToken)
    {
        var database = redis.GetDatabase();
        var customer = await dialogues.ResolveAsync(job.RequestedId);
        var identities = new SortedSet<string>(StringComparer.Ordinal) { job.RequestedId, customer };
        foreach (var linked in await database.SetMembersAsync(RedisKeys.Identities(customer)))
        {
            identities.Add(linked!);
        }

        // The archive may know links Redis no longer holds (a link made before a Redis restore).
        foreach (var linked in await CustomerArchive.LinkedIdsAsync(clickHouse, identities, cancellationToken))
        {
            identities.Add(linked);
        }

        long deleted = 0;
        foreach (var id in identities)
        {
            deleted += await DeleteKeysAsync(RedisKeys.CustomerPrefix(id));
        }

        // Before the archive: a firing record still in the triggers' outbox would otherwise be archived after the delete.
        deleted += await triggers.ForgetAsync(identities);
        await CustomerArchive.EraseAsync(clickHouse, identities, cancellationToken);
        // The overview's snapshots hold the customer too; without them it groups the (erased) dialogue rows until the next one.
        await DialogueSummary.DropAllAsync(clickHouse, cancellationToken);
        await WaitForMutationsAsync(cancellationToken);
        return job with { Identities = [.. identities], RedisKeysDeleted = deleted };
    }

    /// <summary>
    /// Every key under the prefix. They share one hash tag, so on a Redis Cluster they sit in one slot
    /// of one primary, but which one the scan cannot know: it asks every primary.
    /// </summary>
    private async Task<long> DeleteKeysAsync(string prefix)
    {
        long deleted = 0;
        var database = redis.GetDatabase();
        await foreach (var key in redis.KeysOnEveryPrimaryAsync(RedisKeyScan.PrefixPattern(prefix)))
        {
            deleted += await database.KeyDeleteAsync(key) ? 1 : 0;
        }

        return deleted;
    }

    private async Task WaitForMutationsAsync(CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + MutationTimeout;
        while (await clickHouse.CountUnfinishedMutationsAsync(cancellationToken) > 0)
        {
            if (time.GetUtcNow() > deadline)
            {
                throw new TimeoutException("ClickHouse did not finish deleting the customer's rows in time");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    private Task<bool> SaveAsync(ErasureJob job) =>
        redis.GetDatabase().HashSetAsync(RedisKeys.Erasures, job.Id, JsonSerializer.Serialize(job, ErasureJsonContext.Default.ErasureJob));

    [LoggerMessage(Level = LogLevel.Information, Message = "Erasure {JobId} done: {Identities} ids, {Keys} Redis keys")]
    private partial void LogErased(string jobId, int identities, long keys);

    [LoggerMessage(Level = LogLevel.Error, Message = "Erasure {JobId} failed")]
    private partial void LogFailed(Exception exception, string jobId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The erasure queue could not be read; retrying")]
    private partial void LogQueueUnavailable(Exception exception);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ErasureJob))]
internal sealed partial class ErasureJsonContext : JsonSerializerContext;
