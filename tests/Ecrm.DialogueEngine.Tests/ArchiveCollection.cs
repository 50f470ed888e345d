using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.DialogueEngine.Archive;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>One clickhouse-server and one redis-server for the tests that read the archive; each test class takes a database of its own.</summary>
[CollectionDefinition(Name)]
public sealed class ArchiveCollection : ICollectionFixture<ClickHouseFixture>, ICollectionFixture<RedisFixture>
{
    public const string Name = "archive";
}

/// <summary>Writes events and identity links into an archive database exactly as the archive consumer does.</summary>
internal sealed class ArchiveWriter(ArchiveClient clickHouse, TopicMatcher matcher)
{
    private long _offset;

    public static async Task<ArchiveWriter> CreateAsync(ClickHouseFixture fixture, TopicMatcher matcher)
    {
        var client = fixture.Client($"t_{Guid.NewGuid():N}"[..20]);
        await ArchiveSchema.EnsureAsync(client, CancellationToken.None);
        return new ArchiveWriter(client, matcher);
    }

    public ArchiveClient Client => clickHouse;

    public async Task WriteAsync(IEnumerable<EventEnvelope> items, IEnumerable<(string LinkedId, string Customer)>? links = null)
    {
        using var batch = new ArchiveBatch(DateTimeOffset.UtcNow);
        foreach (var item in items)
        {
            var matches = new List<TopicStage>();
            matcher.Match(item, matches);
            batch.AddEvent(item, JsonSerializer.SerializeToUtf8Bytes(item, EcrmJsonContext.Default.EventEnvelope), matches, 0, _offset++);
        }

        foreach (var (linkedId, customer) in links ?? [])
        {
            batch.AddChange(new DialogueChange { Kind = DialogueChangeKinds.Link, Customer = customer, LinkedId = linkedId, MessageId = Guid.NewGuid().ToString() });
        }

        await batch.WriteAsync(clickHouse, CancellationToken.None);
    }
}
