using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Ingestion;

/// <summary>The collector's first-party HttpOnly browser id (off unless Collector:IdentityCookieName is set).</summary>
public static class IdentityCookie
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromDays(400);

    /// <summary>
    /// The browser's id, set on the response when the browser has none yet; null when the cookie is off or
    /// the sender is not a browser. A new cookie takes the id the browser's script already uses
    /// (<paramref name="proposedId"/>, when it is a plain token), so a first visit's events and the cookie agree.
    /// </summary>
    public static string? Ensure(HttpContext http, string? proposedId = null)
    {
        var options = http.RequestServices.GetRequiredService<IOptions<CollectorOptions>>().Value;
        var name = options.IdentityCookieName;
        if (name.Length == 0)
        {
            return null;
        }

        if (http.Request.Cookies.TryGetValue(name, out var existing) && existing.Length is > 0 and <= 64)
        {
            return existing;
        }

        if (http.Request.Headers.Origin.Count == 0)
        {
            // Server-side senders have no browser to identify.
            return null;
        }

        var id = IsPlainToken(proposedId) ? proposedId! : Guid.NewGuid().ToString("N");
        http.Response.Cookies.Append(name, id, new CookieOptions
        {
            HttpOnly = true,
            Secure = http.Request.IsHttps,
            SameSite = http.Request.IsHttps ? SameSiteMode.None : SameSiteMode.Lax,
            MaxAge = Lifetime,
            Domain = options.IdentityCookieDomain.Length > 0 ? options.IdentityCookieDomain : null,
            Path = "/",
            IsEssential = true,
        });
        return id;
    }

    /// <summary>1 to 64 letters, digits, '-', '_' or '.': safe as a cookie value and a Redis key part.</summary>
    private static bool IsPlainToken(string? value) =>
        value is { Length: > 0 and <= 64 } && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
