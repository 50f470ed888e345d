using System.Globalization;
using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.DialogueEngine.Segments;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Triggers;

/// <summary>
/// Claims due jobs from Redis and works on them: a due wait is checked (cancel condition against the
/// dialogue as it is now, traits, segment, quiet hours, rate), recorded once and turned into a
/// delivery; a delivery runs the action and is retried with exponential backoff, then dead-lettered.
/// The consumer wakes it for immediate firings; otherwise it polls every <c>Triggers:PollMs</c>.
/// </summary>
public sealed partial class TriggerWorker(
    TriggerStore store,
    TriggerJobs jobs,
    TriggerActions actions,
    SegmentStore segments,
    ArchiveClient clickHouse,
    IOptions<TriggerOptions> options,
    TimeProvider time,
    ILogger<TriggerWorker> logger) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0, 1);

    private TriggerOptions Settings => options.Value;

    /// <summary>Asks the poller to look now (new immediate jobs, a replayed dead letter).</summary>
    public void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Already awake.
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var slots = new SemaphoreSlim(Settings.Concurrency, Settings.Concurrency);
        var lease = TimeSpan.FromSeconds(Settings.LeaseSeconds);
        var running = new HashSet<Task>();
        while (!stoppingToken.IsCancellationRequested)
        {
            var claimedAny = false;
            try
            {
                if (slots.CurrentCount > 0)
                {
                    var claimed = await jobs.ClaimAsync(slots.CurrentCount, lease);
                    claimedAny = claimed.Count > 0;
                    foreach (var job in claimed)
                    {
                        await slots.WaitAsync(stoppingToken);
                        var task = Task.Run(async () =>
                        {
                            try
                            {
                                await ProcessAsync(job, stoppingToken);
                            }
                            finally
                            {
                                slots.Release();
                            }
                        }, CancellationToken.None);
                        lock (running)
                        {
                            running.Add(task);
                        }

                        _ = task.ContinueWith(t => { lock (running) { running.Remove(t); } }, TaskScheduler.Default);
                    }
                }
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                LogPollFailed(e);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            if (!claimedAny)
            {
                try
                {
                    await _wake.WaitAsync(Settings.PollMs, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        Task[] pending;
        lock (running)
        {
            pending = [.. running];
        }

        // Jobs cut short keep their lease and are taken up again when it ends.
        await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    internal async Task ProcessAsync(ClaimedJob claimed, CancellationToken cancellationToken)
    {
        try
        {
            var rules = await store.AllAsync();
            if (!rules.TryGetValue(claimed.Job.Rule, out var rule))
            {
                // The rule was deleted: its waits lapse; a pending delivery is dead-lettered so nothing vanishes unseen.
                if (claimed.Job.Kind == TriggerJobKinds.Delivery)
                {
                    await DeadLetterAsync(claimed, claimed.Job with { LastError = "the rule was deleted" });
                }
                else
                {
                    await jobs.FinishAsync(claimed, claimed.Job, null);
                }

                return;
            }

            if (claimed.Job.Kind == TriggerJobKinds.Wait)
            {
                await EvaluateAsync(claimed, rule, cancellationToken);
            }
            else
            {
                await DeliverAsync(claimed, rule, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down: the lease brings the job back.
        }
        catch (Exception e) when (e is RedisException or TimeoutException or HttpRequestException or ArchiveException or OperationCanceledException)
        {
            LogJobFailed(e, claimed.Id);
            try
            {
                await jobs.RescheduleAsync(claimed, claimed.Job, time.GetUtcNow().AddSeconds(5));
            }
            catch (Exception again) when (again is RedisException or TimeoutException)
            {
                // Redis itself is away: the lease brings the job back.
            }
        }
    }

    private async Task EvaluateAsync(ClaimedJob claimed, TriggerRule rule, CancellationToken cancellationToken)
    {
        var job = claimed.Job;
        var t = job.Transition;
        if (!rule.Enabled)
        {
            await jobs.FinishAsync(claimed, job, null);
            return;
        }

        if (rule.Unless?.ToStage is { } cancelStage && await actions.ReadDialogueAsync(t.Customer, t.Topic) is { } dialogue
            && (dialogue.Episode > t.Episode || (dialogue.Episode == t.Episode && dialogue.Stage >= cancelStage)))
        {
            // The cancel condition was met, though its transition was not seen (or came before a re-delivered trigger).
            await jobs.FinishAsync(claimed, job, null);
            return;
        }

        var needTraits = rule.Traits is { Count: > 0 } || rule.Limit?.QuietHours is not null;
        var traits = needTraits ? await actions.ReadTraitsAsync(t.Customer) : [];
        if (!TraitsMatch(rule.Traits, traits) || (rule.Segment is { } segment && !await InSegmentAsync(segment, t.Customer, cancellationToken)))
        {
            await jobs.FinishAsync(claimed, job, null);
            return;
        }

        var now = time.GetUtcNow();
        if (rule.Limit?.QuietHours is { } quietText && QuietHours.Parse(quietText) is { } quiet
            && quiet.EndOf(now, ZoneOf(traits)) is { } quietEnds)
        {
            await jobs.RescheduleAsync(claimed, job, quietEnds);
            return;
        }

        if (rule.Limit?.PerMinute is { } perMinute && !await jobs.WithinRateAsync(rule.Id!, perMinute, now))
        {
            var nextMinute = DateTimeOffset.FromUnixTimeSeconds(((now.ToUnixTimeSeconds() / 60) + 1) * 60);
            // Spread over the first seconds of the next minute, so the backlog does not arrive at once.
            await jobs.RescheduleAsync(claimed, job, nextMinute.AddMilliseconds(Random.Shared.Next(0, 5000)));
            return;
        }

        var (outcome, delivery) = await jobs.CommitAsync(claimed, rule, TimeSpan.FromDays(Settings.IdempotencyDays), TimeSpan.FromSeconds(Settings.LeaseSeconds));
        if (delivery is not null)
        {
            await DeliverAsync(delivery, rule, cancellationToken);
        }
        else
        {
            LogNotFired(rule.Id!, t.Customer, t.Topic, outcome);
        }
    }

    private async Task DeliverAsync(ClaimedJob claimed, TriggerRule rule, CancellationToken cancellationToken)
    {
        var job = claimed.Job;
        try
        {
            await actions.DeliverAsync(rule, job, cancellationToken);
        }
        catch (TriggerDeliveryException e)
        {
            var failed = job with { Attempt = job.Attempt + 1, LastError = e.Message };
            if (failed.Attempt >= Settings.MaxAttempts)
            {
                await DeadLetterAsync(claimed, failed);
                return;
            }

            var delay = TimeSpan.FromMilliseconds(Math.Min(Settings.RetryBaseMs * Math.Pow(2, failed.Attempt - 1), Settings.MaxRetryDelaySeconds * 1000.0));
            LogDeliveryFailed(rule.Id!, job.FiringId!, failed.Attempt, delay.TotalMilliseconds, e.Message);
            await jobs.RescheduleAsync(claimed, failed, time.GetUtcNow() + delay, FiringStatus.Retrying);
            return;
        }

        await jobs.FinishAsync(claimed, job with { Attempt = job.Attempt + 1, LastError = null }, FiringStatus.Delivered);
    }

    private async Task DeadLetterAsync(ClaimedJob claimed, TriggerJob failed)
    {
        var t = failed.Transition;
        var firingId = failed.FiringId ?? TriggerJob.FiringIdOf(failed.FiringKey);
        LogDeadLetter(failed.Rule, firingId, failed.Attempt, failed.LastError ?? "");
        // The dead letter first: a crash in between leaves the delivery to run again, never lost.
        await store.AddDeadLetterAsync(new DeadLetter(firingId, failed.Rule, t.Customer, t.Topic, t.Episode, failed.Attempt, failed.LastError ?? "", time.GetUtcNow(), failed));
        await jobs.FinishAsync(claimed, failed, FiringStatus.Dead);
    }

    private async Task<bool> InSegmentAsync(string segmentId, string customer, CancellationToken cancellationToken)
    {
        if (await segments.GetAsync(segmentId) is not { } saved || segments.Validate(saved.Conditions).Count > 0)
        {
            LogSegmentMissing(segmentId);
            return false;
        }

        return await TriggerArchive.InSegmentAsync(clickHouse, segments.CustomersSql(saved.Conditions), customer, cancellationToken);
    }

    internal static TimeZoneInfo ZoneOf(Dictionary<string, JsonElement> traits)
    {
        if (traits.TryGetValue("timezone", out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } id)
        {
            try
            {
                return TimeZoneInfo.FindSystemTimeZoneById(id);
            }
            catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
            {
                // An unknown zone reads as UTC.
            }
        }

        return TimeZoneInfo.Utc;
    }

    internal static bool TraitsMatch(List<TriggerTrait>? conditions, Dictionary<string, JsonElement> traits)
    {
        foreach (var condition in conditions ?? [])
        {
            var present = traits.TryGetValue(condition.Name!, out var value) && value.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined);
            if (condition.Op == "exists")
            {
                if (!present)
                {
                    return false;
                }

                continue;
            }

            if (!present || !Compare(condition.Op!, value, condition.Value))
            {
                return false;
            }
        }

        return true;
    }

    private static bool Compare(string op, JsonElement actual, JsonElement expected)
    {
        var actualNumber = actual.ValueKind == JsonValueKind.Number ? actual.GetDouble()
            : actual.ValueKind == JsonValueKind.String && double.TryParse(actual.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) ? parsed
            : (double?)null;
        var actualText = actual.ValueKind == JsonValueKind.String ? actual.GetString()! : actual.GetRawText();
        var expectedText = expected.ValueKind == JsonValueKind.String ? expected.GetString()! : expected.GetRawText();
        if (op is "gt" or "gte" or "lt" or "lte")
        {
            if (actualNumber is not { } a)
            {
                return false;
            }

            var e = expected.GetDouble();
            return op switch { "gt" => a > e, "gte" => a >= e, "lt" => a < e, _ => a <= e };
        }

        var equal = expected.ValueKind == JsonValueKind.Number && actualNumber is { } n ? n == expected.GetDouble() : actualText == expectedText;
        return op switch
        {
            "eq" => equal,
            "ne" => !equal,
            _ => actualText.Contains(expectedText, StringComparison.Ordinal),
        };
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Triggers: claiming due jobs failed")]
    private partial void LogPollFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Triggers: job {Job} failed; retrying in 5 s")]
    private partial void LogJobFailed(Exception exception, string job);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Triggers: rule {Rule} did not fire for {Customer} on {Topic}: {Outcome}")]
    private partial void LogNotFired(string rule, string customer, string topic, string outcome);

    [LoggerMessage(Level = LogLevel.Information, Message = "Triggers: rule {Rule} firing {Firing} attempt {Attempt} failed ({Reason}); next in {DelayMs} ms")]
    private partial void LogDeliveryFailed(string rule, string firing, int attempt, double delayMs, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Triggers: rule {Rule} firing {Firing} dead-lettered after {Attempts} attempts: {Reason}")]
    private partial void LogDeadLetter(string rule, string firing, int attempts, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Triggers: segment {Segment} is missing or no longer valid; its rule fires for no one")]
    private partial void LogSegmentMissing(string segment);
}
