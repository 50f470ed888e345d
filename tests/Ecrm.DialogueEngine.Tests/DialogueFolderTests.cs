using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Folding;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>The fold script on a real redis-server.</summary>
public sealed class DialogueFolderTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static readonly DateTimeOffset Start = new(2026, 11, 1, 9, 0, 0, TimeSpan.Zero);
    private readonly TopicMatcher _matcher = new(CatalogSamples.Oled(version: 3));
    private readonly DialogueStore _store = new(redis.Connection, new EngineOptions().Dedupe);
    private readonly DialogueFolder _folder = new(new DialogueStore(redis.Connection, new EngineOptions().Dedupe));
    private readonly DialogueReader _reader = new(redis.Connection);
    private readonly string _customer = $"c-{Guid.NewGuid():N}";

    [Fact]
    public async Task StageMovesToTheDeepestStageReachedAndRecordsEachTransition()
    {
        var intro = await FoldAsync(Page("/tv/oled-55"), Start);
        var specs = await FoldAsync(Page("/tv/oled-55/specs"), Start.AddMinutes(5));
        var introAgain = await FoldAsync(Page("/tv/oled-55"), Start.AddMinutes(9));

        Assert.Equal([new StageTransition(_customer, "tv-oled-55", 0, 1, 3)], intro.Transitions);
        Assert.Equal([new StageTransition(_customer, "tv-oled-55", 1, 2, 3)], specs.Transitions);
        Assert.Empty(introAgain.Transitions);
        var dialogue = Assert.Single(await _reader.ReadAsync(_customer));
        Assert.Equal(2, dialogue.Stage);
        Assert.Equal(DialogueStatus.Open, dialogue.Status);
        Assert.Equal(Start, dialogue.FirstInteraction);
        Assert.Equal(Start.AddMinutes(9), dialogue.LastInteraction);
        Assert.Equal(3, dialogue.InteractionsByChannel["web"]);
        Assert.Equal([new StageReached(1, Start, "web"), new StageReached(2, Start.AddMinutes(5), "web")], dialogue.StagesReached);
        Assert.Equal(3, dialogue.CatalogVersion);
    }

    [Fact]
    public async Task FoldIsIdempotentForRepeatedEvent()
    {
        var item = Page("/tv/oled-55/specs");
        await FoldAsync(item, Start);
        var before = await _reader.ReadOneAsync(_customer, "tv-oled-55");

        var again = await FoldAsync(item, Start);

        Assert.Equivalent(before, await _reader.ReadOneAsync(_customer, "tv-oled-55"), strict: true);
        // Not published yet: the repeat hands its stage change back, to be published again.
        Assert.Equal([new StageTransition(_customer, "tv-oled-55", 0, 2, 3)], again.Transitions);
    }

    [Fact]
    public async Task PublishedEventIsDroppedOutrightWhenItComesAgain()
    {
        var item = Page("/tv/oled-55");
        await FoldAsync(item, Start);
        await _store.MarkPublishedAsync(_customer, [item.MessageId!]);

        var again = await FoldAsync(item, Start);

        Assert.Empty(again.Transitions);
        Assert.Equal(1, Assert.Single(await _reader.ReadAsync(_customer)).InteractionsByChannel["web"]);
    }

    [Fact]
    public async Task AKafkaRedeliveryIsKnownByItsOffsetAndAResendByItsMessageId()
    {
        var first = Stamped(Page("/tv/oled-55"), Start);
        await _folder.FoldAsync([new FoldItem(first, 2, 10)], _matcher);

        // Re-delivered by Kafka (after a crash or a rebalance): the same offset, and an earlier one of the
        // same partition whatever its id, are applied already.
        var redelivered = await _folder.FoldAsync([new FoldItem(first, 2, 10), new FoldItem(Stamped(Page("/tv/oled-55"), Start), 2, 9)], _matcher);
        // Re-sent by a client or the collector's spool: a new offset, the same message id.
        var resent = await _folder.FoldAsync([new FoldItem(first, 2, 25)], _matcher);

        Assert.All(redelivered.Concat(resent), outcome => Assert.Null(outcome.DeadReason));
        Assert.Equal(1, Assert.Single(await _reader.ReadAsync(_customer)).InteractionsByChannel["web"]);
        // A later offset with a new id is new.
        await _folder.FoldAsync([new FoldItem(Stamped(Page("/tv/oled-55"), Start.AddMinutes(1)), 2, 26)], _matcher);
        Assert.Equal(2, Assert.Single(await _reader.ReadAsync(_customer)).InteractionsByChannel["web"]);
    }

    [Fact]
    public async Task AFoldRunsByTheScriptsHashAndLoadsTheScriptAgainWhenRedisForgotIt()
    {
        await FoldAsync(Page("/tv/oled-55"), Start);
        // A restarted Redis has no scripts: the call by hash is refused (NOSCRIPT) and repeated with the text.
        await redis.Connection.GetDatabase().ExecuteAsync("SCRIPT", "FLUSH");

        var specs = await FoldAsync(Page("/tv/oled-55/specs"), Start.AddMinutes(5));

        Assert.Equal([new StageTransition(_customer, "tv-oled-55", 1, 2, 3)], specs.Transitions);
        Assert.Equal(2, (await _reader.ReadOneAsync(_customer, "tv-oled-55"))!.Stage);
    }

    [Fact]
    public async Task TheDedupeStateIsOneHashThatExpiresTheRetentionAfterTheCustomersLastFold()
    {
        await FoldAsync(Page("/tv/oled-55"), Start);

        var database = redis.Connection.GetDatabase();
        var timeToLive = await database.KeyTimeToLiveAsync(RedisKeys.FoldState(_customer));
        Assert.InRange(timeToLive!.Value, new EngineOptions().Dedupe.StateRetention - TimeSpan.FromMinutes(1), new EngineOptions().Dedupe.StateRetention);
        Assert.Equal(8, (await database.HashGetAsync(RedisKeys.FoldState(_customer), FoldStateFields.RecentIds)).Length());
    }

    [Fact]
    public async Task ACustomerRemembersOnlyItsLatestMessageIdsUpToTheLimit()
    {
        var folder = new DialogueFolder(new DialogueStore(redis.Connection, new DedupePolicy(TimeSpan.FromDays(1), 3)));
        var items = Enumerable.Range(0, 5).Select(i => Stamped(Page("/tv/oled-55"), Start.AddMinutes(i))).ToList();
        await folder.FoldAsync([.. items.Select(item => new FoldItem(item, -1, -1))], _matcher);

        Assert.False(await _store.FoldedRecentlyAsync(_customer, items[1].MessageId!));
        Assert.True(await _store.FoldedRecentlyAsync(_customer, items[2].MessageId!));
        Assert.True(await _store.FoldedRecentlyAsync(_customer, items[4].MessageId!));
        // Re-sent (no Kafka offset to tell it by): the latest three are known, an older one folds again.
        await folder.FoldAsync([new FoldItem(items[4], -1, -1), new FoldItem(items[0], -1, -1)], _matcher);
        Assert.Equal(6, Assert.Single(await _reader.ReadAsync(_customer)).InteractionsByChannel["web"]);
    }

    [Fact]
    public async Task AMergedVisitorsEventsAndTheCustomersOwnOnOnePartitionAllFoldOnceInOneBatch()
    {
        var visitor = $"v-{Guid.NewGuid():N}";
        await _folder.FoldAsync([new FoldItem(Stamped(Page("/tv/oled-55"), Start, visitor), 0, 1)], _matcher);
        await Folding.Linker(redis.Connection).LinkAsync(visitor, _customer, _matcher.Catalog);

        // The customer's events and the visitor's (followed to the customer) interleave on partition 0.
        FoldItem[] batch =
        [
            new(Stamped(Page("/tv/oled-55"), Start.AddMinutes(1)), 0, 10),
            new(Stamped(Page("/tv/oled-55/specs"), Start.AddMinutes(2), visitor), 0, 11),
            new(Stamped(Page("/tv/oled-55"), Start.AddMinutes(3)), 0, 12),
        ];
        var outcomes = await _folder.FoldAsync(batch, _matcher);
        await _folder.FoldAsync(batch, _matcher);

        Assert.All(outcomes, outcome => Assert.Equal(_customer, outcome.Customer));
        var dialogue = Assert.Single(await _reader.ReadAsync(_customer));
        Assert.Equal((2, 4), (dialogue.Stage, (int)dialogue.InteractionsByChannel["web"]));
        // The visitor's fold before the merge, re-delivered, is not counted again either.
        await _folder.FoldAsync([new FoldItem(Stamped(Page("/tv/oled-55"), Start, visitor), 0, 1)], _matcher);
        Assert.Equal(4, Assert.Single(await _reader.ReadAsync(_customer)).InteractionsByChannel["web"]);
    }

    [Fact]
    public async Task AnEventThatCannotBeAppliedSaysWhyWritesNothingAndTheRestOfTheBatchFolds()
    {
        var other = $"c-{Guid.NewGuid():N}";
        await redis.Connection.GetDatabase().HashSetAsync(RedisKeys.Dialogue(_customer, "tv-oled-55"), DialogueFields.Stage, "abc");

        var outcomes = await _folder.FoldAsync(
            [new FoldItem(Stamped(Page("/tv/oled-55/specs"), Start), 1, 5), new FoldItem(Stamped(Page("/tv/oled-55/specs"), Start, other), 1, 6)], _matcher);

        Assert.Contains("corrupt", outcomes[0].DeadReason, StringComparison.Ordinal);
        Assert.Null(outcomes[1].DeadReason);
        Assert.Equal(2, Assert.Single(await _reader.ReadAsync(other)).Stage);
        Assert.Equal("abc", (string?)await redis.Connection.GetDatabase().HashGetAsync(RedisKeys.Dialogue(_customer, "tv-oled-55"), DialogueFields.Stage));
        // Its re-delivery is known and not sent to the dead letters again.
        Assert.Null((await _folder.FoldAsync([new FoldItem(Stamped(Page("/tv/oled-55/specs"), Start), 1, 5)], _matcher))[0].DeadReason);
    }

    [Fact]
    public async Task ReachingTheLastStageConvertsTheDialogue()
    {
        var order = new EventEnvelope
        {
            Type = EventType.Track,
            Channel = Channel.Mobile,
            Event = "Order Completed",
            Properties = System.Text.Json.JsonDocument.Parse("""{"sku":"oled-55"}""").RootElement,
        };

        var outcome = await FoldAsync(order, Start);

        Assert.Equal([new StageTransition(_customer, "tv-oled-55", 0, 4, 3)], outcome.Transitions);
        var dialogue = Assert.Single(await _reader.ReadAsync(_customer));
        Assert.Equal(DialogueStatus.Converted, dialogue.Status);
        Assert.Equal("mobile", dialogue.StagesReached.Single().Channel);
    }

    [Fact]
    public async Task EarlierEventArrivingLateDoesNotMoveLastInteractionBack()
    {
        await FoldAsync(Page("/tv/oled-55/specs"), Start.AddHours(1));
        await FoldAsync(Page("/tv/oled-55"), Start);

        var dialogue = Assert.Single(await _reader.ReadAsync(_customer));
        Assert.Equal(2, dialogue.Stage);
        Assert.Equal(Start, dialogue.FirstInteraction);
        Assert.Equal(Start.AddHours(1), dialogue.LastInteraction);
        Assert.Equal([new StageReached(1, Start, "web"), new StageReached(2, Start.AddHours(1), "web")], dialogue.StagesReached);
    }

    [Fact]
    public async Task LateEventReachingAStageEarlierMovesThatStagesTimeBackButNotTheStage()
    {
        await FoldAsync(Page("/tv/oled-55/specs"), Start.AddHours(2));
        var late = Page("/tv/oled-55/specs");
        late.Channel = Channel.Web;
        var outcome = await FoldAsync(late, Start);

        Assert.Empty(outcome.Transitions);
        var dialogue = Assert.Single(await _reader.ReadAsync(_customer));
        Assert.Equal([new StageReached(2, Start, "web")], dialogue.StagesReached);
    }

    [Fact]
    public async Task IdleDialogueReadsAsDormantAndItsNextInteractionOpensANewEpisode()
    {
        var settings = _matcher.Catalog.Settings;
        await FoldAsync(Page("/tv/oled-55"), Start);
        await FoldAsync(Page("/tv/oled-55/specs"), Start.AddDays(1));
        var before = Assert.Single(await _reader.ReadAsync(_customer));
        Assert.Equal(DialogueStatus.Open, before.StatusAt(Start.AddDays(30), settings));
        Assert.Equal(DialogueStatus.Dormant, before.StatusAt(Start.AddDays(31), settings));

        var comeback = await FoldAsync(Page("/tv/oled-55"), Start.AddDays(40));

        Assert.Equal([new StageTransition(_customer, "tv-oled-55", 0, 1, 3, Episode: 2)], comeback.Transitions);
        var dialogue = Assert.Single(await _reader.ReadAsync(_customer));
        Assert.Equal((2, 1, DialogueStatus.Open), (dialogue.Episode, dialogue.Stage, dialogue.StatusAt(Start.AddDays(40), settings)));
        Assert.Equal(Start.AddDays(40), dialogue.FirstInteraction);
        Assert.Equal(1, dialogue.InteractionsByChannel["web"]);
        // The finished episode stays in the dialogue's history as it ended.
        var finished = Assert.Single(await _reader.ReadHistoryAsync(_customer, "tv-oled-55"));
        Assert.Equal(("1", "2", "2"), (finished["ep"], finished["stage"], finished["n:web"]));
    }

    [Fact]
    public async Task InteractionAfterConversionOpensANewEpisodeAndOneBeforeItFillsTheConvertedOne()
    {
        await FoldAsync(Page("/tv/oled-55/specs"), Start);
        await FoldAsync(Order(), Start.AddHours(1));

        var lateSpecs = await FoldAsync(Page("/tv/oled-55/specs"), Start.AddMinutes(30));
        Assert.Empty(lateSpecs.Transitions);
        // The order confirmation an hour later is still the converted episode's (a 24-hour grace).
        var confirmation = await FoldAsync(Page("/tv/oled-55"), Start.AddHours(2));
        Assert.Empty(confirmation.Transitions);
        Assert.Equal((1, 4), Assert.Single(await _reader.ReadAsync(_customer)) is var d ? (d.Episode, d.Stage) : default);

        var nextVisit = await FoldAsync(Page("/tv/oled-55"), Start.AddDays(2));

        Assert.Equal([new StageTransition(_customer, "tv-oled-55", 0, 1, 3, Episode: 2)], nextVisit.Transitions);
        var dialogue = Assert.Single(await _reader.ReadAsync(_customer));
        Assert.Equal((2, 1, DialogueStatus.Open), (dialogue.Episode, dialogue.Stage, dialogue.Status));
        Assert.Equal(DialogueStatus.Converted, Assert.Single(await _reader.ReadHistoryAsync(_customer, "tv-oled-55"))["status"]);
    }

    [Fact]
    public async Task LateEventFromAnEarlierEpisodeIsCountedButMovesNothingInTheCurrentOne()
    {
        await FoldAsync(Page("/tv/oled-55"), Start);
        await FoldAsync(Page("/tv/oled-55"), Start.AddDays(60));

        var late = await FoldAsync(Page("/tv/oled-55/specs"), Start.AddDays(1));

        Assert.Empty(late.Transitions);
        var dialogue = Assert.Single(await _reader.ReadAsync(_customer));
        Assert.Equal((2, 1, Start.AddDays(60)), (dialogue.Episode, dialogue.Stage, dialogue.FirstInteraction));
        Assert.Equal(2, dialogue.InteractionsByChannel["web"]);
    }

    [Fact]
    public async Task InterestScoreAddsStageWeightsAndHalvesEveryHalfLife()
    {
        var settings = _matcher.Catalog.Settings;
        var halfLife = settings.ScoreHalfLife;
        await FoldAsync(Page("/tv/oled-55"), Start);
        await FoldAsync(Page("/tv/oled-55/specs"), Start + halfLife);
        // Arriving late, one half-life before the last interaction: its weight 1 counts half.
        await FoldAsync(Page("/tv/oled-55"), Start);

        var dialogue = Assert.Single(await _reader.ReadAsync(_customer));
        // 1 halved once, plus 2, plus the late 1 halved once.
        Assert.Equal(3.0, dialogue.ScoreAtLastInteraction, 5);
        Assert.Equal(1.5, dialogue.ScoreAt(Start + 2 * halfLife, settings), 5);
    }

    [Fact]
    public async Task CustomerIdsWithBracesStayDistinct()
    {
        var tricky = $"{_customer}}}:dlg:x{{";
        var item = Page("/tv/oled-55");
        item.AnonymousId = tricky;
        item.MessageId = Guid.NewGuid().ToString();
        item.Timestamp = Start;

        await _folder.FoldAsync([new FoldItem(item, 0, 1)], _matcher);

        Assert.Single(await _reader.ReadAsync(tricky));
        Assert.Empty(await _reader.ReadAsync(_customer));
    }

    /// <summary>The event as the customer's (or <paramref name="id"/>'s) at a time, with a new message id.</summary>
    private EventEnvelope Stamped(EventEnvelope item, DateTimeOffset at, string? id = null)
    {
        item.AnonymousId = id ?? _customer;
        item.MessageId = Guid.NewGuid().ToString();
        item.Timestamp = at;
        item.Channel ??= Channel.Web;
        return item;
    }

    private async Task<FoldOutcome> FoldAsync(EventEnvelope item, DateTimeOffset at)
    {
        item.AnonymousId = _customer;
        item.MessageId ??= Guid.NewGuid().ToString();
        item.Timestamp = at;
        item.Channel ??= Channel.Web;
        return (await _folder.FoldAsync([new FoldItem(item, -1, -1)], _matcher))[0];
    }

    private static EventEnvelope Order() => new()
    {
        Type = EventType.Track,
        Channel = Channel.Web,
        Event = "Order Completed",
        Properties = System.Text.Json.JsonDocument.Parse("""{"sku":"oled-55"}""").RootElement,
    };

    private static EventEnvelope Page(string path) =>
        new() { Type = EventType.Page, Channel = Channel.Web, Context = new EventContext { Page = new PageContext { Path = path } } };
}
