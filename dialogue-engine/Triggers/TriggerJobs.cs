using System.Text.Json;
using Ecrm.Common.Archive;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Triggers;

public sealed record ClaimedJob(int Shard, string Id, TriggerJob Job);

public static class FiringStatus
{
    /// <summary>Recorded; its delivery is pending.</summary>
    public const string Fired = "fired";

    /// <summary>Held back by the rule's once-per-customer-and-topic limit.</summary>
    public const string Suppressed = "suppressed";

    public const string Delivered = "delivered";

    /// <summary>A delivery attempt failed; another follows after the backoff.</summary>
    public const string Retrying = "retrying";

    /// <summary>Out of attempts: in the dead letters.</summary>
    public const string Dead = "dead";
}

/// <summary>
/// The job queue: a due set and job bodies per shard. Waits and immediate firings are "wait" jobs
/// evaluated when due; a firing becomes a "delivery" job, retried with backoff. Claimed jobs are
/// leased, so a crashed worker's jobs are taken up again when the lease ends.
/// </summary>
public sealed class TriggerJobs(IConnectionMultiplexer redis, TimeProvider time)
{
    private IDatabase Db => redis.GetDatabase();

    /// <summary>Adds a wait due at <paramref name="due"/>; false when the firing already happened or the wait is pending.</summary>
    public async Task<bool> ScheduleAsync(TriggerJob job, DateTimeOffset due)
    {
        var shard = TriggerKeys.ShardOf(job.Transition.Customer);
        var result = await TriggerScripts.Schedule.EvaluateAsync(Db, new
        {
            fired = TriggerKeys.Fired(job.FiringKey, job.Transition.Customer),
            jobs = TriggerKeys.Jobs(shard),
            due = TriggerKeys.Due(shard),
            id = TriggerKeys.WaitId(job.FiringKey),
            body = Serialize(job),
            at = due.ToUnixTimeMilliseconds(),
        });
        return (int)result == 1;
    }

    public async Task<bool> CancelAsync(string firingKey, string customer)
    {
        var shard = TriggerKeys.ShardOf(customer);
        var result = await TriggerScripts.Cancel.EvaluateAsync(Db, new { due = TriggerKeys.Due(shard), jobs = TriggerKeys.Jobs(shard), id = TriggerKeys.WaitId(firingKey) });
        return (int)result == 1;
    }

    /// <summary>Leases up to <paramref name="limit"/> due jobs of every shard (one pipelined round trip).</summary>
    public async Task<List<ClaimedJob>> ClaimAsync(int limit, TimeSpan lease)
    {
        var now = time.GetUtcNow();
        var perShard = Math.Max(1, limit / TriggerKeys.Shards + 1);
        var claims = Enumerable.Range(0, TriggerKeys.Shards).Select(shard => TriggerScripts.Claim.EvaluateAsync(Db, new
        {
            due = TriggerKeys.Due(shard),
            jobs = TriggerKeys.Jobs(shard),
            now = now.ToUnixTimeMilliseconds(),
            leaseUntil = (now + lease).ToUnixTimeMilliseconds(),
            limit = perShard,
        })).ToArray();
        await Task.WhenAll(claims);
        var jobs = new List<ClaimedJob>();
        for (var shard = 0; shard < claims.Length; shard++)
        {
            var pairs = (RedisResult[])claims[shard].Result!;
            for (var i = 0; i + 1 < pairs.Length; i += 2)
            {
                jobs.Add(new ClaimedJob(shard, (string)pairs[i]!, Deserialize((string)pairs[i + 1]!)));
            }
        }

        return jobs;
    }

    /// <summary>Records the firing once and turns the wait into a delivery; see <see cref="TriggerScripts.Commit"/>.</summary>
    public async Task<(string Outcome, ClaimedJob? Delivery)> CommitAsync(ClaimedJob wait, TriggerRule rule, TimeSpan idempotency, TimeSpan lease)
    {
        var now = time.GetUtcNow();
        var job = wait.Job;
        var firingId = TriggerJob.FiringIdOf(job.FiringKey);
        var delivery = job with { Kind = TriggerJobKinds.Delivery, FiringId = firingId, FiredAt = now, Attempt = 0 };
        var deliveryId = TriggerKeys.DeliveryId(job.FiringKey);
        var limitDays = rule.Limit?.PerCustomerTopicDays ?? 0;
        var outcome = (string)(await TriggerScripts.Commit.EvaluateAsync(Db, new
        {
            jobs = TriggerKeys.Jobs(wait.Shard),
            due = TriggerKeys.Due(wait.Shard),
            outbox = TriggerKeys.Outbox(wait.Shard),
            fired = TriggerKeys.Fired(job.FiringKey, job.Transition.Customer),
            limit = TriggerKeys.Limit(job.Rule, job.Transition.Customer, job.Transition.Topic),
            waitId = wait.Id,
            deliveryId,
            deliveryBody = Serialize(delivery),
            firingId,
            firedTtl = (long)idempotency.TotalSeconds,
            limitTtl = limitDays * 86_400L,
            leaseUntil = (now + lease).ToUnixTimeMilliseconds(),
            firedRow = FiringRow(delivery, FiringStatus.Fired, 0, "", now),
            suppressedRow = FiringRow(delivery, FiringStatus.Suppressed, 0, "", now),
        }))!;
        return (outcome, outcome == "fired" ? new ClaimedJob(wait.Shard, deliveryId, delivery) : null);
    }

