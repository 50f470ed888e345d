using System.Text.Json;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Folding;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>
/// What an event flagged <see cref="EventFlags.UnverifiedIdentity"/> (a browser's public key, no
/// signature of the user id) may do to known customers, on a real redis-server: add its interaction,
/// but neither merge a visitor into them nor change their protected traits.
/// </summary>
public sealed class UnverifiedIdentityTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly DateTimeOffset Start = new(2026, 11, 1, 9, 0, 0, TimeSpan.Zero);
    private readonly string _run = Guid.NewGuid().ToString("N")[..8];
    private readonly TopicMatcher _matcher = new(CatalogSamples.Oled(version: 5));

    private BatchFolder Folder() => Folding.Batch(redis.Connection, new AuthOptions { ProtectedTraits = ["vipTier"] });

    [Fact]
    public async Task AnUnsignedIdentifyNamingAKnownCustomerNeitherMergesNorRewritesTheirProtectedTraits()
    {
        var victim = $"kim-{_run}";
        var attacker = $"visitor-{_run}";
        var folder = Folder();
        // The victim is known: their own server sent an event naming them.
        await folder.FoldAsync([Track(null, victim, verified: true), Identify(null, victim, """{"email":"kim@shop.example","name":"Kim"}""", verified: true)], _matcher);
        await folder.FoldAsync([Page(attacker, "/tv/oled-55/specs")], _matcher);

        var result = await folder.FoldAsync([Identify(attacker, victim, """{"email":"attacker@evil.example","phone":"+82100","vipTier":"gold","suppressed":true,"name":"Mallory"}""", verified: false)], _matcher);

        var traits = (await redis.Connection.GetDatabase().HashGetAllAsync(RedisKeys.Traits(victim))).ToDictionary(e => (string)e.Name!, e => (string)e.Value!);
        Assert.Equal("\"kim@shop.example\"", traits["email"]);
        Assert.False(traits.ContainsKey("phone"));
        Assert.False(traits.ContainsKey("vipTier"));
        Assert.False(traits.ContainsKey("suppressed"));
        Assert.Equal("\"Mallory\"", traits["name"]); // not protected: a display name rewrites nothing that routes messages
        Assert.DoesNotContain(result.Changes, c => c.Kind == DialogueChangeKinds.Link);
        Assert.False(await redis.Connection.GetDatabase().KeyExistsAsync(RedisKeys.Owner(attacker)));
        // The attacker's own browsing stayed theirs.
        Assert.Equal(2, Assert.Single(await new DialogueReader(redis.Connection).ReadAsync(attacker)).Stage);
    }

    [Fact]
    public async Task AnUnsignedIdentifyUsingAKnownCustomersIdAsItsAnonymousIdChangesNoProtectedTrait()
    {
        var victim = $"lee-{_run}";
        var folder = Folder();
        await folder.FoldAsync([Track(null, victim, verified: true)], _matcher);

        await folder.FoldAsync([Identify(victim, null, """{"email":"attacker@evil.example"}""", verified: false)], _matcher);

        Assert.False(await redis.Connection.GetDatabase().HashExistsAsync(RedisKeys.Traits(victim), "email"));
    }

    [Fact]
    public async Task ABrowserSigningUpANewUserStillMergesItsVisitorAndKeepsTheirEmailEvenWithTheirEventsInTheSameBatch()
    {
        var visitor = $"visitor-{_run}";
        var newUser = $"new-{_run}";
        var folder = Folder();
        await folder.FoldAsync([Page(visitor, "/tv/oled-55/specs")], _matcher);

        var result = await folder.FoldAsync(
            [Identify(visitor, newUser, """{"email":"new@shop.example"}""", verified: false), Track(visitor, newUser, verified: false)], _matcher);

        Assert.Contains(result.Changes, c => c.Kind == DialogueChangeKinds.Link && c.Customer == newUser && c.LinkedId == visitor);
        Assert.Equal("\"new@shop.example\"", (string?)await redis.Connection.GetDatabase().HashGetAsync(RedisKeys.Traits(newUser), "email"));
        Assert.Equal(2, Assert.Single(await new DialogueReader(redis.Connection).ReadAsync(newUser)).Stage);

        // The same identify re-delivered later, when the user is known (by its own first delivery), changes nothing and is not refused.
        var again = await folder.FoldAsync([Identify(visitor, newUser, """{"email":"new@shop.example"}""", verified: false)], _matcher);
        Assert.Equal(newUser, (string?)await redis.Connection.GetDatabase().StringGetAsync(RedisKeys.Owner(visitor)));
        Assert.DoesNotContain(again.Changes, c => c.Kind == DialogueChangeKinds.Stage);
    }

    [Fact]
    public async Task ABrowserSignUpWhoseEventsFoldedABatchAheadOfItsIdentifyStillMerges()
    {
        // Also what an engine killed between a batch's folds and its links sees when the identify comes again.
        var visitor = $"visitor-{_run}";
        var newUser = $"early-{_run}";
        var folder = Folder();
        await folder.FoldAsync([Page(visitor, "/tv/oled-55/specs"), Track(visitor, newUser, verified: false)], _matcher);

        var result = await folder.FoldAsync([Identify(visitor, newUser, """{"email":"early@shop.example"}""", verified: false)], _matcher);

        Assert.Contains(result.Changes, c => c.Kind == DialogueChangeKinds.Link && c.Customer == newUser && c.LinkedId == visitor);
        Assert.Equal("\"early@shop.example\"", (string?)await redis.Connection.GetDatabase().HashGetAsync(RedisKeys.Traits(newUser), "email"));
    }

    [Fact]
    public async Task AVerifiedIdentifyMergesIntoAKnownCustomerAndSetsTheirEmail()
    {
        var customer = $"park-{_run}";
        var laptop = $"laptop-{_run}";
        var folder = Folder();
        await folder.FoldAsync([Track(null, customer, verified: true), Page(laptop, "/tv/oled-55/specs")], _matcher);

        var result = await folder.FoldAsync([Identify(laptop, customer, """{"email":"park@shop.example"}""", verified: true)], _matcher);

        Assert.Contains(result.Changes, c => c.Kind == DialogueChangeKinds.Link && c.Customer == customer);
        Assert.Equal("\"park@shop.example\"", (string?)await redis.Connection.GetDatabase().HashGetAsync(RedisKeys.Traits(customer), "email"));
    }

    private static EventEnvelope Identify(string? anonymousId, string? userId, string traits, bool verified) => new()
    {
        Type = EventType.Identify, AnonymousId = anonymousId, UserId = userId, MessageId = Guid.NewGuid().ToString(),
        Timestamp = Start.AddMinutes(5), Channel = Channel.Web, Traits = JsonDocument.Parse(traits).RootElement,
        Flags = verified ? null : [EventFlags.UnverifiedIdentity],
    };

    private static EventEnvelope Track(string? anonymousId, string userId, bool verified) => new()
    {
        Type = EventType.Track, Event = "Account Viewed", AnonymousId = anonymousId, UserId = userId, MessageId = Guid.NewGuid().ToString(),
        Timestamp = Start.AddMinutes(6), Channel = Channel.Server,
        Flags = verified ? null : [EventFlags.UnverifiedIdentity],
    };

    private static EventEnvelope Page(string anonymousId, string path) => new()
    {
        Type = EventType.Page, AnonymousId = anonymousId, MessageId = Guid.NewGuid().ToString(), Timestamp = Start, Channel = Channel.Web,
        Flags = [EventFlags.UnverifiedIdentity],
        Context = new EventContext { Page = new PageContext { Path = path } },
    };
}
