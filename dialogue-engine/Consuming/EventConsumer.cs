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
public sealed partial class EventConsumer(
    IOptions<KafkaOptions> kafka,
    IOptions<EngineOptions> options,
    CatalogHolder catalog,
    DialogueFolder folder,
    IdentityLinker identities,
    TransitionPublisher publisher,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    IMeterFactory meters,
    ILogger<EventConsumer> logger) : BatchConsumer(kafka, time, lifetime, logger)
{
    private readonly Meter _meter = meters.Create("Ecrm.DialogueEngine");
    private Counter<long>? _folded;
    private Counter<long>? _stageChanges;

    protected override string GroupId => Kafka.ConsumerGroup;

    protected override IReadOnlyList<string> Topics => [Kafka.EventsTopic];

    protected override int MaxBatchMessages => options.Value.MaxBatchEvents;

    protected override TimeSpan BatchWindow => TimeSpan.FromMilliseconds(options.Value.BatchWindowMs);

    protected override bool IsTransient(Exception exception) =>
        exception is StackExchange.Redis.RedisException or TimeoutException or KafkaException;

    protected override Task PrepareAsync(CancellationToken stoppingToken)
    {
        _folded = _meter.CreateCounter<long>("ecrm.engine.events_folded");
        _stageChanges = _meter.CreateCounter<long>("ecrm.engine.transitions");
        return Task.CompletedTask;
    }

    protected override async Task ProcessAsync(IReadOnlyList<ConsumeResult<string, byte[]>> batch, CancellationToken stoppingToken)
    {
        var matcher = catalog.Matcher;
        var work = new List<(EventEnvelope Item, Task<FoldOutcome> Fold)>(batch.Count);
        foreach (var result in batch)
        {
            // An event the engine cannot read is skipped here; the archive keeps it as a dead letter.
            if (EventReader.Read(result.Message.Value, out _) is not { } item)
            {
                continue;
            }

            var matches = new List<TopicStage>(2);
            matcher.Match(item, matches);
            // Fired without awaiting one by one: the multiplexer pipelines them, in order per customer.
            work.Add((item, folder.FoldAsync(item, matches, matcher)));
        }

        await Task.WhenAll(work.Select(w => w.Fold));
        var changes = await LinkIdentitiesAsync(work.Select(w => w.Item), matcher);
        var fresh = work.Where(w => !w.Fold.Result.AlreadyPublished).ToList();
        foreach (var (item, fold) in fresh)
        {
            changes.AddRange(fold.Result.Transitions.Select(t => ToChange(item, t)));
        }

        await publisher.PublishAsync(changes, stoppingToken);
        await Task.WhenAll(fresh.Select(w => folder.MarkPublishedAsync(w.Fold.Result.Customer, w.Item)));
        _folded?.Add(work.Count);
        _stageChanges?.Add(changes.Count(c => c.Kind == DialogueChangeKinds.Stage));
    }

    /// <summary>
    /// identify links the anonymous id to the user, alias links the earlier id to the new one; each
    /// link merges the earlier id's dialogues into the customer's. Merges that deepen a stage are
    /// transitions too. Linking is idempotent, so a re-delivered identify changes nothing.
    /// </summary>
    private async Task<List<DialogueChange>> LinkIdentitiesAsync(IEnumerable<EventEnvelope> items, TopicMatcher matcher)
    {
        var changes = new List<DialogueChange>();
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

            var (outcome, transitions) = await identities.LinkAsync(from, to, matcher.Catalog);
            if (outcome == LinkOutcome.Refused)
            {
                LogLinkRefused(from, to);
                continue;
            }

            changes.Add(new DialogueChange
            {
                Kind = DialogueChangeKinds.Link,
                Customer = to,
                LinkedId = from,
                MessageId = item.MessageId!,
                Channel = ChannelNames.Of(item.Channel ?? Channel.Server),
                Timestamp = item.EffectiveTimestamp,
                CatalogVersion = matcher.Catalog.Version,
            });
            changes.AddRange(transitions.Select(t => ToChange(item, t)));
        }

        return changes;
    }

    private static DialogueChange ToChange(EventEnvelope item, StageTransition transition) => new()
    {
        Customer = transition.Customer,
        Topic = transition.Topic,
        FromStage = transition.FromStage,
        ToStage = transition.ToStage,
        Episode = transition.Episode,
        Channel = ChannelNames.Of(item.Channel ?? Channel.Server),
        MessageId = item.MessageId!,
        Timestamp = item.EffectiveTimestamp,
        CatalogVersion = transition.CatalogVersion,
    };

    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not linking {Id} to {Customer}: it already belongs to another customer, or both are known customers and the catalog does not allow merging them")]
    private partial void LogLinkRefused(string id, string customer);
}
