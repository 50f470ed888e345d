using Ecrm.Common.Archive;
using Ecrm.Common.Events;
using Ecrm.DialogueEngine.Archive;
using Ecrm.DialogueEngine.Catalog;
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
}
