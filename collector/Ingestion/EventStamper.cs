using Ecrm.Common.Archive;
using Ecrm.Common.Events;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Ingestion;

/// <summary>
/// Turns what a client sent into a complete envelope: required fields checked, a message id and a
/// channel where missing, the batch's shared context merged in, and the server's receivedAt with a
/// skew-corrected timestamp.
/// </summary>
public sealed class EventStamper(IOptions<CollectorOptions> options)
{
    private const int MaxIdLength = 256;

    /// <summary>What is wrong with the first of the event's ids that is unacceptable, or null: each id becomes a key or a value downstream.</summary>
    private static string? FirstIdProblem(EventEnvelope item) =>
        IdProblem("userId", item.UserId) ?? IdProblem("anonymousId", item.AnonymousId) ?? IdProblem("previousId", item.PreviousId)
        ?? IdProblem("groupId", item.GroupId) ?? IdProblem("messageId", item.MessageId);

    private static string? IdProblem(string field, string? id) =>
        // An alias's previousId becomes an identity link and a group's groupId a stored value: unbounded, either would
        // let one event grow a Redis key or an archive row without limit.
        id?.Length > MaxIdLength ? $"{field} is limited to {MaxIdLength} characters"
        // An id is a key in Redis, a value in the archive and a cell in exports: a newline or a tab in
        // it would split a log line, a CSV row or a console table, and it cannot be typed to erase it.
        : HasControlCharacters(id) ? $"{field} must not contain control characters"
        : null;

    private static bool HasControlCharacters(string? id) =>
        id is not null && (id.AsSpan().ContainsAnyInRange('\u0000', '\u001f') || id.Contains('\u007f', StringComparison.Ordinal));

    /// <summary>Completes one event in place. Returns the reason it is unacceptable, or null.</summary>
    public string? Stamp(EventEnvelope item, EventBatch? batch, DateTimeOffset receivedAt, Channel? defaultChannel = null)
    {
        // Flags are what the collector noticed; a client's own would let it pass for verified or for a bot.
        item.Flags = null;
        if (item.Type is null)
        {
            return "type is required: one of track, page, screen, identify, alias, group";
        }

        if (string.IsNullOrEmpty(item.UserId) && string.IsNullOrEmpty(item.AnonymousId))
        {
            return "userId or anonymousId is required";
        }

        if (FirstIdProblem(item) is { } idProblem)
        {
            return idProblem;
        }

        switch (item.Type)
        {
            case EventType.Track when string.IsNullOrWhiteSpace(item.Event):
                return "event is required for a track call";
            case EventType.Alias when string.IsNullOrEmpty(item.PreviousId) || string.IsNullOrEmpty(item.UserId):
                return "alias needs previousId and userId";
            case EventType.Group when string.IsNullOrEmpty(item.GroupId):
                return "groupId is required for a group call";
        }

        if (item.Properties is { ValueKind: not (System.Text.Json.JsonValueKind.Object or System.Text.Json.JsonValueKind.Null) })
        {
            return "properties must be an object";
        }

        // analytics-next and RudderStack's SDKs carry the user's traits in context.traits; an identify
        // call without top-level traits means those.
        if (item is { Type: EventType.Identify, Traits: null } && item.Context?.Extra?.GetValueOrDefault("traits") is { ValueKind: System.Text.Json.JsonValueKind.Object } contextTraits)
        {
            item.Traits = contextTraits;
        }

        if (item.Traits is { ValueKind: not (System.Text.Json.JsonValueKind.Object or System.Text.Json.JsonValueKind.Null) })
        {
            return "traits must be an object";
        }

        if ((FirstUnstorableNumber(item.Properties, "properties") ?? FirstUnstorableNumber(item.Traits, "traits")) is { } number)
        {
            // 1e309 reads as infinity and 1e-320 is below what ClickHouse parses: archived, either would
            // make every later query that sums or compares the field fail.
            return $"{number.Path}: {number.Raw} is not {ArchiveSql.StorableNumberRule}";
        }

        if (batch is not null)
        {
            item.Context = MergeContext(item.Context, batch.Context);
            item.Integrations ??= batch.Integrations;
            item.SentAt ??= batch.SentAt;
        }

        item.WriteKey = null;
        item.MessageId = string.IsNullOrEmpty(item.MessageId) ? $"ecrm-{Guid.NewGuid():N}" : item.MessageId;
        item.Channel ??= defaultChannel ?? InferChannel(item);
        item.ReceivedAt = receivedAt;
        try
        {
            item.Timestamp = CorrectedTimestamp(item, receivedAt);
        }
        catch (ArgumentOutOfRangeException)
        {
            return "originalTimestamp and sentAt put the event outside the representable range of dates";
        }

        var limits = options.Value;
        var age = receivedAt - item.Timestamp.Value;
        if (age > TimeSpan.FromDays(limits.MaxEventAgeDays))
        {
            return $"the event is {age.TotalDays:F0} days old, over the {limits.MaxEventAgeDays}-day limit for queued events";
        }

        if (-age > TimeSpan.FromSeconds(limits.FutureToleranceSeconds))
        {
            // A client clock far ahead would put the event after everything that really followed it.
            item.Timestamp = receivedAt;
            (item.Flags ??= []).Add(EventFlags.TimestampClamped);
        }

        return null;
    }

