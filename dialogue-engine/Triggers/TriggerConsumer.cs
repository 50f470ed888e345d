using System.Diagnostics.Metrics;
using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.DialogueEngine.Consuming;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Triggers;

/// <summary>
/// The trigger engine's consumer group on the transitions topic. Each stage change first cancels the
/// waits it satisfies, then adds a job for every rule it matches: due at the end of the rule's wait,
/// or now. Jobs are keyed by (rule, topic, episode, customer), and a firing's key stays behind, so a
/// re-delivered transition adds nothing. Offsets are stored once the jobs are in Redis.
/// </summary>
public sealed class TriggerConsumer(
    IOptions<KafkaOptions> kafka,
    IOptions<TriggerOptions> options,
    TriggerStore store,
    TriggerJobs jobs,
    TriggerWorker worker,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    IMeterFactory meters,
    ILogger<TriggerConsumer> logger) : BatchConsumer(kafka, time, lifetime, meters, logger)
{
    protected override string GroupId => options.Value.ConsumerGroup;

    protected override IReadOnlyList<string> Topics => [Kafka.TransitionsTopic];

    protected override int MaxBatchMessages => options.Value.MaxBatchMessages;

    protected override TimeSpan BatchWindow => TimeSpan.FromMilliseconds(options.Value.BatchWindowMs);

    protected override void Configure(ConsumerConfig config) => config.FetchWaitMaxMs = options.Value.FetchWaitMaxMs;

    protected override bool IsTransient(Exception exception) => exception is StackExchange.Redis.RedisException or TimeoutException;

    protected override async Task ProcessAsync(IReadOnlyList<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
    {
        var rules = (await store.AllAsync()).Values.Where(r => r.Enabled).ToList();
        if (rules.Count == 0)
        {
            return;
        }

        var now = Time.GetUtcNow();
        var work = new List<Task>();
        var immediate = new List<Task<bool>>();
        foreach (var result in batch)
        {
            if (Read(result.Message.Value) is not { Kind: DialogueChangeKinds.Stage } change)
            {
                continue;
            }

            foreach (var rule in rules)
            {
                var firingKey = TriggerKeys.FiringKey(rule.Id!, change.Topic, change.Episode, change.Customer);
                if (rule.Cancels(change.Topic, change.ToStage))
                {
                    work.Add(jobs.CancelAsync(firingKey, change.Customer));
                    continue;
                }

                if (!rule.Matches(change.Topic, change.FromStage, change.ToStage, change.Channel))
                {
                    continue;
                }

                var job = new TriggerJob { Kind = TriggerJobKinds.Wait, Rule = rule.Id!, Transition = change };
                if (rule.Wait is { } wait)
                {
                    // The wait runs from when the stage was reached, not from when this engine heard of it.
                    var from = change.Timestamp == default ? now : change.Timestamp;
                    work.Add(jobs.ScheduleAsync(job, from + wait));
                }
                else
                {
                    immediate.Add(jobs.ScheduleAsync(job, now));
                }
            }
        }

        await Task.WhenAll(work.Concat(immediate));
        if (immediate.Any(t => t.Result))
        {
            worker.Wake();
        }
    }

    private static DialogueChange? Read(byte[]? payload)
    {
        try
        {
            return payload is null ? null : JsonSerializer.Deserialize(payload, EcrmJsonContext.Default.DialogueChange);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
