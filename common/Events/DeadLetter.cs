using System.Text.Json;

namespace Ecrm.Common.Events;

/// <summary>
/// A message on the dead-letter topic: an event Ecrm could not take, with who refused it and why, and the
/// item as it came, so that it can be fixed and sent again. The collector writes those it rejects; the
/// dialogue engine those its fold cannot apply.
/// </summary>
public static class DeadLetter
{
    /// <summary>
    /// <paramref name="index"/> is the item's place in the request that carried it (the collector);
    /// <paramref name="position"/> its place in Kafka, "topic/partition@offset" (the engine).
    /// </summary>
    public static byte[] Encode(string source, string reason, DateTimeOffset at, string raw, int? index = null, string? position = null)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("source", source);
            if (index is { } i)
            {
                writer.WriteNumber("index", i);
            }

            if (position is not null)
            {
                writer.WriteString("position", position);
            }

            writer.WriteString("reason", reason);
            writer.WriteString("receivedAt", at);
            writer.WriteString("item", raw);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
