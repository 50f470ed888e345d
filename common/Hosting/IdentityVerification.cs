using System.Security.Cryptography;
using System.Text;

namespace Ecrm.Common.Hosting;

/// <summary>A write key's identity-verification secret, known to the site's server and to Ecrm, never to a page.</summary>
public sealed record IdentitySecretOptions
{
    public string WriteKey { get; init; } = "";

    public string Secret { get; init; } = "";
}

/// <summary>
/// A browser holds a public write key, so what it says about who it is proves nothing. The site's own
/// server, which has logged the customer in, signs the user id: <c>userHash = hex(HMAC-SHA256(secret,
/// userId))</c>, as support-chat widgets (Intercom, Crisp) verify identities. The tracker sends the
/// signature beside the user id (<c>context.userHash</c> on events, <c>userHash</c> on recommendation
/// requests); without a valid one a browser may neither read a known customer nor rewrite them.
/// </summary>
public static class IdentityVerification
{
    /// <summary>Where events carry the signature: <c>context.userHash</c>. The collector checks it and drops it.</summary>
    public const string ContextField = "userHash";

    /// <summary>Traits a browser may set only for a verified identity: they route messages, or stop them.</summary>
    public static readonly IReadOnlyList<string> AlwaysProtectedTraits = ["email", "phone", "suppressed", "optedOut"];

    /// <summary>What the site's server computes for a user id (the README shows it in several languages).</summary>
    public static string Sign(string secret, string userId) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(userId)));

    /// <summary>Whether <paramref name="userHash"/> is the signature of <paramref name="userId"/> under the write key's secret; compared in constant time.</summary>
    public static bool IsValid(AuthOptions options, string writeKey, string? userId, string? userHash)
    {
        if (string.IsNullOrEmpty(userId) || string.IsNullOrEmpty(userHash) || SecretOf(options, writeKey) is not { } secret)
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Sign(secret, userId));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(userHash.ToLowerInvariant()));
    }

    /// <summary>The protected traits in force: the four that always are, and the configured ones.</summary>
    public static HashSet<string> ProtectedTraits(AuthOptions options) =>
        new([.. AlwaysProtectedTraits, .. options.ProtectedTraits], StringComparer.Ordinal);

    private static string? SecretOf(AuthOptions options, string writeKey)
    {
        var candidate = Encoding.UTF8.GetBytes(writeKey);
        string? secret = null;
        foreach (var entry in options.IdentitySecrets)
        {
            if (!string.IsNullOrEmpty(entry.Secret) && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(entry.WriteKey), candidate))
            {
                secret = entry.Secret;
            }
        }

        return secret;
    }
}
