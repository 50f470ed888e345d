using System.Text.Json;
using Ecrm.Collector.Ingestion;
using Ecrm.Common.Events;
using Microsoft.Extensions.Options;
using Xunit;

namespace Ecrm.Collector.Tests;

public sealed class EventStamperTests
{
    private static readonly DateTimeOffset ReceivedAt = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private readonly EventStamper _stamper = new(Options.Create(new CollectorOptions { MaxEventAgeDays = 30, FutureToleranceSeconds = 300 }));

    [Fact]
    public void TimestampCancelsTheClientClockSkew()
    {
        // The client's clock is 1 hour fast: it says the event happened at 13:00:00 and was sent 5 s later.
        var item = Track();
        item.OriginalTimestamp = ReceivedAt.AddHours(1);
        item.SentAt = ReceivedAt.AddHours(1).AddSeconds(5);

        Assert.Null(_stamper.Stamp(item, null, ReceivedAt));

        Assert.Equal(ReceivedAt.AddSeconds(-5), item.Timestamp);
        Assert.Equal(ReceivedAt, item.ReceivedAt);
    }

    [Theory]
    [InlineData("""{"revenue":1e309}""", "properties.revenue: 1e309")]
    [InlineData("""{"revenue":-1e309}""", "properties.revenue: -1e309")]
    [InlineData("""{"items":[{"price":12.5},{"price":1e-320}]}""", "properties.items[1].price: 1e-320")]
    public void NumbersTheArchiveCannotStoreAreRefusedNamingTheField(string properties, string reason)
    {
        var item = Track();
        item.Properties = JsonDocument.Parse(properties).RootElement;

        Assert.StartsWith(reason + " is not a finite number", _stamper.Stamp(item, null, ReceivedAt));
    }

    [Fact]
    public void LargeSmallAndZeroNumbersAreAccepted()
    {
        var item = Track();
        item.Properties = JsonDocument.Parse("""{"revenue":1.7e308,"discount":-2.3e-308,"tax":0,"nested":{"n":[1,2.5]}}""").RootElement;
        item.Traits = JsonDocument.Parse("""{"points":1e-300}""").RootElement;

        Assert.Null(_stamper.Stamp(item, null, ReceivedAt));
    }

    [Fact]
    public void BatchSentAtAppliesToItemsWithoutTheirOwn()
    {
        var item = Track();
        item.OriginalTimestamp = ReceivedAt.AddMinutes(-10);
        var batch = new EventBatch { SentAt = ReceivedAt.AddMinutes(-9) };

        Assert.Null(_stamper.Stamp(item, batch, ReceivedAt));

        Assert.Equal(ReceivedAt.AddMinutes(-1), item.Timestamp);
    }

    [Fact]
    public void TimestampWithSentAtIsTheOriginalTimestampAndIsCorrected()
    {
        // analytics-next and the Segment mobile libraries send timestamp and sentAt, no originalTimestamp;
        // this browser's clock is 10 minutes slow and the event waited 2 s in its queue.
        var item = Track();
        item.Timestamp = ReceivedAt.AddMinutes(-10).AddSeconds(-2);
        item.SentAt = ReceivedAt.AddMinutes(-10);

        Assert.Null(_stamper.Stamp(item, null, ReceivedAt));

        Assert.Equal(ReceivedAt.AddSeconds(-2), item.Timestamp);
        Assert.Equal(ReceivedAt.AddMinutes(-10).AddSeconds(-2), item.OriginalTimestamp);
    }

    [Fact]
    public void SentAtAloneDoesNotMoveAnEventWithoutATimeOfItsOwn()
    {
        var item = Track();
        item.SentAt = ReceivedAt.AddHours(-3);

        Assert.Null(_stamper.Stamp(item, null, ReceivedAt));

        Assert.Equal(ReceivedAt, item.Timestamp);
    }

    [Fact]
    public void IdentifyWithoutTraitsTakesThoseOfItsContext()
    {
        var identify = new EventEnvelope
        {
            Type = EventType.Identify,
            UserId = "u-1",
            Context = JsonSerializer.Deserialize("""{"traits":{"region":"Gangnam"}}""", EcrmJsonContext.Default.EventContext),
        };
        var track = Track();
        track.Context = JsonSerializer.Deserialize("""{"traits":{"region":"Gangnam"}}""", EcrmJsonContext.Default.EventContext);

        Assert.Null(_stamper.Stamp(identify, null, ReceivedAt));
        Assert.Null(_stamper.Stamp(track, null, ReceivedAt));

        Assert.Equal("Gangnam", identify.Traits!.Value.GetProperty("region").GetString());
        Assert.Null(track.Traits);
    }

    [Fact]
    public void OfflineQueuedEventsAreAcceptedUpToTheMaximumAge()
    {
        var recent = Track();
        recent.Timestamp = ReceivedAt.AddDays(-29);
        var old = Track();
        old.Timestamp = ReceivedAt.AddDays(-31);

        Assert.Null(_stamper.Stamp(recent, null, ReceivedAt));
        Assert.Equal("the event is 31 days old, over the 30-day limit for queued events", _stamper.Stamp(old, null, ReceivedAt));
    }

