using System.Text.Json;
using Ecrm.Common.Events;

namespace Ecrm.DialogueEngine.Consuming;

/// <summary>Reads an event off the events topic, or says why it cannot be folded.</summary>
public static class EventReader
{
    public static EventEnvelope? Read(byte[]? payload, out string? reason)
    {
        reason = null;
        try
        {
            var item = payload is null ? null : JsonSerializer.Deserialize(payload, EcrmJsonContext.Default.EventEnvelope);
            if (item?.CustomerKey is null || string.IsNullOrEmpty(item.MessageId))
            {
                reason = "event has no customer key or message id";
                return null;
            }

            return item;
        }
        catch (JsonException e)
        {
            reason = $"event is not a valid envelope: {e.Message}";
            return null;
        }
    }
}