    /// <summary>Puts a claimed job back, due at <paramref name="due"/>; false when it was removed meanwhile (a cancelled wait).</summary>
    public async Task<bool> RescheduleAsync(ClaimedJob claimed, TriggerJob job, DateTimeOffset due, string? status = null)
    {
        var rescheduled = (int)await TriggerScripts.Reschedule.EvaluateAsync(Db, new
        {
            jobs = TriggerKeys.Jobs(claimed.Shard),
            due = TriggerKeys.Due(claimed.Shard),
            id = claimed.Id,
            body = Serialize(job),
            at = due.ToUnixTimeMilliseconds(),
        }) == 1;
        if (rescheduled && status is not null)
        {
            await Db.ListLeftPushAsync(TriggerKeys.Outbox(claimed.Shard), FiringRow(job, status, job.Attempt, job.LastError ?? "", time.GetUtcNow()));
        }

        return rescheduled;
    }

    /// <summary>Removes a job, recording its outcome (status null: nothing to record).</summary>
    public Task FinishAsync(ClaimedJob claimed, TriggerJob job, string? status) =>
        TriggerScripts.Finish.EvaluateAsync(Db, new
        {
            jobs = TriggerKeys.Jobs(claimed.Shard),
            due = TriggerKeys.Due(claimed.Shard),
            outbox = TriggerKeys.Outbox(claimed.Shard),
            id = claimed.Id,
            row = status is null ? "" : FiringRow(job, status, job.Attempt, job.LastError ?? "", time.GetUtcNow()),
        });

    /// <summary>Queues a dead letter's delivery again, with a fresh count of attempts.</summary>
    public async Task<bool> ReplayAsync(DeadLetter dead)
    {
        var job = dead.Job with { Kind = TriggerJobKinds.Delivery, Attempt = 0, LastError = null };
        var shard = TriggerKeys.ShardOf(job.Transition.Customer);
        return (int)await TriggerScripts.Replay.EvaluateAsync(Db, new
        {
            jobs = TriggerKeys.Jobs(shard),
            due = TriggerKeys.Due(shard),
            id = TriggerKeys.DeliveryId(job.FiringKey),
            body = Serialize(job),
            at = time.GetUtcNow().ToUnixTimeMilliseconds(),
        }) == 1;
    }

    /// <summary>How many jobs (waits and deliveries) are pending across the shards.</summary>
    public async Task<long> PendingAsync()
    {
        var counts = Enumerable.Range(0, TriggerKeys.Shards).Select(shard => Db.SortedSetLengthAsync(TriggerKeys.Due(shard))).ToArray();
        await Task.WhenAll(counts);
        return counts.Sum(c => c.Result);
    }

    /// <summary>Counts a firing in the rule's current minute and says whether it is within the rule's rate.</summary>
    public async Task<bool> WithinRateAsync(string rule, int perMinute, DateTimeOffset now)
    {
        var minute = now.ToUnixTimeSeconds() / 60;
        var count = (long)await TriggerScripts.Rate.EvaluateAsync(Db, new { key = TriggerKeys.Rate(rule, minute) });
        return count <= perMinute;
    }

    internal static string Serialize(TriggerJob job) => JsonSerializer.Serialize(job, TriggerJsonContext.Default.TriggerJob);

    private static TriggerJob Deserialize(string body) => JsonSerializer.Deserialize(body, TriggerJsonContext.Default.TriggerJob)!;

    /// <summary>One row of the trigger_firings table, as JSONEachRow; the latest row of a firing id wins.</summary>
    private static int Rank(string status) => status switch
    {
        FiringStatus.Fired => 1,
        FiringStatus.Suppressed => 2,
        FiringStatus.Retrying => 3,
        FiringStatus.Dead => 4,
        _ => 5,
    };

    internal static string FiringRow(TriggerJob job, string status, int attempts, string error, DateTimeOffset now)
    {
        var t = job.Transition;
        var firedAt = job.FiredAt ?? now;
        // Rows of one firing written in the same millisecond still order by how far along it is.
        var version = (now.ToUnixTimeMilliseconds() * 8) + Rank(status);
        return TriggerArchive.ToJsonLine(new FiringRow(
            job.FiringId ?? TriggerJob.FiringIdOf(job.FiringKey), job.Rule, t.Customer, t.Topic, t.Episode, t.FromStage, t.ToStage, t.Channel,
            t.MessageId, t.Timestamp, status, attempts, error, firedAt, now, version));
    }
}
