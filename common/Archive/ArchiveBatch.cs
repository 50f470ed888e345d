using System.Text.Json;
using Ecrm.Common.Events;

namespace Ecrm.Common.Archive;

/// <summary>
/// The rows one batch adds to the archive, typed as the tables' columns as they are added, then
/// written with one RowBinary insert per table. Column order follows <see cref="ArchiveSchema"/>.
/// </summary>
public sealed class ArchiveBatch : IDisposable
{
    private static readonly ArchiveColumns EventColumns = ArchiveSchema.InsertColumns(ArchiveSchema.Events);
    private static readonly ArchiveColumns TransitionColumns = ArchiveSchema.InsertColumns(ArchiveSchema.Transitions);
    private static readonly ArchiveColumns DeadLetterColumns = ArchiveSchema.InsertColumns(ArchiveSchema.DeadLetters);
    private static readonly ArchiveColumns LinkColumns = ArchiveSchema.InsertColumns(ArchiveSchema.IdentityLinks);
    private static readonly ArchiveColumns TraitColumns = ArchiveSchema.InsertColumns(ArchiveSchema.CustomerTraits);

    private readonly List<object[]> _events = [];
    private readonly List<object[]> _transitions = [];
    private readonly List<object[]> _deadLetters = [];
    private readonly List<object[]> _links = [];
    private readonly List<object[]> _traits = [];
    private readonly object _archivedAtMs;
    private readonly DateTime _archivedAt;

    public ArchiveBatch(DateTimeOffset now)
    {
        _archivedAtMs = Milliseconds(now);
        _archivedAt = Seconds(now);
    }

    public int EventCount => _events.Count;

    public int TransitionCount => _transitions.Count;

    public int DeadLetterCount => _deadLetters.Count;

    public int LinkCount => _links.Count;

    /// <summary>
    /// Adds a raw event under the id it was sent with (the user id, else the anonymous id); readers
    /// resolve ids to customers through the identity links. The Kafka position keeps the order the
    /// engine folded it in, which replay repeats. <paramref name="topics"/> and <paramref name="stages"/>
    /// are the catalog's matches, pairwise. The payload's bytes are sent as they are (no copy, no
    /// transcoding): they must stay unchanged until <see cref="WriteAsync"/> has run.
    /// </summary>
    public void AddEvent(EventEnvelope item, ReadOnlyMemory<byte> payload, string[] topics, byte[] stages, int partition, long offset)
    {
        var timestamp = item.EffectiveTimestamp;
        var receivedAt = item.ReceivedAt ?? timestamp;
        _events.Add(
        [
            item.MessageId ?? "",
            item.CustomerKey ?? "",
            item.AnonymousId ?? "",
            item.UserId ?? "",
            item.Type is { } type ? EventTypeNames.Of(type) : "",
            item.Event ?? item.Name ?? "",
            ChannelNames.Of(item.Channel ?? Channel.Server),
            Seconds(timestamp),
            Milliseconds(timestamp),
            Seconds(receivedAt),
            Milliseconds(receivedAt),
            (ushort)partition,
            (ulong)offset,
            topics,
            stages,
            payload,
            _archivedAtMs,
        ]);
        if (item.Type == EventType.Identify && item.Traits is { } traits)
        {
            AddTraits(item.CustomerKey ?? "", (uint)Math.Clamp(timestamp.ToUnixTimeSeconds(), 0, uint.MaxValue), traits);
        }
    }

    /// <summary>
    /// Adds an id's identify traits, one row per top-level trait, as segments and funnels compare them: a
    /// non-empty string as it is, any other value (number, boolean, object, an empty string) as its JSON text.
    /// </summary>
    internal void AddTraits(string customerKey, uint timestamp, JsonElement traits)
    {
        if (traits.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        foreach (var trait in traits.EnumerateObject())
        {
            var value = trait.Value.ValueKind == JsonValueKind.String && trait.Value.GetString() is { Length: > 0 } text ? text : trait.Value.GetRawText();
            _traits.Add([customerKey, trait.Name, value, timestamp]);
        }
    }

    /// <summary>Adds a stage transition or an identity link, as the engine published it.</summary>
    public void AddChange(DialogueChange change)
    {
        if (change.Kind == DialogueChangeKinds.Link)
        {
            _links.Add([change.LinkedId ?? "", change.Customer ?? "", change.MessageId ?? "", Seconds(change.Timestamp), _archivedAtMs]);
            return;
        }

        _transitions.Add(
        [
            change.MessageId ?? "",
            change.Customer ?? "",
            change.Topic ?? "",
            (byte)change.FromStage,
            (byte)change.ToStage,
            (ushort)change.Episode,
            change.Channel ?? "",
            Seconds(change.Timestamp),
            Milliseconds(change.Timestamp),
            (ulong)change.CatalogVersion,
            _archivedAtMs,
        ]);
    }

    /// <summary>An event the engine cannot read is kept whole, with the reason, rather than dropped.</summary>
    public void AddDeadLetter(string source, string reason, ReadOnlyMemory<byte> payload) =>
        _deadLetters.Add([_archivedAt, source, reason, payload]);

    public async Task WriteAsync(ArchiveClient archive, CancellationToken cancellationToken)
    {
        // Every table is a replacing one (or, for dead letters, rare), so a batch re-delivered after a
        // partial write only repeats rows that count once.
        if (_transitions.Count > 0)
        {
            await archive.InsertAsync(ArchiveSchema.Transitions, TransitionColumns, _transitions, cancellationToken);
        }

        if (_deadLetters.Count > 0)
        {
            await archive.InsertAsync(ArchiveSchema.DeadLetters, DeadLetterColumns, _deadLetters, cancellationToken);
        }

        if (_links.Count > 0)
        {
            await archive.InsertAsync(ArchiveSchema.IdentityLinks, LinkColumns, _links, cancellationToken);
        }

        if (_traits.Count > 0)
        {
            await archive.InsertAsync(ArchiveSchema.CustomerTraits, TraitColumns, _traits, cancellationToken);
        }

        if (_events.Count > 0)
        {
            await archive.InsertAsync(ArchiveSchema.Events, EventColumns, _events, cancellationToken);
        }
    }

    public void Dispose()
    {
        _events.Clear();
        _transitions.Clear();
        _deadLetters.Clear();
        _links.Clear();
        _traits.Clear();
    }

    // DateTime('UTC') holds whole seconds from 1970 to 2106; a time outside (an unset one) is held at the nearer end, as ClickHouse does with text.
    private static DateTime Seconds(DateTimeOffset time) => DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(time.ToUnixTimeSeconds(), 0, uint.MaxValue)).UtcDateTime;

    private static ulong Milliseconds(DateTimeOffset time) => (ulong)Math.Max(0, time.ToUnixTimeMilliseconds());
}
