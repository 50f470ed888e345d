using Ecrm.Common.Events;
using Ecrm.Common.Hosting;

namespace Ecrm.Collector.Ingestion;

/// <summary>
/// A browser source's write key is public: any page, or anyone with curl, can send with it and name
/// any user id. Its events are flagged <see cref="EventFlags.UnverifiedIdentity"/> unless they carry
/// the site server's signature of their user id (<see cref="IdentityVerification"/>), and the engine
/// then keeps them from merging into, or rewriting protected traits of, a known customer. Server
/// sources (no allowed origins: their key is a secret) keep full rights.
/// </summary>
public static class BrowserIdentity
{
    /// <summary>Flags the event unless its identity is verified; the signature itself is dropped, it has done its work.</summary>
    public static void Check(EventEnvelope item, Source source, AuthOptions auth)
    {
        string? userHash = null;
        if (item.Context?.Extra is { } extra && extra.Remove(IdentityVerification.ContextField, out var given))
        {
            userHash = given.ValueKind == System.Text.Json.JsonValueKind.String ? given.GetString() : null;
        }

        if (!source.IsBrowserSource || IdentityVerification.IsValid(auth, source.Options.WriteKey, item.UserId, userHash))
        {
            return;
        }

        (item.Flags ??= []).Add(EventFlags.UnverifiedIdentity);
    }
}
