using System.Diagnostics;
using System.Diagnostics.Metrics;
using Confluent.Kafka;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Folding;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Consuming;

/// <summary>
/// The folding consumer group on the events topic. Each batch is folded into Redis, its identity
/// links are merged, its stage changes and links are published to the transitions topic, and only
/// then are its offsets stored. At-least-once delivery, exactly-once in effect: the fold's message-id
/// markers keep each event's transitions until they are published, so a re-delivered event changes
/// nothing and republishes what may have been lost. The archive reads both topics in its own group
/// (<see cref="Archive.ArchiveConsumer"/>), so ClickHouse never holds the folding back.
/// </summary>
public sealed class EventConsumer(
    IOptions<KafkaOptions> kafka,
    IOptions<EngineOptions> options,
    CatalogHolder catalog,
    BatchFolder folder,
    TransitionPublisher publisher,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    IMeterFactory meters,
    ILogger<EventConsumer> logger) : BatchConsumer(kafka, time, lifetime, meters, logger)
{
    private readonly Counter<long> _folded = meters.Create(MeterName).CreateCounter<long>("ecrm.engine.events_folded");
    private readonly Counter<long> _stageChanges = meters.Create(MeterName).CreateCounter<long>("ecrm.engine.transitions");
    private readonly Histogram<double> _stepSeconds = meters.Create(MeterName).CreateHistogram<double>("ecrm.engine.batch_step_duration", unit: "s",
        description: "time each step of a folding batch took: fold (the scripts and identity merges), publish (until Kafka acknowledged the changes), mark (the published markers)");

    protected override string GroupId => Kafka.ConsumerGroup;

    protected override IReadOnlyList<string> Topics => [Kafka.EventsTopic];

    protected override int MaxBatchMessages => options.Value.MaxBatchEvents;

    protected override TimeSpan BatchWindow => TimeSpan.FromMilliseconds(options.Value.BatchWindowMs);

    protected override bool IsTransient(Exception exception) =>
        exception is StackExchange.Redis.RedisException or TimeoutException or KafkaException;

    protected override async Task ProcessAsync(IReadOnlyList<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
    {
        var items = new List<EventEnvelope>(batch.Count);
        foreach (var result in batch)
        {
            // An event the engine cannot read is skipped here; the archive keeps it as a dead letter.
            if (EventReader.Read(result.Message.Value, out _) is { } item)
            {
                items.Add(item);
            }
        }

        var started = Stopwatch.GetTimestamp();
        var folded = await folder.FoldAsync(items, catalog.Matcher);
        var foldEnded = Stopwatch.GetTimestamp();
        await publisher.PublishAsync(folded.Changes, stoppingToken);
        var publishEnded = Stopwatch.GetTimestamp();
        await folder.MarkPublishedAsync(folded);
        _stepSeconds.Record(Stopwatch.GetElapsedTime(started, foldEnded).TotalSeconds, new KeyValuePair<string, object?>("step", "fold"));
        _stepSeconds.Record(Stopwatch.GetElapsedTime(foldEnded, publishEnded).TotalSeconds, new KeyValuePair<string, object?>("step", "publish"));
        _stepSeconds.Record(Stopwatch.GetElapsedTime(publishEnded).TotalSeconds, new KeyValuePair<string, object?>("step", "mark"));
        _folded.Add(items.Count);
        _stageChanges.Add(folded.Changes.Count(c => c.Kind == DialogueChangeKinds.Stage));
    }
}
