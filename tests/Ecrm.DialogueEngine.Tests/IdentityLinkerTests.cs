using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Folding;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>Identity links and dialogue merges on a real redis-server.</summary>
public sealed class IdentityLinkerTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly DateTimeOffset Start = new(2026, 11, 1, 9, 0, 0, TimeSpan.Zero);
    private readonly TopicMatcher _matcher = new(CatalogSamples.Oled(version: 5));
    private readonly DialogueFolder _folder = Folding.Folder(redis.Connection);
    private readonly IdentityLinker _linker = Folding.Linker(redis.Connection);
    private readonly DialogueReader _reader = new(redis.Connection);
    private readonly string _anonymous = $"anon-{Guid.NewGuid():N}";
    private readonly string _user = $"user-{Guid.NewGuid():N}";

    [Fact]
    public async Task LinkMergesTheAnonymousDialoguesDeeperStageEarliestTimesSummedCounts()
    {
        await FoldAsync(_anonymous, Page("/tv/oled-55"), Start);
        await FoldAsync(_anonymous, Page("/tv/oled-55/specs"), Start.AddMinutes(10), Channel.Web);
        await FoldAsync(_user, Page("/tv/oled-55"), Start.AddHours(1));

        var (outcome, transitions) = await _linker.LinkAsync(_anonymous, _user, _matcher.Catalog);

        Assert.Equal(LinkOutcome.Linked, outcome);
        Assert.Equal([new StageTransition(_user, "tv-oled-55", 1, 2, 5)], transitions);
        var dialogue = Assert.Single(await _reader.ReadAsync(_user));
        Assert.Equal(2, dialogue.Stage);
        Assert.Equal(Start, dialogue.FirstInteraction);
        Assert.Equal(Start.AddHours(1), dialogue.LastInteraction);
        Assert.Equal(3, dialogue.InteractionsByChannel["web"]);
        Assert.Equal([new StageReached(1, Start, "web"), new StageReached(2, Start.AddMinutes(10), "web")], dialogue.StagesReached);
        Assert.Null(await _reader.ReadOneAsync(_anonymous, "tv-oled-55"));
    }

    [Fact]
    public async Task LaterEventsOfTheAnonymousIdFoldIntoTheCustomer()
    {
        await FoldAsync(_anonymous, Page("/tv/oled-55"), Start);
        await _linker.LinkAsync(_anonymous, _user, _matcher.Catalog);

        var outcome = await FoldAsync(_anonymous, Page("/tv/oled-55/specs"), Start.AddDays(1));

        Assert.Equal(_user, outcome.Customer);
        Assert.Equal([new StageTransition(_user, "tv-oled-55", 1, 2, 5)], outcome.Transitions);
        Assert.Equal(2, Assert.Single(await _reader.ReadAsync(_user)).Stage);
        // The anonymous id reads as its customer.
        Assert.Equal(2, Assert.Single(await _reader.ReadAsync(_anonymous)).Stage);
    }

    [Fact]
    public async Task EventFoldedBeforeTheMergeAndRedeliveredAfterItCountsOnce()
    {
        var page = Page("/tv/oled-55");
        await FoldAsync(_anonymous, page, Start);
        await _linker.LinkAsync(_anonymous, _user, _matcher.Catalog);

        // The same message again, as after a crashed engine's partition moved to another instance.
        var matches = new List<TopicStage>();
        _matcher.Match(page, matches);
        await _folder.FoldOneAsync(page, _matcher);

        Assert.Equal(1, Assert.Single(await _reader.ReadAsync(_user)).InteractionsByChannel["web"]);
    }

    [Fact]
    public async Task RepeatedLinkAddsNothing()
    {
        await FoldAsync(_anonymous, Page("/tv/oled-55"), Start);
        await _linker.LinkAsync(_anonymous, _user, _matcher.Catalog);
        var before = await _reader.ReadOneAsync(_user, "tv-oled-55");

        var (outcome, transitions) = await _linker.LinkAsync(_anonymous, _user, _matcher.Catalog);

        Assert.Equal(LinkOutcome.AlreadyLinked, outcome);
        Assert.Empty(transitions);
        Assert.Equivalent(before, await _reader.ReadOneAsync(_user, "tv-oled-55"), strict: true);
    }

    [Fact]
    public async Task AnIdOfOneCustomerIsNotMergedIntoAnother()
    {
        await FoldAsync(_anonymous, Page("/tv/oled-55"), Start);
        await _linker.LinkAsync(_anonymous, _user, _matcher.Catalog);
        var other = $"user-{Guid.NewGuid():N}";

        var (outcome, _) = await _linker.LinkAsync(_anonymous, other, _matcher.Catalog);

        Assert.Equal(LinkOutcome.Refused, outcome);
        Assert.Empty(await _reader.ReadAsync(other));
        Assert.Single(await _reader.ReadAsync(_user));
    }

    [Fact]
    public async Task TwoKnownCustomersAreNotMergedUnlessTheCatalogAllowsIt()
    {
        var earlierUser = $"user-{Guid.NewGuid():N}";
        await FoldAsync(earlierUser, Page("/tv/oled-55/specs"), Start, asUser: true);
        // Identified: a known customer.
        await _linker.SaveTraitsAsync(earlierUser, System.Text.Json.JsonDocument.Parse("""{"name":"Kim"}""").RootElement);
        var (unknownLinked, _) = await _linker.LinkAsync($"user-{Guid.NewGuid():N}", _user, _matcher.Catalog);

        var (refused, _) = await _linker.LinkAsync(earlierUser, _user, _matcher.Catalog);
        var allowing = TopicCatalog.Parse(CatalogSamples.OledCatalog.Replace("{\"stages\"", "{\"settings\": {\"mergeKnownCustomers\": true}, \"stages\"", StringComparison.Ordinal), 6).Catalog!;
        var (linked, transitions) = await _linker.LinkAsync(earlierUser, _user, allowing);

        Assert.Equal(LinkOutcome.AlreadyLinked, unknownLinked);
        Assert.Equal(LinkOutcome.Refused, refused);
        Assert.Equal(LinkOutcome.Linked, linked);
        Assert.Equal([new StageTransition(_user, "tv-oled-55", 0, 2, 6)], transitions);
    }

    [Fact]
    public async Task MergedScoreIsBothScoresDecayedToTheLaterInteraction()
    {
        var halfLife = _matcher.Catalog.Settings.ScoreHalfLife;
        await FoldAsync(_anonymous, Page("/tv/oled-55/specs"), Start);
        await FoldAsync(_user, Page("/tv/oled-55"), Start + halfLife);

        await _linker.LinkAsync(_anonymous, _user, _matcher.Catalog);

        // 2 halved once, plus 1.
        Assert.Equal(2.0, Assert.Single(await _reader.ReadAsync(_user)).ScoreAtLastInteraction, 5);
    }

    [Fact]
    public async Task InterruptedMergeIsCompletedByTheRepeatedLink()
    {
        await FoldAsync(_anonymous, Page("/tv/oled-55/specs"), Start);
        // As if the engine crashed right after claiming the id: the owner is set, nothing merged yet.
        await redis.Connection.GetDatabase().StringSetAsync(RedisKeys.Owner(_anonymous), _user);

        var (outcome, transitions) = await _linker.LinkAsync(_anonymous, _user, _matcher.Catalog);

        Assert.Equal(LinkOutcome.Linked, outcome);
        Assert.Equal([new StageTransition(_user, "tv-oled-55", 0, 2, 5)], transitions);
        Assert.Equal(2, Assert.Single(await _reader.ReadAsync(_user)).Stage);
    }

    private async Task<FoldOutcome> FoldAsync(string customer, EventEnvelope item, DateTimeOffset at, Channel channel = Channel.Web, bool asUser = false)
    {
        if (asUser)
        {
            item.UserId = customer;
        }
        else
        {
            item.AnonymousId = customer;
        }

        item.MessageId = Guid.NewGuid().ToString();
        item.Timestamp = at;
        item.Channel = channel;
        var matches = new List<TopicStage>();
        _matcher.Match(item, matches);
        return await _folder.FoldOneAsync(item, _matcher);
    }

    private static EventEnvelope Page(string path) =>
        new() { Type = EventType.Page, Context = new EventContext { Page = new PageContext { Path = path } } };
}