    [Fact]
    public void EventsFromTheFutureAreClampedAndFlagged()
    {
        var slightlyAhead = Track();
        slightlyAhead.Timestamp = ReceivedAt.AddMinutes(2);
        var farAhead = Track();
        farAhead.Timestamp = ReceivedAt.AddHours(3);

        Assert.Null(_stamper.Stamp(slightlyAhead, null, ReceivedAt));
        Assert.Null(_stamper.Stamp(farAhead, null, ReceivedAt));

        Assert.Equal(ReceivedAt.AddMinutes(2), slightlyAhead.Timestamp);
        Assert.Null(slightlyAhead.Flags);
        Assert.Equal(ReceivedAt, farAhead.Timestamp);
        Assert.Equal([EventFlags.TimestampClamped], farAhead.Flags);
    }

    [Fact]
    public void GivenTimestampIsTrustedWhenNoOriginalTimestamp()
    {
        var item = Track();
        item.Timestamp = ReceivedAt.AddDays(-1);

        Assert.Null(_stamper.Stamp(item, null, ReceivedAt));

        Assert.Equal(ReceivedAt.AddDays(-1), item.Timestamp);
        Assert.Equal(ReceivedAt.AddDays(-1), item.OriginalTimestamp);
    }

    [Fact]
    public void MessageIdIsKeptWhenGivenAndMadeWhenAbsent()
    {
        var given = Track();
        given.MessageId = "m-1";
        var absent = Track();

        _stamper.Stamp(given, null, ReceivedAt);
        _stamper.Stamp(absent, null, ReceivedAt);

        Assert.Equal("m-1", given.MessageId);
        Assert.False(string.IsNullOrEmpty(absent.MessageId));
    }

    [Fact]
    public void IdentityIsRequired()
    {
        var item = new EventEnvelope { Type = EventType.Track, Event = "Viewed" };

        Assert.Equal("userId or anonymousId is required", _stamper.Stamp(item, null, ReceivedAt));
    }

    [Theory]
    [InlineData("userId")]
    [InlineData("anonymousId")]
    [InlineData("previousId")]
    [InlineData("groupId")]
    [InlineData("messageId")]
    public void EveryIdIsLimitedTo256CharactersAndTheReasonNamesIt(string field)
    {
        var item = new EventEnvelope { Type = EventType.Alias, UserId = "u", PreviousId = "p", GroupId = "g" };
        var tooLong = new string('x', 257);
        switch (field)
        {
            case "userId": item.UserId = tooLong; break;
            case "anonymousId": item.AnonymousId = tooLong; break;
            case "previousId": item.PreviousId = tooLong; break;
            case "groupId": item.GroupId = tooLong; break;
            default: item.MessageId = tooLong; break;
        }

        Assert.Equal($"{field} is limited to 256 characters", _stamper.Stamp(item, null, ReceivedAt));
        item.Type = EventType.Group;
        Assert.Equal($"{field} is limited to 256 characters", _stamper.Stamp(item, null, ReceivedAt));
    }

    [Fact]
    public void TrackNeedsAnEventName()
    {
        var item = Track();
        item.Event = " ";

        Assert.Equal("event is required for a track call", _stamper.Stamp(item, null, ReceivedAt));
    }

    [Fact]
    public void BatchContextFillsWhatTheItemLacksAndTheItemWins()
    {
        var item = Track();
        item.Context = new EventContext { Locale = "en-US" };
        var batch = new EventBatch { Context = new EventContext { Locale = "ko-KR", UserAgent = "agent", Library = new LibraryContext { Name = "lib" } } };

        _stamper.Stamp(item, batch, ReceivedAt);

        Assert.Equal("en-US", item.Context!.Locale);
        Assert.Equal("agent", item.Context.UserAgent);
        Assert.Equal("lib", item.Context.Library!.Name);
    }

    [Theory]
    [InlineData(EventType.Screen, false, "mobile")]
    [InlineData(EventType.Page, false, "web")]
    [InlineData(EventType.Track, true, "mobile")]
    [InlineData(EventType.Track, false, "server")]
    public void ChannelIsInferredWhenAbsent(EventType type, bool hasApp, string expected)
    {
        var item = new EventEnvelope { Type = type, Event = "x", Name = "x", UserId = "u", Context = hasApp ? new EventContext { App = new ApplicationContext { Name = "app" } } : null };

        _stamper.Stamp(item, null, ReceivedAt);

        Assert.Equal(expected, ChannelNames.Of(item.Channel!.Value));
    }

    [Fact]
    public void NumericUserIdsReadAsStrings()
    {
        var item = JsonSerializer.Deserialize("""{"type":"track","event":"x","userId":12345}""", EcrmJsonContext.Default.EventEnvelope)!;

        Assert.Equal("12345", item.UserId);
    }

    [Fact]
    public void SegmentBrowserChannelReadsAsWeb()
    {
        var item = JsonSerializer.Deserialize("""{"type":"page","userId":"u","channel":"browser"}""", EcrmJsonContext.Default.EventEnvelope)!;

        Assert.Equal(Channel.Web, item.Channel);
    }

    private static EventEnvelope Track() => new() { Type = EventType.Track, Event = "Product Viewed", AnonymousId = "a-1" };
}
