using System.Diagnostics.Metrics;
using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Archive;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Consuming;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Archive;

/// <summary>
/// The archive's consumer group: raw events from the events topic and stage changes and identity
/// links from the transitions topic, written to ClickHouse in batches by size or time. While
/// ClickHouse is down the batch is retried with backoff and no offset moves; the folding group
/// reads on undisturbed. The tables replace by message id, so a re-delivered batch counts once.
/// </summary>
public sealed class ArchiveConsumer(
    IOptions<KafkaOptions> kafka,
    IOptions<EngineOptions> options,
    CatalogHolder catalog,
    ArchiveClient clickHouse,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    IMeterFactory meters,
    ILogger<ArchiveConsumer> logger) : BatchConsumer(kafka, time, lifetime, meters, logger)
{
    protected override string GroupId => Kafka.ArchiveConsumerGroup;

    protected override IReadOnlyList<string> Topics => [Kafka.EventsTopic, Kafka.TransitionsTopic];

    protected override int MaxBatchMessages => options.Value.ArchiveMaxBatchRows;

    protected override TimeSpan BatchWindow => TimeSpan.FromMilliseconds(options.Value.ArchiveBatchWindowMs);

    // Inserts into replacing tables: two batches written at once, or in either order, count each row once.
    protected override int BatchesInFlight => options.Value.ArchiveInsertsInFlight;

    // A permanent failure (a statement ClickHouse refuses) is retried too: skipping the batch would lose
    // events. It is logged and counted under its query's name (ecrm.archive.query_errors), so it is seen.
    protected override bool IsTransient(Exception exception) => exception is ArchiveException or HttpRequestException or TimeoutException;

    protected override Task PrepareAsync(CancellationToken stoppingToken) => ArchiveSchema.EnsureAsync(clickHouse, stoppingToken);

    protected override async Task ProcessAsync(IReadOnlyList<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
    {
        var matcher = catalog.Matcher;
        using var archive = new ArchiveBatch(Time.GetUtcNow());
        var matches = new List<TopicStage>(2);
        foreach (var result in batch)
        {
            var payload = result.Message.Value ?? [];
            var where = $"{result.Topic}/{result.Partition.Value}@{result.Offset.Value}";
            if (result.Topic == Kafka.TransitionsTopic)
            {
                if (ReadChange(payload) is { } change)
                {
                    archive.AddChange(change);
                }
                else
                {
                    archive.AddDeadLetter(where, "not a dialogue change", payload);
                }

                continue;
            }

            if (EventReader.Read(payload, out var reason) is not { } item)
            {
                archive.AddDeadLetter(where, reason!, payload);
                continue;
            }

            matches.Clear();
            matcher.Match(item, matches);
            archive.AddEvent(item, payload, matches, result.Partition.Value, result.Offset.Value);
        }

        await archive.WriteAsync(clickHouse, stoppingToken);
    }

    private static DialogueChange? ReadChange(byte[] payload)
    {
        try
        {
            return JsonSerializer.Deserialize(payload, EcrmJsonContext.Default.DialogueChange);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
