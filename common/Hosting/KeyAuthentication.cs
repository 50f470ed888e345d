using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ecrm.Common.Hosting;

/// <summary>The keys that open each door. Keys come from configuration, never from code.</summary>
public sealed record AuthOptions
{
    public const string Section = "Auth";

    /// <summary>Keys for ingestion (collector), sent as the HTTP Basic user name or as writeKey in the body.</summary>
    public string[] WriteKeys { get; init; } = [];

    /// <summary>Keys for the read APIs (recommendations, funnels, customers), sent as a Bearer token.</summary>
    public string[] ApiKeys { get; init; } = [];

    /// <summary>Keys for changing catalogs and rules; they open the read APIs as well.</summary>
    [MinLength(1, ErrorMessage = "Auth:AdminKeys needs at least one key")]
    public string[] AdminKeys { get; init; } = [];

    /// <summary>
    /// Identity verification: per public write key, the secret with which the site's own server signs
    /// each user id (<see cref="IdentityVerification"/>). A browser that sends the signature beside the
    /// user id may read that customer's recommendations and change their protected traits.
    /// </summary>
    public IdentitySecretOptions[] IdentitySecrets { get; init; } = [];

    /// <summary>Traits beyond <see cref="IdentityVerification.AlwaysProtectedTraits"/> that a browser may change only for a verified identity.</summary>
    public string[] ProtectedTraits { get; init; } = [];
}

public enum KeyScope
{
    Write,
    Read,
    Admin,
}

public static class KeyAuthentication
{
    /// <summary>Requires <c>Authorization: Bearer &lt;key&gt;</c> with a key of the given scope on every endpoint of the group.</summary>
    public static TBuilder RequireKey<TBuilder>(this TBuilder builder, KeyScope scope)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var options = http.RequestServices.GetRequiredService<IOptions<AuthOptions>>().Value;
            var key = ReadBearer(http.Request);
            if (key is null)
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return TypedResults.Problem("an API key is required as 'Authorization: Bearer <key>'", statusCode: StatusCodes.Status401Unauthorized);
            }

            return IsValid(options, scope, key)
                ? await next(context)
                : TypedResults.Problem($"this key does not grant {scope.ToString().ToLowerInvariant()} access", statusCode: StatusCodes.Status403Forbidden);
        });

    public static bool IsValid(AuthOptions options, KeyScope scope, string key) => scope switch
    {
        KeyScope.Write => ContainsKey(options.WriteKeys, key),
        KeyScope.Read => ContainsKey(options.ApiKeys, key) || ContainsKey(options.AdminKeys, key),
        KeyScope.Admin => ContainsKey(options.AdminKeys, key),
        _ => false,
    };

    public static string? ReadBearer(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;
    }

    /// <summary>The user name of HTTP Basic authentication, which is where Segment clients put the write key.</summary>
    public static string? ReadBasicUser(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            return colon < 0 ? decoded : decoded[..colon];
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>Compares in constant time so a key cannot be guessed from response timings.</summary>
    private static bool ContainsKey(string[] keys, string candidate)
    {
        var candidateBytes = Encoding.UTF8.GetBytes(candidate);
        var found = false;
        foreach (var key in keys)
        {
            found |= !string.IsNullOrEmpty(key) && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(key), candidateBytes);
        }

        return found;
    }
}
