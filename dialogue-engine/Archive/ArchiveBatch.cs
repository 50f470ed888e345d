using System.Buffers;
using System.Text.Json;
using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;

namespace Ecrm.DialogueEngine.Archive;

/// <summary>
/// The rows one batch adds to the archive, encoded as JSONEachRow as they are added, then
/// written with one INSERT per table.
/// </summary>
public sealed class ArchiveBatch : IDisposable
{
    private readonly ArrayBufferWriter<byte> _events = new(64 * 1024);
    private readonly ArrayBufferWriter<byte> _transitions = new(4 * 1024);
    private readonly ArrayBufferWriter<byte> _deadLetters = new(1024);
    private readonly ArrayBufferWriter<byte> _links = new(1024);
    private readonly Utf8JsonWriter _writer = new(Stream.Null);
    private readonly long _archivedAtMs;

    public ArchiveBatch(DateTimeOffset now) => _archivedAtMs = now.ToUnixTimeMilliseconds();

    public int EventCount { get; private set; }

    public int TransitionCount { get; private set; }

    public int DeadLetterCount { get; private set; }

    public int LinkCount { get; private set; }

    /// <summary>
    /// Adds a raw event under the id it was sent with (the user id, else the anonymous id); readers
    /// resolve ids to customers through the identity links. The Kafka position keeps the order the
    /// engine folded it in, which replay repeats.
    /// </summary>
    public void AddEvent(EventEnvelope item, ReadOnlySpan<byte> payload, IReadOnlyList<TopicStage> matches, int partition, long offset)
    {
        var w = Start(_events);
        var timestamp = item.EffectiveTimestamp;
        var receivedAt = item.ReceivedAt ?? timestamp;
        w.WriteString("message_id", item.MessageId);
        w.WriteString("customer_key", item.CustomerKey);
        w.WriteString("anonymous_id", item.AnonymousId ?? "");
        w.WriteString("user_id", item.UserId ?? "");
        w.WriteString("type", item.Type is { } type ? EventTypeNames.Of(type) : "");
        w.WriteString("event", item.Event ?? item.Name ?? "");
        w.WriteString("channel", ChannelNames.Of(item.Channel ?? Channel.Server));
        w.WriteNumber("timestamp", timestamp.ToUnixTimeSeconds());
        w.WriteNumber("timestamp_ms", timestamp.ToUnixTimeMilliseconds());
        w.WriteNumber("received_at", receivedAt.ToUnixTimeSeconds());
        w.WriteNumber("received_at_ms", receivedAt.ToUnixTimeMilliseconds());
        w.WriteNumber("kafka_partition", partition);
        w.WriteNumber("kafka_offset", offset);
        w.WriteStartArray("topics");
        foreach (var match in matches)
        {
            w.WriteStringValue(match.Topic);
        }

        w.WriteEndArray();
        w.WriteStartArray("stages");
        foreach (var match in matches)
        {
            w.WriteNumberValue(match.Stage);
        }

        w.WriteEndArray();
        w.WriteString("payload", payload);
        w.WriteNumber("archived_at_ms", _archivedAtMs);
        End(_events);
        EventCount++;
    }

    /// <summary>Adds a stage transition or an identity link, as the engine published it.</summary>
    public void AddChange(DialogueChange change)
    {
        if (change.Kind == DialogueChangeKinds.Link)
        {
            var l = Start(_links);
            l.WriteString("linked_id", change.LinkedId);
            l.WriteString("customer_key", change.Customer);
            l.WriteString("message_id", change.MessageId);
            l.WriteNumber("timestamp", change.Timestamp.ToUnixTimeSeconds());
            l.WriteNumber("archived_at_ms", _archivedAtMs);
            End(_links);
            LinkCount++;
            return;
        }

        var w = Start(_transitions);
        w.WriteString("message_id", change.MessageId);
        w.WriteString("customer_key", change.Customer);
        w.WriteString("topic", change.Topic);
        w.WriteNumber("from_stage", change.FromStage);
        w.WriteNumber("to_stage", change.ToStage);
        w.WriteNumber("episode", change.Episode);
        w.WriteString("channel", change.Channel);
        w.WriteNumber("timestamp", change.Timestamp.ToUnixTimeSeconds());
        w.WriteNumber("timestamp_ms", change.Timestamp.ToUnixTimeMilliseconds());
        w.WriteNumber("catalog_version", change.CatalogVersion);
        w.WriteNumber("archived_at_ms", _archivedAtMs);
        End(_transitions);
        TransitionCount++;
    }

    /// <summary>An event the engine cannot read is kept whole, with the reason, rather than dropped.</summary>
    public void AddDeadLetter(string source, string reason, ReadOnlySpan<byte> payload)
    {
        var w = Start(_deadLetters);
        w.WriteNumber("received_at", _archivedAtMs / 1000);
        w.WriteString("source", source);
        w.WriteString("reason", reason);
        w.WriteString("payload", payload);
        End(_deadLetters);
        DeadLetterCount++;
    }

    public async Task WriteAsync(ClickHouseClient clickHouse, CancellationToken cancellationToken)
    {
        // Every table is a replacing one (or, for dead letters, rare), so a batch re-delivered after a
        // partial write only repeats rows that count once.
        if (TransitionCount > 0)
        {
            await clickHouse.InsertJsonEachRowAsync(ArchiveSchema.Transitions, _transitions.WrittenMemory, cancellationToken);
        }

        if (DeadLetterCount > 0)
        {
            await clickHouse.InsertJsonEachRowAsync(ArchiveSchema.DeadLetters, _deadLetters.WrittenMemory, cancellationToken);
        }

        if (LinkCount > 0)
        {
            await clickHouse.InsertJsonEachRowAsync(ArchiveSchema.IdentityLinks, _links.WrittenMemory, cancellationToken);
        }

        if (EventCount > 0)
        {
            await clickHouse.InsertJsonEachRowAsync(ArchiveSchema.Events, _events.WrittenMemory, cancellationToken);
        }
    }

    public void Dispose() => _writer.Dispose();

    private Utf8JsonWriter Start(ArrayBufferWriter<byte> buffer)
    {
        _writer.Reset(buffer);
        _writer.WriteStartObject();
        return _writer;
    }

    private void End(ArrayBufferWriter<byte> buffer)
    {
        _writer.WriteEndObject();
        _writer.Flush();
        buffer.Write("\n"u8);
    }
}
