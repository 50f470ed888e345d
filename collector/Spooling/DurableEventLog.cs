using System.Diagnostics.Metrics;
using Ecrm.Collector.Ingestion;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Spooling;

public enum AppendOutcome
{
    /// <summary>Every message is in Kafka.</summary>
    InKafka,

    /// <summary>Kafka did not take some messages; they are fsync'd in the local spool and will be replayed.</summary>
    Spooled,

    /// <summary>Kafka did not take them and the spool is full: nothing is acknowledged.</summary>
    Refused,
}

/// <summary>
/// The collector's path to Kafka that survives Kafka being away. Messages go to Kafka; what Kafka
/// does not acknowledge goes to the on-disk spool, and while the spool holds anything, new messages
/// go behind it, so each customer's events keep their order. A background loop replays the spool
/// into Kafka, oldest first, as soon as Kafka takes messages again.
/// </summary>
public sealed partial class DurableEventLog(
    EventProducer producer,
    IOptions<CollectorOptions> options,
    IHostEnvironment environment,
    IMeterFactory meters,
    ILogger<DurableEventLog> logger) : BackgroundService
{
    private const int ReplayBatch = 1000;
    private readonly EventSpool _spool = new(Path.Combine(environment.ContentRootPath, options.Value.SpoolDirectory), options.Value.SpoolMaxBytes);

    public long SpooledBytes => _spool.PendingBytes;

    public async Task<AppendOutcome> AppendAsync(IReadOnlyList<OutgoingMessage> messages, CancellationToken cancellationToken)
    {
        if (messages.Count == 0)
        {
            return AppendOutcome.InKafka;
        }

        var notTaken = _spool.IsEmpty ? await producer.ProduceAllAsync(messages, cancellationToken) : messages;
        if (notTaken.Count == 0)
        {
            return AppendOutcome.InKafka;
        }

        var spooled = await _spool.AppendAsync(notTaken.Select(m => new KeyValuePair<string, byte[]>(Destination(m), m.Value)).ToList(), cancellationToken);
        return spooled ? AppendOutcome.Spooled : AppendOutcome.Refused;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // How much waits in the spool for Kafka: above zero, Kafka is (or was just) unreachable.
        meters.Create(Ingestion.IngestionPipeline.MeterName).CreateObservableGauge("ecrm.collector.spool", () => SpooledBytes, "By", "bytes waiting in the spool for Kafka");

        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            while (!_spool.IsEmpty && !stoppingToken.IsCancellationRequested)
            {
                var batch = _spool.Read(ReplayBatch);
                if (batch.Count == 0)
                {
                    break;
                }

                var messages = batch.Select(Message).ToList();
                if ((await producer.ProduceAllAsync(messages, stoppingToken)).Count > 0)
                {
                    // Kafka is still away; what it may have taken of this batch is sent again next time,
                    // and message ids make that harmless downstream.
                    break;
                }

                _spool.Commit(batch[^1].Next, batch.Sum(EventSpool.RecordSize));
                LogReplayed(batch.Count, _spool.PendingBytes);
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await _spool.DisposeAsync();
    }

    // The spool keeps one stream for both topics, so one letter in front of the key says which.
    private string Destination(OutgoingMessage message) => (message.Topic == producer.DeadLetterTopic ? "D" : "E") + message.Key;

    private OutgoingMessage Message(SpooledEvent spooled) =>
        new(spooled.Key[0] == 'D' ? producer.DeadLetterTopic : producer.EventsTopic, spooled.Key[1..], spooled.Value);

    [LoggerMessage(Level = LogLevel.Information, Message = "Replayed {Count} spooled messages into Kafka; {Pending} bytes still spooled")]
    private partial void LogReplayed(int count, long pending);
}
