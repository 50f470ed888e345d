using System.Buffers;
using System.Text.Json;
using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Folding;

namespace Ecrm.DialogueEngine.Archive;

/// <summary>
/// The rows one unit of work adds to the archive, encoded as JSONEachRow as they are added, then
/// written with one INSERT per table.
/// </summary>
public sealed class ArchiveBatch : IDisposable
{
    private readonly ArrayBufferWriter<byte> _events = new(64 * 1024);
    private readonly ArrayBufferWriter<byte> _transitions = new(4 * 1024);
    private readonly ArrayBufferWriter<byte> _deadLetters = new(1024);
    private readonly Utf8JsonWriter _writer = new(Stream.Null);
    private readonly long _archivedAtMs;

    public ArchiveBatch(DateTimeOffset now) => _archivedAtMs = now.ToUnixTimeMilliseconds();

    public int EventCount { get; private set; }

    public int TransitionCount { get; private set; }

    public int DeadLetterCount { get; private set; }

    /// <summary>Adds a raw event under the customer it was folded into (its user once its anonymous id was merged).</summary>
    public void AddEvent(EventEnvelope item, string customer, ReadOnlySpan<byte> payload, IReadOnlyList<Catalog.TopicStage> matches)
    {
        var w = Start(_events);
        var timestamp = item.Timestamp ?? item.ReceivedAt ?? DateTimeOffset.UnixEpoch;
        w.WriteString("message_id", item.MessageId);
        w.WriteString("customer_key", customer);
        w.WriteString("anonymous_id", item.AnonymousId ?? "");
        w.WriteString("user_id", item.UserId ?? "");
        w.WriteString("type", item.Type is { } type ? EventTypeNames.Of(type) : "");
        w.WriteString("event", item.Event ?? item.Name ?? "");
        w.WriteString("channel", ChannelNames.Of(item.Channel ?? Channel.Server));
        w.WriteNumber("timestamp", timestamp.ToUnixTimeSeconds());
        w.WriteNumber("timestamp_ms", timestamp.ToUnixTimeMilliseconds());
        w.WriteNumber("received_at", (item.ReceivedAt ?? timestamp).ToUnixTimeSeconds());
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

    public void AddTransition(EventEnvelope item, StageTransition transition)
    {
        var w = Start(_transitions);
        var timestamp = item.Timestamp ?? item.ReceivedAt ?? DateTimeOffset.UnixEpoch;
        w.WriteString("message_id", item.MessageId);
        w.WriteString("customer_key", transition.Customer);
        w.WriteString("topic", transition.Topic);
        w.WriteNumber("from_stage", transition.FromStage);
        w.WriteNumber("to_stage", transition.ToStage);
        w.WriteString("channel", ChannelNames.Of(item.Channel ?? Channel.Server));
        w.WriteNumber("timestamp", timestamp.ToUnixTimeSeconds());
        w.WriteNumber("timestamp_ms", timestamp.ToUnixTimeMilliseconds());
        w.WriteNumber("catalog_version", transition.CatalogVersion);
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
        // Transitions first: a crash between the inserts re-delivers the batch, and the fold markers
        // still hold the transitions until the events insert (the last step) has succeeded.
        if (TransitionCount > 0)
        {
            await clickHouse.InsertJsonEachRowAsync(ArchiveSchema.Transitions, _transitions.WrittenMemory, cancellationToken);
        }

        if (DeadLetterCount > 0)
        {
            await clickHouse.InsertJsonEachRowAsync(ArchiveSchema.DeadLetters, _deadLetters.WrittenMemory, cancellationToken);
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
