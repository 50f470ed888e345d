using System.Diagnostics.Metrics;
using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Archive;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Folding;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Consuming;

/// <summary>
/// The consumer group on the events topic. Each batch is folded into Redis, archived to ClickHouse,
/// and only then are its offsets stored: at-least-once delivery, made exactly-once in effect by the
/// fold's message-id markers and the archive's replacing tables. Stage changes are published to the
/// transitions topic before the offsets are stored. A failing batch is retried whole,
/// never skipped.
/// </summary>
public sealed partial class EventConsumer(
    IOptions<KafkaOptions> kafka,
    IOptions<EngineOptions> options,
    CatalogHolder catalog,
    DialogueFolder folder,
    IdentityLinker identities,
    TransitionPublisher transitions,
    ClickHouseClient clickHouse,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    IMeterFactory meters,
    ILogger<EventConsumer> logger) : BackgroundService
{
    private readonly Meter _meter = meters.Create("Ecrm.DialogueEngine");

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // Consume blocks, so the loop owns a thread and waits on its async steps there; an async loop
        // would carry the blocking Consume onto whichever pool or client thread finished the last await.
        Task.Factory.StartNew(() => Run(stoppingToken), stoppingToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(CancellationToken stoppingToken)
    {
        var folded = _meter.CreateCounter<long>("ecrm.engine.events_folded");
        var stageChanges = _meter.CreateCounter<long>("ecrm.engine.transitions");
        ArchiveSchemaWithRetryAsync(stoppingToken).GetAwaiter().GetResult();

        using var consumer = new ConsumerBuilder<string, byte[]>(new ConsumerConfig
        {
            BootstrapServers = kafka.Value.BootstrapServers,
            GroupId = kafka.Value.ConsumerGroup,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = true,
            EnableAutoOffsetStore = false,
            // Room for a batch to be retried through a ClickHouse or Redis outage without leaving the group.
            MaxPollIntervalMs = 600_000,
        })
        .SetErrorHandler((_, error) =>
        {
            LogKafkaError(error.Reason, error.IsFatal);
            if (error.IsFatal)
            {
                lifetime.StopApplication();
            }
        })
        .Build();

        consumer.Subscribe(kafka.Value.EventsTopic);
        var batch = new List<ConsumeResult<string, byte[]>>(options.Value.MaxBatchEvents);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                FillBatch(consumer, batch, stoppingToken);
                if (batch.Count == 0)
                {
                    continue;
                }

                var (eventCount, transitionCount) = ProcessWithRetryAsync(batch, stoppingToken).GetAwaiter().GetResult();
                folded.Add(eventCount);
                stageChanges.Add(transitionCount);
                foreach (var result in batch)
                {
                    StoreOffset(consumer, result);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: what was not stored is re-delivered to the next owner of the partition.
        }
        finally
        {
            consumer.Close();
        }
    }

    private void FillBatch(IConsumer<string, byte[]> consumer, List<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
    {
        batch.Clear();
        var first = consumer.Consume(TimeSpan.FromMilliseconds(500));
        stoppingToken.ThrowIfCancellationRequested();
        if (first is null || first.IsPartitionEOF)
        {
            return;
        }

        batch.Add(first);
        var started = time.GetTimestamp();
        var window = TimeSpan.FromMilliseconds(options.Value.BatchWindowMs);
        while (batch.Count < options.Value.MaxBatchEvents)
        {
            var remaining = window - time.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero)
            {
                break;
            }

            var next = consumer.Consume(remaining);
            if (next is null)
            {
                break;
            }

            if (!next.IsPartitionEOF)
            {
                batch.Add(next);
            }
        }
    }

    private async Task<(int Events, int Transitions)> ProcessWithRetryAsync(List<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ProcessAsync(batch, stoppingToken);
            }
            catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException or HttpRequestException or ClickHouseException or KafkaException && !stoppingToken.IsCancellationRequested)
            {
                // Every step is idempotent, so the whole batch is simply tried again.
                LogBatchFailed(e, batch.Count, attempt, delay.TotalMilliseconds);
                await Task.Delay(delay, stoppingToken);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5_000));
            }
        }
    }

    private async Task<(int Events, int Transitions)> ProcessAsync(List<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
    {
        var matcher = catalog.Matcher;
        using var archive = new ArchiveBatch(time.GetUtcNow());
        var work = new List<(EventEnvelope Item, byte[] Payload, List<TopicStage> Matches, Task<FoldOutcome> Fold)>(batch.Count);
        foreach (var result in batch)
        {
            var item = Read(result, out var reason);
            if (item is null)
            {
                archive.AddDeadLetter($"{result.Topic}/{result.Partition.Value}@{result.Offset.Value}", reason!, result.Message.Value ?? []);
                continue;
            }

            var matches = new List<TopicStage>(2);
            matcher.Match(item, matches);
            // Fired without awaiting one by one: the multiplexer pipelines them, in order per customer.
            work.Add((item, result.Message.Value!, matches, folder.FoldAsync(item, matches, matcher)));
        }

        await Task.WhenAll(work.Select(w => w.Fold));
        var merges = await LinkIdentitiesAsync(work.Select(w => w.Item), matcher);
        foreach (var (item, transition) in merges)
        {
            archive.AddTransition(item, transition);
        }

        foreach (var (item, payload, matches, fold) in work)
        {
            var outcome = fold.Result;
            if (outcome.AlreadyArchived)
            {
                continue;
            }

            archive.AddEvent(item, outcome.Customer, payload, matches);
            foreach (var transition in outcome.Transitions)
            {
                archive.AddTransition(item, transition);
            }
        }

        await archive.WriteAsync(clickHouse, stoppingToken);
        await transitions.PublishAsync(
            work.Where(w => !w.Fold.Result.AlreadyArchived).SelectMany(w => w.Fold.Result.Transitions.Select(t => (w.Item, t))).Concat(merges),
            stoppingToken);
        await Task.WhenAll(work.Where(w => !w.Fold.Result.AlreadyArchived).Select(w => folder.MarkArchivedAsync(w.Fold.Result.Customer, w.Item)));
        return (archive.EventCount, archive.TransitionCount);
    }

    /// <summary>
    /// identify links the anonymous id to the user, alias links the earlier id to the new one; each
    /// link merges the earlier id's dialogues into the customer's. Merges that deepen a stage are
    /// transitions too. Linking is idempotent, so a re-delivered identify changes nothing.
    /// </summary>
    private async Task<List<(EventEnvelope Item, StageTransition Transition)>> LinkIdentitiesAsync(IEnumerable<EventEnvelope> items, TopicMatcher matcher)
    {
        var merges = new List<(EventEnvelope, StageTransition)>();
        foreach (var item in items)
        {
            var (from, to) = item.Type switch
            {
                EventType.Identify => (item.AnonymousId, item.UserId),
                EventType.Alias => (item.PreviousId, item.UserId),
                _ => (null, null),
            };
            if (item is { Type: EventType.Identify, Traits: { } traits } && item.CustomerKey is { } customer)
            {
                await identities.SaveTraitsAsync(customer, traits);
            }

            if (string.IsNullOrEmpty(from) || string.IsNullOrEmpty(to) || from == to)
            {
                continue;
            }

            var (outcome, changes) = await identities.LinkAsync(from, to, matcher.Catalog.Stages.Last, matcher.Catalog.Version);
            if (outcome == LinkOutcome.Refused)
            {
                LogLinkRefused(from, to);
            }

            merges.AddRange(changes.Select(change => (item, change)));
        }

        return merges;
    }

    private static EventEnvelope? Read(ConsumeResult<string, byte[]> result, out string? reason)
    {
        reason = null;
        try
        {
            var item = JsonSerializer.Deserialize(result.Message.Value, EcrmJsonContext.Default.EventEnvelope);
            if (item?.CustomerKey is null || string.IsNullOrEmpty(item.MessageId))
            {
                reason = "event has no customer key or message id";
                return null;
            }

            return item;
        }
        catch (JsonException e)
        {
            reason = $"event is not a valid envelope: {e.Message}";
            return null;
        }
    }

    private void StoreOffset(IConsumer<string, byte[]> consumer, ConsumeResult<string, byte[]> result)
    {
        try
        {
            consumer.StoreOffset(result);
        }
        catch (KafkaException e)
        {
            // The partition moved to another member during a rebalance; it re-reads from the last
            // committed offset, and the fold markers make that harmless.
            LogStoreOffsetFailed(result.TopicPartition, e.Error.Reason);
        }
    }

    private async Task ArchiveSchemaWithRetryAsync(CancellationToken stoppingToken)
    {
        while (true)
        {
            try
            {
                await ArchiveSchema.EnsureAsync(clickHouse, stoppingToken);
                return;
            }
            catch (Exception e) when (e is HttpRequestException or ClickHouseException && !stoppingToken.IsCancellationRequested)
            {
                LogSchemaFailed(e);
                await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
            }
        }
    }

    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kafka consumer error (fatal: {IsFatal}): {Reason}")]
    private partial void LogKafkaError(string reason, bool isFatal);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Batch of {Count} events failed on attempt {Attempt}; retrying in {DelayMs} ms")]
    private partial void LogBatchFailed(Exception exception, int count, int attempt, double delayMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not linking {Id} to {Customer}: it already belongs to another customer")]
    private partial void LogLinkRefused(string id, string customer);

    [LoggerMessage(Level = LogLevel.Information, Message = "Offset for {Partition} not stored: {Reason}")]
    private partial void LogStoreOffsetFailed(TopicPartition partition, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not create the ClickHouse archive tables; retrying")]
    private partial void LogSchemaFailed(Exception exception);
}
