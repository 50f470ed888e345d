using System.Net;
using System.Net.Sockets;
using Ecrm.Common.Events;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Ingestion;

/// <summary>
/// Adds what the request knows (IP, user agent) and removes what the events should not carry:
/// the host part of the IP address and the full user agent string, which is reduced to families.
/// </summary>
public sealed class EventEnricher(IOptions<CollectorOptions> options)
{
    /// <summary>Enriches one event; returns true when it comes from a bot.</summary>
    public bool Enrich(EventEnvelope item, IPAddress? requestIp, string? requestUserAgent, bool fromBrowser)
    {
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
