using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ecrm.Collector.Email;

public sealed record EmailOptions
{
    public const string Section = "Email";

    /// <summary>HMAC keys: the first signs new links, every one verifies, so keys can be rotated.</summary>
    [MinLength(1, ErrorMessage = "Email:SigningKeys needs at least one key")]
    public string[] SigningKeys { get; init; } = [];

    /// <summary>How long a minted link or pixel stays valid, unless the request says otherwise.</summary>
    [Range(1, 3650)]
    public int LinkTtlDays { get; init; } = 180;

    /// <summary>The collector's public base URL for minted links (for example https://t.shop.example); without it, nothing is minted.</summary>
    [RegularExpression("^$|^https?://[^/?#\\s]+(/[^?#\\s]*)?$", ErrorMessage = "Email:PublicBaseUrl must be an absolute http or https URL without a query")]
    public string PublicBaseUrl { get; init; } = "";
}

/// <summary>What an email link or open pixel carries. Short JSON names keep the URLs short.</summary>
public sealed record EmailTokenPayload(
    [property: JsonPropertyName("k")] string Kind,
    [property: JsonPropertyName("c")] string Campaign,
    [property: JsonPropertyName("u")] string Customer,
    [property: JsonPropertyName("t")] string? Topic,
    [property: JsonPropertyName("s")] int? Stage,
    [property: JsonPropertyName("r")] string? Target,
    [property: JsonPropertyName("e")] long ExpiresAt)
{
    public const string Open = "o";
    public const string Click = "c";
}

/// <summary>
/// Signed email tokens: base64url(JSON) + "." + base64url(HMAC-SHA256). Only a token this
/// collector signed and that has not expired is ever read, so a link cannot be turned into an
/// open redirect or used to forge another customer's events.
/// </summary>
public sealed class EmailTokens
{
    private readonly byte[][] _keys;
    private readonly TimeProvider _time;

    public EmailTokens(Microsoft.Extensions.Options.IOptions<EmailOptions> options, TimeProvider time)
    {
        _keys = options.Value.SigningKeys.Where(k => !string.IsNullOrEmpty(k)).Select(Encoding.UTF8.GetBytes).ToArray();
        _time = time;
    }

    public string Sign(EmailTokenPayload payload)
    {
        var body = Base64Url(JsonSerializer.SerializeToUtf8Bytes(payload, EmailJsonContext.Default.EmailTokenPayload));
        return $"{body}.{Base64Url(HMACSHA256.HashData(_keys[0], Encoding.ASCII.GetBytes(body)))}";
    }

    /// <summary>The payload of a valid, unexpired token of the given kind; null with the reason otherwise.</summary>
    public EmailTokenPayload? Verify(string token, string kind, out string? reason)
    {
        reason = "the link is not valid";
        var dot = token.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot == token.Length - 1 || token.Length > 4096)
        {
            return null;
        }

        var body = token[..dot];
        byte[] signature;
        byte[] json;
        try
        {
            signature = FromBase64Url(token[(dot + 1)..]);
            json = FromBase64Url(body);
        }
        catch (FormatException)
        {
            return null;
        }

        var signed = false;
        foreach (var key in _keys)
        {
            signed |= CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(body)), signature);
        }

        if (!signed)
        {
            return null;
        }

        EmailTokenPayload? payload;
        try
        {
            payload = JsonSerializer.Deserialize(json, EmailJsonContext.Default.EmailTokenPayload);
        }
        catch (JsonException)
        {
            return null;
        }

        if (payload is null || payload.Kind != kind)
        {
            return null;
        }

        if (payload.ExpiresAt < _time.GetUtcNow().ToUnixTimeSeconds())
        {
            reason = "the link has expired";
            return null;
        }

        reason = null;
        return payload;
    }

    private static string Base64Url(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(padded + new string('=', (4 - padded.Length % 4) % 4));
    }
}

[JsonSerializable(typeof(EmailTokenPayload))]
[JsonSerializable(typeof(MintLinkRequest))]
[JsonSerializable(typeof(MintedLink))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class EmailJsonContext : JsonSerializerContext;
