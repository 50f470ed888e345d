using System.Text.Json;
using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Folding;
using Ecrm.Testing;
using Microsoft.Extensions.Options;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>A batch's identity work in lanes: grouping, and the merges it makes on a real redis-server.</summary>
public sealed class IdentityLanesTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly DateTimeOffset Start = new(2026, 11, 1, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public void ItemsSharingAnIdDirectlyOrThroughOthersShareALaneInBatchOrder()
    {
        EventEnvelope[] items =
        [
            Identify("v1", "alice"),                  // 0
            Page("v9"),                               // 1: no identity work
            Identify("v2", "bob"),                    // 2
            Alias("alice", "alice-2"),                // 3: through alice, with 0
            Identify(null, "carol", traits: true),    // 4: traits only
            Identify("v3", "alice-2"),                // 5: through alice-2, with 0 and 3
            Identify("v4", "carol"),                  // 6: with 4
            Identify("v5", "v5"),                     // 7: links nothing, no traits
            Identify("v6", "dave", traits: true),     // 8
        ];

        var lanes = IdentityLanes.Of(items).Select(l => string.Join(',', l)).Order().ToArray();

        Assert.Equal(["0,3,5", "2", "4,6", "8"], lanes);
    }

    [Fact]
    public void OnlyIdentifyAndAliasWithTwoDifferentIdsLink()
    {
        Assert.Equal(("v1", "alice"), IdentityLanes.LinkOf(Identify("v1", "alice")));
        Assert.Equal(("alice", "alice-2"), IdentityLanes.LinkOf(Alias("alice", "alice-2")));
        Assert.Null(IdentityLanes.LinkOf(Identify("v1", "v1")));
        Assert.Null(IdentityLanes.LinkOf(Identify(null, "alice")));
        Assert.Null(IdentityLanes.LinkOf(Page("v1")));
    }

    /// <summary>
    /// Forty visitors each reach the specs page and are identified, all in one batch, and two more
    /// visitors are identified as the same customer: every merge lands once, and the batch's changes
    /// come in the order of its items.
    /// </summary>
    [Fact]
    public async Task ABatchOfManyIdentifiesMergesEachVisitorOnceAndReportsTheLinksInBatchOrder()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var options = Options.Create(new EngineOptions());
        var folder = Folding.Batch(redis.Connection);
        var matcher = new TopicMatcher(CatalogSamples.Oled(version: 5));
        var pages = Enumerable.Range(0, 42).Select(i => Page($"v{i}-{run}", "/tv/oled-55/specs")).ToList();
        var identifies = Enumerable.Range(0, 40).Select(i => Identify($"v{i}-{run}", $"user{i}-{run}"))
            .Append(Identify($"v40-{run}", $"shared-{run}")).Append(Identify($"v41-{run}", $"shared-{run}")).ToList();

        var result = await folder.FoldAsync([.. pages, .. identifies], matcher);

        var links = result.Changes.Where(c => c.Kind == DialogueChangeKinds.Link).ToList();
        Assert.Equal(identifies.Select(i => $"{i.AnonymousId}>{i.UserId}"), links.Select(l => $"{l.LinkedId}>{l.Customer}"));
        var reader = new DialogueReader(redis.Connection);
        foreach (var identify in identifies)
        {
            Assert.Equal(2, Assert.Single(await reader.ReadAsync(identify.UserId!)).Stage);
            Assert.Equal(identify.UserId, await redis.Connection.GetDatabase().StringGetAsync(RedisKeys.Owner(identify.AnonymousId!)));
        }

        // Re-delivered once announced: nothing moves again.
        await folder.MarkPublishedAsync(result);
        var again = await folder.FoldAsync([.. pages, .. identifies], matcher);
        Assert.DoesNotContain(again.Changes, c => c.Kind == DialogueChangeKinds.Stage);
        Assert.Equal(2, Assert.Single(await reader.ReadAsync($"shared-{run}")).Stage);
    }

    private static EventEnvelope Identify(string? anonymousId, string userId, bool traits = false) => new()
    {
        Type = EventType.Identify, AnonymousId = anonymousId, UserId = userId, MessageId = Guid.NewGuid().ToString(),
        Timestamp = Start.AddMinutes(5), Channel = Channel.Web,
        Traits = traits ? JsonDocument.Parse("""{"plan":"pro"}""").RootElement : null,
    };

    private static EventEnvelope Alias(string previousId, string userId) => new()
    {
        Type = EventType.Alias, PreviousId = previousId, UserId = userId, MessageId = Guid.NewGuid().ToString(), Timestamp = Start.AddMinutes(6), Channel = Channel.Web,
    };

    private static EventEnvelope Page(string anonymousId, string path = "/tv/oled-55") => new()
    {
        Type = EventType.Page, AnonymousId = anonymousId, MessageId = Guid.NewGuid().ToString(), Timestamp = Start, Channel = Channel.Web,
        Context = new EventContext { Page = new PageContext { Path = path } },
    };
}
