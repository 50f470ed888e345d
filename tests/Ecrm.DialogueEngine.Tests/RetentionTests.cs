using Ecrm.Common.Archive;
using Ecrm.Common.Events;
using Ecrm.DialogueEngine.Archive;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Funnels;
using Ecrm.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>Raw-event retention on a real clickhouse-server.</summary>
[Collection(ArchiveCollection.Name)]
public sealed class RetentionTests(ClickHouseFixture clickHouse)
{
    [Fact]
    public async Task RawEventsOlderThanTheRetentionAreRemovedAndTransitionsKept()
    {
        var matcher = new TopicMatcher(CatalogSamples.Oled(version: 1));
        var archive = await ArchiveWriter.CreateAsync(clickHouse, matcher);
        var now = DateTimeOffset.UtcNow;
        EventEnvelope Page(int daysAgo) => new()
        {
            Type = EventType.Page, AnonymousId = "r", MessageId = Guid.NewGuid().ToString(), Timestamp = now.AddDays(-daysAgo), Channel = Channel.Web,
            Context = new EventContext { Page = new PageContext { Path = "/tv/oled-55" } },
        };
        await archive.WriteAsync([Page(100), Page(95), Page(10)]);
        using (var batch = new ArchiveBatch(now))
        {
            batch.AddChange(new DialogueChange { Customer = "r", Topic = "tv-oled-55", FromStage = 0, ToStage = 1, MessageId = "m", Timestamp = now.AddDays(-100) });
            await batch.WriteAsync(archive.Client, CancellationToken.None);
        }

        var retention = new RawEventRetention(archive.Client, Options.Create(new EngineOptions { RawEventRetentionDays = 90 }), TimeProvider.System, NullLogger<RawEventRetention>.Instance);
        await retention.RemoveExpiredAsync(CancellationToken.None);

        var deadline = DateTime.UtcNow.AddSeconds(30);
        string remaining;
        do
        {
            remaining = await archive.Client.QueryAsync($"SELECT count() FROM {archive.Client.Database}.events FORMAT TSV", CancellationToken.None);
        }
        while (remaining.Trim() != "1" && DateTime.UtcNow < deadline && await Task.Delay(100).ContinueWith(_ => true));

        Assert.Equal("1", remaining.Trim());
        Assert.Equal("1\n", await archive.Client.QueryAsync($"SELECT count() FROM {archive.Client.Database}.transitions FORMAT TSV", CancellationToken.None));
    }

