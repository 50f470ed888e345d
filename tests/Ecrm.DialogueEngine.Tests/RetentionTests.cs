using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Events;
using Ecrm.DialogueEngine.Archive;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Funnels;
using Ecrm.DialogueEngine.Segments;
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
    /// Dialogue-order funnels (with breakdowns and the overview), trends and segments' dialogue and trait
    /// conditions read the compact history, the transitions and the traits: removing the raw events changes none of them.
    /// </summary>
    [Fact]
    public async Task FunnelsTrendsAndSegmentConditionsAnswerTheSameOnceTheRawEventsAreRemoved()
    {
        var matcher = new TopicMatcher(CatalogSamples.Oled(version: 1));
        var archive = await ArchiveWriter.CreateAsync(clickHouse, matcher);
        var now = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero).AddHours(12);
        var start = now.AddDays(-200);
        var random = new Random(20261203);
        var events = new List<EventEnvelope>();
        var links = new List<(string, string)>();
        var changes = new List<DialogueChange>();
        string[] regions = ["Seoul", "Busan"];
        for (var c = 0; c < 60; c++)
        {
            var customer = $"p{c}";
            var id = c % 4 == 0 ? $"anon-p{c}" : customer;
            if (id != customer)
            {
                links.Add((id, customer));
            }

            // Most interactions come before the retention's cutoff of 90 days, some after it.
            var journey = Enumerable.Range(0, random.Next(1, 5))
                .Select(_ => FunnelTests.Envelope(random.Next(3) == 0 ? customer : id, random.Next(1, 5), start + TimeSpan.FromHours(random.Next(0, 150 * 24)), (Channel)random.Next(0, 3)))
                .OrderBy(e => e.Timestamp).ToList();
            var stage = 0;
            foreach (var item in journey)
            {
                var matches = new List<TopicStage>();
                matcher.Match(item, matches);
                if (matches.FirstOrDefault(m => m.Topic == "tv-oled-55") is { Stage: var reached } && reached > stage)
                {
                    changes.Add(new DialogueChange
                    {
                        Customer = item.AnonymousId!, Topic = "tv-oled-55", FromStage = stage, ToStage = reached, Channel = ChannelNames.Of(item.Channel!.Value),
                        MessageId = item.MessageId!, Timestamp = item.Timestamp!.Value, CatalogVersion = 1,
                    });
                    stage = reached;
                }
            }

            events.AddRange(journey);
            if (c % 2 == 0)
            {
                events.Add(new EventEnvelope
                {
                    Type = EventType.Identify, UserId = customer, MessageId = Guid.NewGuid().ToString(), Timestamp = start.AddHours(c), Channel = Channel.Web,
                    Traits = JsonDocument.Parse($$"""{"region":"{{regions[c % 3 % 2]}}","points":{{c * 10}}}""").RootElement,
                });
            }
        }

        await archive.WriteAsync(events, links);
        using (var batch = new ArchiveBatch(now))
        {
            changes.ForEach(batch.AddChange);
            await batch.WriteAsync(archive.Client, CancellationToken.None);
        }

        var cutoff = now.AddDays(-90);
        var kept = events.Count(e => e.Timestamp >= cutoff);
        Assert.InRange(kept, 1, events.Count / 2);
        var read = await ReadEverythingAsync(archive.Client, matcher, now);

        var retention = new RawEventRetention(archive.Client, Options.Create(new EngineOptions { RawEventRetentionDays = 90 }), new FixedTime(now), NullLogger<RawEventRetention>.Instance);
        await retention.RemoveExpiredAsync(CancellationToken.None);
        await Poll.UntilAsync("the expired raw events gone", async () =>
            await archive.Client.CountUnfinishedMutationsAsync(CancellationToken.None) == 0
            && await EventArchive.CountAsync(archive.Client, CancellationToken.None) == kept);

        Assert.Equivalent(read, await ReadEverythingAsync(archive.Client, matcher, now), strict: true);
    }

    private static async Task<List<object>> ReadEverythingAsync(ArchiveClient client, TopicMatcher matcher, DateTimeOffset now)
    {
        var answers = new List<object>();
        var from = now.AddDays(-200).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var to = now.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        foreach (var query in new[] { "", "window=7d", "breakdown=channel", "breakdown=firstChannel", "breakdown=cohortWeek", "breakdown=trait:region", "channel=email" })
        {
            var errors = new List<string>();
            var request = FunnelRequest.Parse(FunnelTests.Query($"from={from}&to={to}&{query}"), now, errors)!;
            var funnels = await new FunnelQueries(client).ReadAsync(matcher.Catalog, null, request, null, CancellationToken.None);
            Assert.True(funnels.Single(f => f.Topic == "tv-oled-55").Stages[0].Customers > 3, $"the funnel ({query}) has customers");
            answers.Add(funnels);
            if (query == "")
            {
                var trend = await new TrendQueries(client).ReadAsync(matcher.Catalog, "tv-oled-55", request, weekly: true, byChannel: true, CancellationToken.None);
                Assert.Contains(trend.Series, s => s.Points.Count > 0);
                answers.Add(trend);
            }
        }

        foreach (var json in new[]
        {
            """{"dialogue":[{"topic":"tv-oled-55","minStage":2,"withinDays":100}],"traits":[{"name":"region","op":"eq","value":"Seoul"}]}""",
            """{"dialogue":[{"topic":"tv-oled-55","minStage":1,"notConverted":true}],"traits":[{"name":"points","op":"gte","value":100}]}""",
            """{"traits":[{"name":"region","op":"ne","value":"Busan"}],"excludeSuppressed":false}""",
        })
        {
            var conditions = JsonSerializer.Deserialize(json, SegmentJsonContext.Default.SegmentConditions)!;
            Assert.Empty(SegmentSql.Validate(conditions, matcher.Catalog));
            var sql = SegmentSql.CustomersSql(client.Database, conditions, matcher.Catalog, now);
            var customers = (await client.QueryAsync($"SELECT customer FROM ({sql}) ORDER BY customer FORMAT TSV", CancellationToken.None)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(customers.Length > 2, $"the segment {json} has customers");
            answers.Add(customers);
        }

        return answers;
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
