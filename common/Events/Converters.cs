using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ecrm.Common.Events;

/// <summary>
/// Reads ids sent as strings or as numbers (several Segment libraries send numeric user ids) and
/// always writes strings, so one customer is one key however a client spelled it.
/// </summary>
public sealed class LenientStringConverter : JsonConverter<string>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString(),
            JsonTokenType.Number => System.Text.Encoding.UTF8.GetString(reader.HasValueSequence ? System.Buffers.BuffersExtensions.ToArray(reader.ValueSequence) : reader.ValueSpan),
            JsonTokenType.Null => null,
            _ => throw new JsonException($"expected a string or a number, found {reader.TokenType}"),
        };

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value);
}

public sealed class ChannelConverter : JsonConverter<Channel>
{
    public override Channel Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException("channel must be a string: web, email, mobile or server");
        }

        return ChannelNames.TryParse(reader.GetString(), out var channel)
            ? channel
            : throw new JsonException($"unknown channel '{reader.GetString()}': expected web, email, mobile or server");
    }

    public override void Write(Utf8JsonWriter writer, Channel value, JsonSerializerOptions options) =>
        writer.WriteStringValue(ChannelNames.Of(value));
}

/// <summary>The wire names of event types ("track", "page" ...), as the Segment spec spells them.</summary>
public static class EventTypeNames
{
    public static string Of(EventType type) => type switch
    {
        EventType.Track => "track",
        EventType.Page => "page",
        EventType.Screen => "screen",
        EventType.Identify => "identify",
        EventType.Alias => "alias",
        EventType.Group => "group",
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };
}

public static class ChannelNames
{
    public static string Of(Channel channel) => channel switch
    {
        Channel.Web => "web",
        Channel.Email => "email",
        Channel.Mobile => "mobile",
        Channel.Server => "server",
        _ => throw new ArgumentOutOfRangeException(nameof(channel)),
    };

    public static bool TryParse(string? name, out Channel channel)
    {
        switch (name?.ToLowerInvariant())
        {
            case "web" or "browser": channel = Channel.Web; return true;
            case "email": channel = Channel.Email; return true;
            case "mobile" or "app": channel = Channel.Mobile; return true;
            case "server": channel = Channel.Server; return true;
            default: channel = default; return false;
        }
    }
}