    /// <summary>
    /// Dialogue-order funnels with every breakdown, trends and segments (dialogue, trait and value conditions) read the
    /// communication history the archive keeps beside the raw events: removing every raw event changes none of their answers.
    /// </summary>
    [Fact]
    public async Task RemovingRawEventsChangesNoDialogueFunnelTrendOrSegment()
    {
        var matcher = new TopicMatcher(CatalogSamples.Oled(version: 1));
        var archive = await ArchiveWriter.CreateAsync(clickHouse, matcher);
        var now = DateTimeOffset.UtcNow;
        var events = new List<(EventEnvelope Event, int Stage)>();
        var random = new Random(7);
        for (var customer = 0; customer < 40; customer++)
        {
            var started = now.AddDays(-random.Next(20, 200)).AddMinutes(random.Next(0, 1440));
            var deepest = 1 + (customer % 4);
            for (var stage = 1; stage <= deepest; stage++)
            {
                var channel = stage == 1 && customer % 3 == 0 ? Channel.Email : Channel.Web;
                events.Add((FunnelTests.Envelope(customer % 5 == 0 ? $"anon-{customer}" : $"c{customer}", stage, started.AddHours(stage * random.Next(1, 200)), channel), stage));
            }
        }

        // Traits (one changed later, one under a visitor id linked to its customer) and orders (one re-delivered).
        var profile = new List<EventEnvelope>();
        for (var customer = 0; customer < 40; customer++)
        {
            var id = customer % 5 == 0 ? $"anon-{customer}" : $"c{customer}";
            profile.Add(Identify(id, $$"""{"region":"{{(customer % 2 == 0 ? "Gangnam" : "Busan")}}","points":{{customer * 500}}}""", now.AddDays(-150)));
            if (customer % 7 == 0)
            {
                profile.Add(Identify(id, """{"region":"Seoul","suppressed":true}""", now.AddDays(-100)));
            }

            for (var order = 0; order < customer % 4; order++)
            {
                profile.Add(Order(id, 150.5 * (order + 1), now.AddDays(-10 - (customer * 3) - order)));
            }
        }

        profile.Add(profile.Last(e => e.Event == "Order Completed"));
        await archive.WriteAsync(profile);
        await archive.WriteAsync(events.Select(e => e.Event), Enumerable.Range(0, 40).Where(c => c % 5 == 0).Select(c => ($"anon-{c}", $"c{c}")));
        using (var batch = new ArchiveBatch(now))
        {
            foreach (var (e, stage) in events)
            {
                batch.AddChange(new DialogueChange
                {
                    Customer = e.AnonymousId!, Topic = "tv-oled-55", FromStage = stage - 1, ToStage = stage, MessageId = e.MessageId!, Timestamp = e.Timestamp!.Value, Channel = ChannelNames.Of(e.Channel!.Value),
                });
            }

            await batch.WriteAsync(archive.Client, CancellationToken.None);
        }

        var funnels = new FunnelQueries(archive.Client);
        var trends = new TrendQueries(archive.Client);
        string[] cases = ["", "from=" + now.AddDays(-120).ToString("yyyy-MM-dd"), "window=7d", "breakdown=firstChannel", "breakdown=channel", "channel=email", "breakdown=cohortWeek", "breakdown=trait:region"];
        string[] segments =
        [
            "{}",
            """{"dialogue":[{"topic":"tv-oled-55","minStage":2,"withinDays":60}]}""",
            """{"dialogue":[{"topic":"tv-oled-55","minStage":1,"notConverted":true}],"traits":[{"name":"region","op":"eq","value":"Gangnam"}]}""",
            """{"traits":[{"name":"points","op":"gte","value":5000}],"excludeSuppressed":false}""",
            """{"activity":{"valueTier":"medium"}}""",
            """{"activity":{"minRevenue":300,"recencyDays":60}}""",
        ];
        async Task<string> AnswersAsync()
        {
            var answers = new List<object>();
            foreach (var query in cases)
            {
                var errors = new List<string>();
                var request = FunnelRequest.Parse(FunnelTests.Query((query.StartsWith("from=", StringComparison.Ordinal) ? "" : $"from={now.AddDays(-365):yyyy-MM-dd}&") + query), now, errors)
                    ?? throw new InvalidOperationException(string.Join("; ", errors));
                answers.Add((await funnels.ReadAsync(matcher.Catalog, "tv-oled-55", request, null, CancellationToken.None))[0]);
                answers.Add(await trends.ReadAsync(matcher.Catalog, "tv-oled-55", request, weekly: true, byChannel: true, CancellationToken.None));
            }

            foreach (var segment in segments)
            {
                var conditions = System.Text.Json.JsonSerializer.Deserialize(segment, Ecrm.DialogueEngine.Segments.SegmentJsonContext.Default.SegmentConditions)!;
                var sql = SegmentSql.CustomersSql(archive.Client.Database, conditions, matcher.Catalog, now);
                answers.Add(await SegmentArchive.PageAsync(archive.Client, sql, 1, 100, CancellationToken.None));
            }

            return System.Text.Json.JsonSerializer.Serialize(answers);
        }

        var before = await AnswersAsync();
        Assert.Contains("\"Customers\":40", before, StringComparison.Ordinal);
        Assert.Contains("\"Key\":\"Gangnam\"", before, StringComparison.Ordinal);
        Assert.Contains("\"ValueTier\":\"medium\"", before, StringComparison.Ordinal);

        var retention = new RawEventRetention(archive.Client, Options.Create(new EngineOptions { RawEventRetentionDays = 1 }), TimeProvider.System, NullLogger<RawEventRetention>.Instance);
        await retention.RemoveExpiredAsync(CancellationToken.None);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await archive.Client.QueryNumberAsync("count", $"SELECT count() FROM {archive.Client.Table(ArchiveSchema.Events)} FORMAT TSV", CancellationToken.None) > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the expired raw events were not removed within 30 s");
            await Task.Delay(100);
        }

        Assert.Equal(before, await AnswersAsync());
    }

    private static EventEnvelope Identify(string id, string traits, DateTimeOffset at) => new()
    {
        Type = EventType.Identify, AnonymousId = id, MessageId = Guid.NewGuid().ToString(), Timestamp = at, ReceivedAt = at, Channel = Channel.Web,
        Traits = System.Text.Json.JsonDocument.Parse(traits).RootElement,
    };

    private static EventEnvelope Order(string id, double revenue, DateTimeOffset at) => new()
    {
        Type = EventType.Track, Event = "Order Completed", AnonymousId = id, MessageId = Guid.NewGuid().ToString(), Timestamp = at, ReceivedAt = at, Channel = Channel.Web,
        Properties = System.Text.Json.JsonDocument.Parse($$"""{"revenue":{{revenue.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}""").RootElement,
    };
}
