using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using Confluent.Kafka;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Folding;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Consuming;

/// <summary>
/// The folding consumer group on the events topic. Each batch is folded into Redis, its identity links
/// are merged, its stage changes and links (and the events the fold could not apply, as dead letters) are
/// published, and only then are its offsets stored. At-least-once delivery, exactly-once in effect: the
/// customers' dedupe state (<see cref="Ecrm.Common.Storage.DialogueStore"/>) keeps each fold's changes until
/// they are published, so a re-delivered event changes nothing and republishes what may have been lost.
/// Two batches are in flight: one publishes while the next folds; folds still apply in batch order.
/// The archive reads both topics in its own group (<see cref="Archive.ArchiveConsumer"/>), so ClickHouse
/// never holds the folding back.
/// </summary>
public sealed partial class EventConsumer(
    IOptions<KafkaOptions> kafka,
    IOptions<EngineOptions> options,
    CatalogHolder catalog,
    BatchFolder folder,
    FoldWatermarks watermarks,
    TransitionPublisher publisher,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    IMeterFactory meters,
    ILogger<EventConsumer> logger) : BatchConsumer(kafka, time, lifetime, meters, logger)
{
    private const string DeadLetterSource = "dialogue-engine";

    private readonly Counter<long> _folded = meters.Create(MeterName).CreateCounter<long>("ecrm.engine.events_folded");
    private readonly Counter<long> _stageChanges = meters.Create(MeterName).CreateCounter<long>("ecrm.engine.transitions");
    private readonly Counter<long> _deadLetters = meters.Create(MeterName).CreateCounter<long>("ecrm.engine.dead_letters",
        description: "events the fold could not apply (a value out of range, a corrupt dialogue), sent to the dead-letter topic");
    private readonly Histogram<double> _stepSeconds = meters.Create(MeterName).CreateHistogram<double>("ecrm.engine.batch_step_duration", unit: "s",
        description: "time each step of a folding batch took: fold (the scripts and identity merges), publish (until Kafka acknowledged the changes), mark (forgetting the published changes)");

    protected override string GroupId => Kafka.ConsumerGroup;

    protected override IReadOnlyList<string> Topics => [Kafka.EventsTopic];

    protected override int MaxBatchMessages => options.Value.MaxBatchEvents;

    protected override TimeSpan BatchWindow => TimeSpan.FromMilliseconds(options.Value.BatchWindowMs);

    protected override int BatchesInFlight => 2;

    protected override bool IsTransient(Exception exception) =>
        exception is StackExchange.Redis.RedisException or TimeoutException or KafkaException;

    protected override void OnAssigned(IReadOnlyList<TopicPartitionOffset> committed) => watermarks.Assigned(committed);

    protected override void OnRevoked(IEnumerable<TopicPartition> partitions) => watermarks.Revoked(partitions);

    protected override async Task ProcessAsync(IReadOnlyList<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
    {
        var items = new List<FoldItem>(batch.Count);
        var sources = new List<ConsumeResult<string, byte[]>>(batch.Count);
        foreach (var result in batch)
        {
            // An event the engine cannot read is skipped here; the archive keeps it as a dead letter.
            if (EventReader.Read(result.Message.Value, out _) is { } item)
            {
                items.Add(new FoldItem(item, result.Partition.Value, result.Offset.Value));
                sources.Add(result);
            }
        }

        await WaitForTurnAsync(batch, stoppingToken);
        var started = Stopwatch.GetTimestamp();
        await watermarks.CheckAsync();
        var folded = await folder.FoldAsync(items, catalog.Matcher);
        await watermarks.RecordAsync(batch);
        EndTurn(batch);
        var foldEnded = Stopwatch.GetTimestamp();
        var deadLetters = folded.Dead.Select(dead => DeadLetterOf(sources[dead.Index], dead.Reason)).ToList();
        await publisher.PublishAsync(folded.Changes, deadLetters, stoppingToken);
        var publishEnded = Stopwatch.GetTimestamp();
        await folder.MarkPublishedAsync(folded);
        _stepSeconds.Record(Stopwatch.GetElapsedTime(started, foldEnded).TotalSeconds, new KeyValuePair<string, object?>("step", "fold"));
        _stepSeconds.Record(Stopwatch.GetElapsedTime(foldEnded, publishEnded).TotalSeconds, new KeyValuePair<string, object?>("step", "publish"));
        _stepSeconds.Record(Stopwatch.GetElapsedTime(publishEnded).TotalSeconds, new KeyValuePair<string, object?>("step", "mark"));
        _folded.Add(items.Count);
        _stageChanges.Add(folded.Changes.Count(c => c.Kind == DialogueChangeKinds.Stage));
        _deadLetters.Add(deadLetters.Count);
    }

    private Message<string, byte[]> DeadLetterOf(ConsumeResult<string, byte[]> source, string reason)
    {
        var position = $"{source.Topic}/{source.Partition.Value}@{source.Offset.Value}";
        LogDeadLetter(position, reason);
        return new Message<string, byte[]>
        {
            Key = source.Message.Key,
            Value = DeadLetter.Encode(DeadLetterSource, reason, Time.GetUtcNow(), Encoding.UTF8.GetString(source.Message.Value), position: position),
        };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The event at {Position} cannot be folded ({Reason}); it goes to the dead-letter topic and the batch goes on")]
    private partial void LogDeadLetter(string position, string reason);
}