    /// <summary>The first number (depth first) that the archive could not store, with its JSON path.</summary>
    private static (string Path, string Raw)? FirstUnstorableNumber(System.Text.Json.JsonElement? element, string path)
    {
        switch (element)
        {
            case { ValueKind: System.Text.Json.JsonValueKind.Number } number:
                return number.TryGetDouble(out var value) && ArchiveSql.IsStorableNumber(value) ? null : (path, Shorten(number.GetRawText()));
            case { ValueKind: System.Text.Json.JsonValueKind.Object } obj:
                foreach (var property in obj.EnumerateObject())
                {
                    if (FirstUnstorableNumber(property.Value, $"{path}.{Shorten(property.Name)}") is { } found)
                    {
                        return found;
                    }
                }

                return null;
            case { ValueKind: System.Text.Json.JsonValueKind.Array } array:
                var index = 0;
                foreach (var entry in array.EnumerateArray())
                {
                    if (FirstUnstorableNumber(entry, $"{path}[{index++}]") is { } found)
                    {
                        return found;
                    }
                }

                return null;
            default:
                return null;
        }
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "...";

    /// <summary>
    /// Segment's rule: timestamp = receivedAt - (sentAt - originalTimestamp), which cancels the client
    /// clock's offset. A client's own timestamp is its originalTimestamp when it sends none (analytics-next
    /// and the Segment mobile libraries send timestamp and sentAt), and is trusted as it is without sentAt.
    /// </summary>
    private static DateTimeOffset CorrectedTimestamp(EventEnvelope item, DateTimeOffset receivedAt)
    {
        if ((item.OriginalTimestamp ??= item.Timestamp) is not { } original)
        {
            // No time from the client: the event happened as it arrived, whatever its sentAt says.
            item.OriginalTimestamp = receivedAt;
            return receivedAt;
        }

        return item.SentAt is { } sent ? receivedAt - (sent - original) : original;
    }

    private static Channel InferChannel(EventEnvelope item)
    {
        if (item.Type == EventType.Screen || item.Context?.App is not null)
        {
            return Channel.Mobile;
        }

        return item.Context?.Page is not null || item.Context?.UserAgent is not null || item.Type == EventType.Page
            ? Channel.Web
            : Channel.Server;
    }

    /// <summary>Fills what the event's own context lacks from the batch's context; the event's values win.</summary>
    private static EventContext? MergeContext(EventContext? own, EventContext? shared)
    {
        if (shared is null)
        {
            return own;
        }

        if (own is null)
        {
            return shared;
        }

        own.Page ??= shared.Page;
        own.UserAgent ??= shared.UserAgent;
        own.Ip ??= shared.Ip;
        own.Campaign ??= shared.Campaign;
        own.App ??= shared.App;
        own.Screen ??= shared.Screen;
        own.Locale ??= shared.Locale;
        own.Timezone ??= shared.Timezone;
        own.Library ??= shared.Library;
        own.Ecrm ??= shared.Ecrm;
        if (shared.Extra is not null)
        {
            own.Extra ??= [];
            foreach (var (name, value) in shared.Extra)
            {
                own.Extra.TryAdd(name, value);
            }
        }

        return own;
    }
}
