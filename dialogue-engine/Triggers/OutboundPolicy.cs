using System.Net;
using System.Net.Sockets;
using Ecrm.Common.Hosting;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Triggers;

/// <summary>
/// Where trigger actions may send customer data. A rule is written through the admin API, but what
/// it names must not turn the engine into a way into the network it runs in: a webhook goes only to
/// public addresses (not loopback, private, link-local, carrier-grade NAT or reserved ranges, which
/// hold ClickHouse's and Redis's unauthenticated ports and cloud metadata services), unless
/// <c>Triggers:AllowedHosts</c> names its host; and a Kafka action never writes into Ecrm's own topics.
/// The address is checked when the connection is made, after DNS, so a name that resolves to a public
/// address at validation and to an internal one at delivery (DNS rebinding) is still refused.
/// </summary>
public sealed class OutboundPolicy(IOptions<TriggerOptions> triggers, IOptions<KafkaOptions> kafka)
{
    private readonly HashSet<string> _allowedHosts = new(triggers.Value.AllowedHosts.Where(h => h.Length > 0), StringComparer.OrdinalIgnoreCase);

    /// <summary>Why the URL may not receive deliveries, or null when it may (the addresses it resolves to are checked at connect time).</summary>
    public string? UrlProblem(string? url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host) || !string.IsNullOrEmpty(uri.UserInfo)
            || uri.Scheme is not ("https" or "http"))
        {
            return "an absolute https URL";
        }

        var allowListed = IsAllowListed(uri.Host);
        if (uri.Scheme == "http" && !allowListed && !triggers.Value.AllowHttp)
        {
            return "an absolute https URL (plain http only to a host in Triggers:AllowedHosts, or with Triggers:AllowHttp)";
        }

        return !allowListed && IPAddress.TryParse(uri.Host.Trim('[', ']'), out var literal) && !IsPublic(literal)
            ? "a public address (loopback, private, link-local and reserved addresses are refused unless Triggers:AllowedHosts names them)"
            : null;
    }

    /// <summary>Why a Kafka action may not publish to the topic, or null when it may.</summary>
    public string? TopicProblem(string topic)
    {
        var own = kafka.Value;
        string[] reserved = [own.EventsTopic, own.TransitionsTopic];
        return reserved.Any(name => topic.Equals(name, StringComparison.Ordinal) || topic.StartsWith(name + ".", StringComparison.Ordinal))
            || topic.StartsWith("ecrm.", StringComparison.Ordinal)
            ? $"'{topic}' is one of Ecrm's own topics (ecrm.*, {own.EventsTopic}, {own.TransitionsTopic} and their dead letters); a rule may not write into them"
            : null;
    }

    /// <summary>The handler for deliveries: no redirects (a signed payload could be led elsewhere), and only allowed addresses connected to.</summary>
    public SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectCallback = ConnectAsync,
    };

    /// <summary>Public unicast only: what a receiver on the internet has.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return !(b[0] is 0 or 10 or 127 or >= 224 // this network, private, loopback, multicast and reserved
                || (b[0] == 100 && b[1] is >= 64 and <= 127) // carrier-grade NAT
                || (b[0] == 169 && b[1] == 254) // link-local, cloud metadata
                || (b[0] == 172 && b[1] is >= 16 and <= 31)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 192 && b[1] == 0 && b[2] is 0 or 2) // IETF protocol assignments, documentation
                || (b[0] == 198 && b[1] is 18 or 19) // benchmarking
                || (b[0] == 198 && b[1] == 51 && b[2] == 100)
                || (b[0] == 203 && b[1] == 0 && b[2] == 113));
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        var bytes = address.GetAddressBytes();
        var isNat64 = bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xff && bytes[3] == 0x9b;
        return !(IPAddress.IsLoopback(address) || address.Equals(IPAddress.IPv6None)
            || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast
            || (bytes[0] & 0xfe) == 0xfc // unique local
            || (bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0d && bytes[3] == 0xb8) // documentation
            || (isNat64 && !IsPublic(new IPAddress(bytes.AsSpan(12, 4)))));
    }

    private bool IsAllowListed(string host) => _allowedHosts.Contains(host.Trim('[', ']'));

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        var allowed = IsAllowListed(host) ? addresses : addresses.Where(IsPublic).ToArray();
        if (allowed.Length == 0)
        {
            throw new RefusedAddressException();
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>The delivery's host resolved to no address a delivery may go to.</summary>
public sealed class RefusedAddressException() : IOException("the receiver's host does not resolve to a public address (see Triggers:AllowedHosts)");
