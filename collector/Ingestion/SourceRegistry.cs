using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Ingestion;

/// <summary>A configured source with its own rate limiter.</summary>
public sealed class Source : IDisposable
{
    internal Source(SourceOptions options)
    {
        Options = options;
        WriteKeyBytes = Encoding.UTF8.GetBytes(options.WriteKey);
        DefaultChannel = ChannelNames.TryParse(options.Channel, out var channel) ? channel : null;
        RateLimiter = options.EventsPerSecond <= 0
            ? null
            : new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = options.EventsPerSecond * 2,
                TokensPerPeriod = options.EventsPerSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            });
    }

    public SourceOptions Options { get; }

    public string Name => Options.Name;

    public Channel? DefaultChannel { get; }

    internal byte[] WriteKeyBytes { get; }

    internal TokenBucketRateLimiter? RateLimiter { get; }

    /// <summary>A source for pages: its key is public, so the identities its events name are not trusted (<see cref="BrowserIdentity"/>).</summary>
    public bool IsBrowserSource => Options.AllowedOrigins.Length > 0;

    public bool AllowsOrigin(string origin) => Options.AllowedOrigins.Any(o => o == "*" || string.Equals(o, origin, StringComparison.OrdinalIgnoreCase));

    /// <summary>Takes one token per event; false means over the limit, with when to retry.</summary>
    public bool TryAcquire(int events, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (RateLimiter is null)
        {
            return true;
        }

        // A batch larger than the whole bucket takes the whole bucket rather than never passing.
        using var lease = RateLimiter.AttemptAcquire(Math.Min(events, Options.EventsPerSecond * 2));
        if (lease.IsAcquired)
        {
            return true;
        }

        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(1);
        return false;
    }

    public void Dispose() => RateLimiter?.Dispose();
}

/// <summary>
/// Every source the collector knows: those under Collector:Sources, and each plain Auth:WriteKeys
/// entry as a source that any origin may use without a rate limit.
/// </summary>
public sealed class SourceRegistry : IDisposable
{
    private readonly Source[] _sources;

    public SourceRegistry(IOptions<CollectorOptions> collector, IOptions<AuthOptions> auth)
    {
        _sources =
        [
            .. collector.Value.Sources.Select(s => new Source(s)),
            .. auth.Value.WriteKeys.Where(k => !string.IsNullOrEmpty(k)).Select((key, i) => new Source(new SourceOptions { Name = $"write-key-{i}", WriteKey = key, AllowedOrigins = ["*"] })),
        ];
    }

    /// <summary>The source of a write key, compared in constant time; null when unknown.</summary>
    public Source? Find(string writeKey)
    {
        var candidate = Encoding.UTF8.GetBytes(writeKey);
        Source? found = null;
        foreach (var source in _sources)
        {
            if (CryptographicOperations.FixedTimeEquals(source.WriteKeyBytes, candidate))
            {
                found = source;
            }
        }

        return found;
    }

    /// <summary>Whether any enabled source accepts this origin: what a CORS preflight, which carries no key, can know.</summary>
    public bool AnySourceAllowsOrigin(string origin) => _sources.Any(s => s.Options.Enabled && s.AllowsOrigin(origin));

    public void Dispose()
    {
        foreach (var source in _sources)
        {
            source.Dispose();
        }
    }
}
