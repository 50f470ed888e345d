using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Events;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Ingestion;

/// <summary>
/// Adds what the request knows (IP, user agent) and removes what the events should not carry:
/// the host part of the IP address and the full user agent string, which is reduced to families.
/// </summary>
public sealed class EventEnricher(IOptions<CollectorOptions> options)
{
    /// <summary>What a hashed trait's value starts with.</summary>
    public const string TraitHashPrefix = "hmac-sha256:";

    private readonly HashSet<string> _hashedTraits = new(options.Value.HashedTraits, StringComparer.Ordinal);
    private readonly byte[] _traitHashKey = Encoding.UTF8.GetBytes(options.Value.TraitHashKey);

    /// <summary>Enriches one event; returns true when it comes from a bot.</summary>
    public bool Enrich(EventEnvelope item, IPAddress? requestIp, string? requestUserAgent, bool fromBrowser)
    {
        if (_hashedTraits.Count > 0 && item.Traits is { ValueKind: JsonValueKind.Object } traits)
        {
            item.Traits = HashTraits(traits);
        }

        var context = item.Context ??= new EventContext();
        // Server-side libraries send on behalf of someone else: the request's own address and agent are not the customer's.
        if (fromBrowser)
        {
            context.Ip ??= requestIp?.ToString();
            context.UserAgent ??= requestUserAgent;
        }

        if (options.Value.AnonymizeIp && context.Ip is not null)
        {
            context.Ip = IPAddress.TryParse(context.Ip, out var address) ? Anonymize(address).ToString() : null;
        }

        if (context.UserAgent is null)
        {
            return false;
        }

        var client = UserAgents.Reduce(context.UserAgent);
        context.Client ??= client;
        if (options.Value.ReduceUserAgent)
        {
            context.UserAgent = null;
        }

        if (client.Device == UserAgents.BotDevice)
        {
            (item.Flags ??= []).Add(EventFlags.Bot);
            return true;
        }

        return false;
    }

    /// <summary>The one-way form of a trait value: equal inputs (ignoring case and outer spaces) give equal hashes.</summary>
    public string HashTraitValue(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value.Trim().ToLowerInvariant());
        var hash = _traitHashKey.Length == 0 ? SHA256.HashData(bytes) : HMACSHA256.HashData(_traitHashKey, bytes);
        return TraitHashPrefix + Convert.ToHexStringLower(hash);
    }

    private JsonElement HashTraits(JsonElement traits)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var trait in traits.EnumerateObject())
            {
                var value = trait.Value;
                var hashed = _hashedTraits.Contains(trait.Name)
                    && value.ValueKind is JsonValueKind.String or JsonValueKind.Number
                    && !(value.ValueKind == JsonValueKind.String && value.GetString()!.StartsWith(TraitHashPrefix, StringComparison.Ordinal));
                if (hashed)
                {
                    writer.WriteString(trait.Name, HashTraitValue(value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText()));
                }
                else
                {
                    trait.WriteTo(writer);
                }
            }

            writer.WriteEndObject();
        }

        return JsonDocument.Parse(buffer.WrittenMemory).RootElement.Clone();
    }

    public static IPAddress Anonymize(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        var bytes = address.GetAddressBytes();
        var keep = address.AddressFamily == AddressFamily.InterNetwork ? 3 : 6;
        Array.Clear(bytes, keep, bytes.Length - keep);
        return new IPAddress(bytes);
    }
}

/// <summary>
/// A small, table-driven user agent reducer (no parser package is available): the first matching
/// token decides. Order matters: Edge and Opera carry "Chrome", Chrome carries "Safari".
/// </summary>
public static class UserAgents
{
    public const string BotDevice = "bot";

    private static readonly string[] BotTokens =
        ["bot", "crawler", "spider", "slurp", "headlesschrome", "phantomjs", "python-requests", "curl/", "wget/", "facebookexternalhit", "lighthouse", "pingdom", "uptimerobot"];

    private static readonly (string Token, string Family)[] Browsers =
        [("edg/", "Edge"), ("opr/", "Opera"), ("samsungbrowser", "Samsung Internet"), ("whale/", "Whale"), ("firefox/", "Firefox"), ("fxios", "Firefox"), ("crios", "Chrome"), ("chrome/", "Chrome"), ("safari/", "Safari"), ("msie", "Internet Explorer"), ("trident/", "Internet Explorer")];

    private static readonly (string Token, string Family)[] OperatingSystems =
        [("android", "Android"), ("iphone", "iOS"), ("ipad", "iOS"), ("ipod", "iOS"), ("windows", "Windows"), ("mac os x", "macOS"), ("macintosh", "macOS"), ("cros", "ChromeOS"), ("linux", "Linux")];

    public static ClientContext Reduce(string userAgent)
    {
        var ua = userAgent.ToLowerInvariant();
        var os = First(OperatingSystems, ua) ?? "Other";
        var browser = First(Browsers, ua) ?? "Other";
        string device;
        if (BotTokens.Any(ua.Contains))
        {
            device = BotDevice;
        }
        else if (ua.Contains("ipad", StringComparison.Ordinal) || ua.Contains("tablet", StringComparison.Ordinal) || (os == "Android" && !ua.Contains("mobile", StringComparison.Ordinal)))
        {
            device = "tablet";
        }
        else if (ua.Contains("mobi", StringComparison.Ordinal) || ua.Contains("iphone", StringComparison.Ordinal))
        {
            device = "mobile";
        }
        else
        {
            device = "desktop";
        }

        return new ClientContext { Browser = browser, Os = os, Device = device };
    }

    private static string? First((string Token, string Family)[] table, string ua)
    {
        foreach (var (token, family) in table)
        {
            if (ua.Contains(token, StringComparison.Ordinal))
            {
                return family;
            }
        }

        return null;
    }
}
