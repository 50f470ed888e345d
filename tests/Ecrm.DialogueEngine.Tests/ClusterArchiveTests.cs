using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Archive;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Customers;
using Ecrm.DialogueEngine.Funnels;
using Ecrm.DialogueEngine.Segments;
using Ecrm.DialogueEngine.Triggers;
using Ecrm.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>A two-server ClickHouse cluster and a redis-server for the tests of the sharded archive.</summary>
[CollectionDefinition(Name)]
public sealed class ClusterArchiveCollection : ICollectionFixture<ClickHouseClusterFixture>, ICollectionFixture<RedisFixture>
{
    public const string Name = "archive-cluster";
}

/// <summary>
/// The archive sharded over two clickhouse-servers (Distributed tables over *_local ones): the same
/// events give the same funnels, trends and segments as on one server, and erasure, retention and
/// an unreachable shard behave as they must.
/// </summary>
[Collection(ClusterArchiveCollection.Name)]
public sealed class ClusterArchiveTests(ClickHouseClusterFixture cluster, RedisFixture redis)
{
    private const string Topic = "tv-oled-55";
    private static readonly DateTimeOffset Day = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Now = Day.AddDays(21);
    private static readonly TopicMatcher Matcher = new(CatalogSamples.Oled(version: 1));

    [Fact]
    public async Task FunnelsTrendsAndSegmentsOnTheClusterEqualTheSingleServer()
    {
        var (events, links, changes) = Journeys(customers: 300);
        var single = await CreateAsync(cluster.SingleServerClient(0, NewDatabase()));
        var sharded = await CreateAsync(cluster.Client(NewDatabase()));
        foreach (var archive in new[] { single, sharded })
        {
            await archive.WriteAsync(events, links);
            await WriteChangesAsync(archive.Client, changes);
        }

        // Both shards hold rows, and some customers have ids on both: the identity links must join across shards.
        var perShard = await IdsPerShardAsync(sharded.Client.Database, ArchiveSchema.Events);
        Assert.All(perShard, ids => Assert.NotEmpty(ids));
        Assert.Contains(links, l => perShard[0].Contains(l.LinkedId) && perShard[1].Contains(l.Customer) || perShard[1].Contains(l.LinkedId) && perShard[0].Contains(l.Customer));

        string[] funnels = ["", "window=3d", "order=strict", "order=strict&window=2d", "breakdown=channel", "breakdown=firstChannel", "breakdown=cohortWeek", "breakdown=trait:region", "channel=email"];
        foreach (var query in funnels)
        {
            var expected = await FunnelsAsync(single.Client, query, null);
            Assert.True(expected.Single(f => f.Topic == Topic).Stages[0].Customers > 100, $"the single-server funnel ({query}) has customers to compare");
            Assert.Equivalent(expected, await FunnelsAsync(sharded.Client, query, null), strict: true);
        }

        // The overview from a snapshot taken on the server queried (every row then counts as changed, within the
        // default margin, so both halves of its query run over the Distributed tables) answers the same.
        await DialogueSummary.BuildAsync(sharded.Client, CancellationToken.None);
        foreach (var query in new[] { "", "window=3d" })
        {
            Assert.Equivalent(await FunnelsAsync(single.Client, query, null), await FunnelsAsync(sharded.Client, query, null), strict: true);
        }

        var request = Request("");
        foreach (var (weekly, byChannel) in new[] { (false, true), (true, false) })
        {
            var expected = await new TrendQueries(single.Client).ReadAsync(Matcher.Catalog, Topic, request, weekly, byChannel, CancellationToken.None);
            Assert.Contains(expected.Series, s => s.Points.Count > 0);
            Assert.Equivalent(expected, await new TrendQueries(sharded.Client).ReadAsync(Matcher.Catalog, Topic, request, weekly, byChannel, CancellationToken.None), strict: true);
        }

        string[] segments =
        [
            "{}",
            """{"dialogue":[{"topic":"tv-oled-55","minStage":2,"withinDays":14}]}""",
            """{"traits":[{"name":"region","op":"eq","value":"Seoul"}]}""",
            """{"activity":{"minOrders":1,"minRevenue":200}}""",
            """{"dialogue":[{"topic":"tv-oled-55","minStage":2,"notConverted":true}],"traits":[{"name":"points","op":"gte","value":500}]}""",
        ];
        foreach (var json in segments)
        {
            var conditions = JsonSerializer.Deserialize(json, SegmentJsonContext.Default.SegmentConditions)!;
            Assert.Empty(SegmentSql.Validate(conditions, Matcher.Catalog));
            var expected = await SegmentAsync(single.Client, conditions);
            Assert.True(expected.Length > 0, $"the single-server segment {json} has customers to compare");
            Assert.Equal(expected, await SegmentAsync(sharded.Client, conditions));
            // A funnel limited to the segment: the segment's query becomes an IN on the server queried.
            Assert.Equivalent(
                await FunnelsAsync(single.Client, "", $"SELECT customer FROM ({SegmentSql.CustomersSql(single.Client.Database, conditions, Matcher.Catalog, Now)})"),
                await FunnelsAsync(sharded.Client, "", $"SELECT customer FROM ({SegmentSql.CustomersSql(sharded.Client.Database, conditions, Matcher.Catalog, Now)})"),
                strict: true);
        }
    }

    [Fact]
    public async Task ErasureRemovesTheCustomerFromEveryShardAndLeavesTheOthers()
    {
        var (events, links, changes) = Journeys(customers: 40);
        var archive = await CreateAsync(cluster.Client(NewDatabase()));
        await archive.WriteAsync(events, links);
        await WriteChangesAsync(archive.Client, changes);
        var db = archive.Client.Database;
        // A customer whose anonymous id sits on the other shard: only the archive's links (Redis knows none here) find it.
        var perShard = await IdsPerShardAsync(db, ArchiveSchema.Events);
        var (anonymous, customer) = links.First(l => perShard[0].Contains(l.LinkedId) && perShard[1].Contains(l.Customer) || perShard[1].Contains(l.LinkedId) && perShard[0].Contains(l.Customer));

        using var connection = RedisConnection.Connect(redis.IsolatedConfiguration());
        var job = new ErasureJob(Guid.NewGuid().ToString("N"), customer, ErasureStatus.Queued, DateTimeOffset.UtcNow);
        var database = connection.GetDatabase();
        await database.HashSetAsync(RedisKeys.Erasures, job.Id, JsonSerializer.Serialize(job, ErasureJsonContext.Default.ErasureJob));
        await database.ListLeftPushAsync(RedisKeys.ErasureQueue, job.Id);
        using var worker = new ErasureWorker(connection, new DialogueReader(connection), archive.Client, new TriggerErasure(connection), TimeProvider.System, NullLogger<ErasureWorker>.Instance);
        // Started off xunit's synchronization context, as a host runs it: its blocking Redis SCAN must not wait on a test thread.
        await Task.Run(() => worker.StartAsync(CancellationToken.None));
        ErasureJob? finished = null;
        await Poll.UntilAsync("the erasure job done", async () =>
        {
            finished = JsonSerializer.Deserialize((string)(await database.HashGetAsync(RedisKeys.Erasures, job.Id))!, ErasureJsonContext.Default.ErasureJob);
            return finished!.Status is ErasureStatus.Done or ErasureStatus.Failed;
        }, TimeSpan.FromSeconds(60));
        await worker.StopAsync(CancellationToken.None);

        Assert.True(finished!.Status == ErasureStatus.Done, finished.Error);
        Assert.Contains(anonymous, finished.Identities!);
        var erased = new[] { anonymous, customer };
        var quoted = string.Join(", ", erased.Select(ArchiveSql.Quote));
        var after = await RowsPerShardAsync(db);
        for (var shard = 0; shard < 2; shard++)
        {
            var server = cluster.SingleServerClient(shard, db);
            Assert.Equal("0\t0\t0\n", await server.QueryAsync(
                $"""
                SELECT (SELECT count() FROM {db}.events_local WHERE customer_key IN ({quoted}) OR anonymous_id IN ({quoted}) OR user_id IN ({quoted})),
                       (SELECT count() FROM {db}.transitions_local WHERE customer_key IN ({quoted})),
                       (SELECT count() FROM {db}.identity_links_local WHERE linked_id IN ({quoted}) OR customer_key IN ({quoted}))
                FORMAT TSV
                """, CancellationToken.None));
            // Everyone else's events are all still there.
            Assert.Equal(events.Where(e => !erased.Contains(e.CustomerKey) && perShard[shard].Contains(e.CustomerKey!)).Select(e => e.MessageId).Distinct().Count(), after[shard].Events);
        }

        Assert.Contains(changes, c => erased.Contains(c.Customer));
        Assert.Equal(changes.Where(c => !erased.Contains(c.Customer)).Select(c => c.MessageId).Distinct().Count(), after.Sum(s => s.Transitions));
        Assert.Equal($"{links.Count - 1}\n", await archive.Client.QueryAsync($"SELECT uniqExact(linked_id) FROM {db}.identity_links FORMAT TSV", CancellationToken.None));
    }

    [Fact]
    public async Task RetentionRemovesExpiredRawEventsOnEveryShard()
    {
        var archive = await CreateAsync(cluster.Client(NewDatabase()));
        var now = DateTimeOffset.UtcNow;
        var ids = Enumerable.Range(0, 20).Select(i => $"ret-{i}").ToList();
        await archive.WriteAsync(ids.SelectMany(id => new[] { FunnelTests.Envelope(id, 1, now.AddDays(-100), Channel.Web), FunnelTests.Envelope(id, 2, now.AddDays(-10), Channel.Web) }));
        var perShard = await IdsPerShardAsync(archive.Client.Database, ArchiveSchema.Events);
        Assert.All(perShard, shard => Assert.NotEmpty(shard));

        var retention = new RawEventRetention(archive.Client, Options.Create(new EngineOptions { RawEventRetentionDays = 90 }), TimeProvider.System, NullLogger<RawEventRetention>.Instance);
        await retention.RemoveExpiredAsync(CancellationToken.None);

        await Poll.UntilAsync("the expired events gone from both shards", async () =>
            await archive.Client.CountUnfinishedMutationsAsync(CancellationToken.None) == 0
            && (await archive.Client.QueryAsync($"SELECT count() FROM {archive.Client.Database}.events FORMAT TSV", CancellationToken.None)).Trim() == "20");
        for (var shard = 0; shard < 2; shard++)
        {
            var cutoff = now.AddDays(-90).ToUnixTimeSeconds();
            Assert.Equal($"{perShard[shard].Count}\t0\n", await cluster.SingleServerClient(shard, archive.Client.Database).QueryAsync(
                $"SELECT count(), countIf(timestamp < toDateTime({cutoff})) FROM {archive.Client.Database}.events_local FORMAT TSV", CancellationToken.None));
        }
    }

    /// <summary>An insert into the Distributed table fails while a shard is down, so the archive retries it and nothing acknowledged is lost.</summary>
    [Fact]
    public async Task AnInsertWhileAShardIsDownFailsAndTheRetryArchivesEveryRow()
    {
        var archive = await CreateAsync(cluster.Client(NewDatabase()));
        var items = Enumerable.Range(0, 40).Select(i => FunnelTests.Envelope($"down-{i}", 1, Day, Channel.Web)).ToList();

        cluster.StopServer(1);
        try
        {
            // Retried by the archive consumer: a shard away is an outage, not a wrong statement.
            Assert.True((await Assert.ThrowsAsync<ArchiveException>(() => archive.WriteAsync(items))).IsTransient);
        }
        finally
        {
            await cluster.StartServerAsync(1);
        }

        await archive.WriteAsync(items);
        // A part of the failed insert may have reached the live shard; the replacing table counts it once.
        Assert.Equal("40\n", await archive.Client.QueryAsync($"SELECT count() FROM {archive.Client.Database}.events FINAL FORMAT TSV", CancellationToken.None));
        Assert.Equal("40\n", await archive.Client.QueryAsync($"SELECT uniqExact(message_id) FROM {archive.Client.Database}.events FORMAT TSV", CancellationToken.None));
    }

    [Fact]
    public async Task AClusterThatDoesNotMatchTheServersListedIsRefusedAtStart()
    {
        var urls = cluster.Urls;
        var client = new ArchiveClient(new ClickHouseOptions { Url = urls[0], Database = NewDatabase(), Cluster = ClickHouseClusterFixture.Name, ServerUrls = [urls[0]] });

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => ArchiveSchema.EnsureAsync(client, CancellationToken.None));

        Assert.Contains("has 2 servers in the remote_servers", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Random journeys: customers on the OLED topic over three weeks, a quarter of them first as an
    /// anonymous id linked later, identify traits, orders with revenue, every seventh event
    /// re-delivered, and the stage transitions the engine would publish for them.
    /// </summary>
    private static (List<EventEnvelope> Events, List<(string LinkedId, string Customer)> Links, List<DialogueChange> Changes) Journeys(int customers)
    {
        var random = new Random(20261126);
        var events = new List<EventEnvelope>();
        var links = new List<(string, string)>();
        var changes = new List<DialogueChange>();
        string[] regions = ["Seoul", "Busan", "Incheon"];
        for (var c = 0; c < customers; c++)
        {
            var customer = $"k{c}";
            var id = c % 4 == 0 ? $"anon-{c}" : customer;
            if (id != customer)
            {
                links.Add((id, customer));
            }

            var journey = Enumerable.Range(0, random.Next(1, 6))
                .Select(_ => FunnelTests.Envelope(random.Next(3) == 0 ? customer : id, random.Next(1, 5), Day + TimeSpan.FromMinutes(random.Next(0, 20 * 24 * 60)), (Channel)random.Next(0, 3)))
                .OrderBy(e => e.Timestamp)
                .ToList();
            var stage = 0;
            foreach (var item in journey)
            {
                var matches = new List<TopicStage>();
                Matcher.Match(item, matches);
                if (matches.FirstOrDefault(m => m.Topic == Topic) is { Stage: var reached } && reached > stage)
                {
                    changes.Add(new DialogueChange
                    {
                        Customer = item.AnonymousId!, Topic = Topic, FromStage = stage, ToStage = reached, Channel = ChannelNames.Of(item.Channel!.Value),
                        MessageId = item.MessageId!, Timestamp = item.Timestamp!.Value, CatalogVersion = 1,
                    });
                    stage = reached;
                }
            }

            events.AddRange(journey);
            if (c % 3 == 0)
            {
                events.Add(new EventEnvelope
                {
                    Type = EventType.Identify, UserId = customer, MessageId = Guid.NewGuid().ToString(), Timestamp = Day.AddMinutes(c), Channel = Channel.Web,
                    Traits = JsonDocument.Parse($$"""{"region":"{{regions[c % regions.Length]}}","points":{{c * 10}}}""").RootElement,
                });
            }

            if (c % 5 == 0)
            {
                events.Add(new EventEnvelope
                {
                    Type = EventType.Track, Event = "Order Completed", UserId = customer, MessageId = Guid.NewGuid().ToString(), Timestamp = Day.AddDays(c % 20).AddMinutes(c), Channel = Channel.Web,
                    // Whole amounts: sums of them do not depend on the order the shards' rows arrive in.
                    Properties = JsonDocument.Parse($$"""{"sku":"tv-other","revenue":{{(c % 7 * 100 + 50).ToString(CultureInfo.InvariantCulture)}}}""").RootElement,
                });
            }
        }

        events.AddRange(events.Where((_, i) => i % 7 == 0).ToList());
        changes.AddRange(changes.Where((_, i) => i % 5 == 0).ToList());
        return (events, links, changes);
    }

    private static string NewDatabase() => $"c_{Guid.NewGuid():N}"[..20];

    private static async Task<ArchiveWriter> CreateAsync(ArchiveClient client)
    {
        await ArchiveSchema.EnsureAsync(client, CancellationToken.None);
        return new ArchiveWriter(client, Matcher);
    }

    private static async Task WriteChangesAsync(ArchiveClient client, IEnumerable<DialogueChange> changes)
    {
        using var batch = new ArchiveBatch(DateTimeOffset.UtcNow);
        foreach (var change in changes)
        {
            batch.AddChange(change);
        }

        await batch.WriteAsync(client, CancellationToken.None);
    }

    /// <summary>The ids whose raw events each shard holds in its local table.</summary>
    private async Task<HashSet<string>[]> IdsPerShardAsync(string db, string table) =>
        await Task.WhenAll(Enumerable.Range(0, 2).Select(async shard =>
            (await cluster.SingleServerClient(shard, db).QueryAsync($"SELECT DISTINCT customer_key FROM {db}.{table}_local FORMAT TSV", CancellationToken.None))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal)));

    /// <summary>Distinct messages of each shard's events and transitions (a re-delivered row may sit there twice until a merge).</summary>
    private async Task<(long Events, long Transitions)[]> RowsPerShardAsync(string db) =>
        await Task.WhenAll(Enumerable.Range(0, 2).Select(async shard =>
        {
            var counts = (await cluster.SingleServerClient(shard, db).QueryAsync(
                $"SELECT (SELECT uniqExact(message_id) FROM {db}.events_local), (SELECT uniqExact(message_id) FROM {db}.transitions_local) FORMAT TSV", CancellationToken.None)).Trim().Split('\t');
            return (long.Parse(counts[0], CultureInfo.InvariantCulture), long.Parse(counts[1], CultureInfo.InvariantCulture));
        }));

    private static Task<IReadOnlyList<Funnel>> FunnelsAsync(ArchiveClient client, string query, string? customersSql) =>
        new FunnelQueries(client).ReadAsync(Matcher.Catalog, null, Request(query), customersSql, CancellationToken.None);

    private static FunnelRequest Request(string query)
    {
        var errors = new List<string>();
        return FunnelRequest.Parse(FunnelTests.Query("from=2026-10-31&to=2026-11-30&" + query), Day, errors) ?? throw new InvalidOperationException(string.Join("; ", errors));
    }

    private static async Task<string[]> SegmentAsync(ArchiveClient client, SegmentConditions conditions)
    {
        var sql = SegmentSql.CustomersSql(client.Database, conditions, Matcher.Catalog, Now);
        return (await client.QueryAsync($"SELECT * FROM ({sql}) ORDER BY customer FORMAT TSV", CancellationToken.None)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}

/// <summary>The cluster settings as an operator writes them (environment or appsettings), without a server.</summary>
public sealed class ClickHouseClusterOptionsTests
{
    [Fact]
    public void ServerUrlsBindFromConfigurationAndAClusterWithoutThemIsRefused()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ClickHouse:Cluster"] = "ecrm",
            ["ClickHouse:ServerUrls:0"] = "http://ch1:8123",
            ["ClickHouse:ServerUrls:1"] = "http://ch2:8123",
        }).Build();

        var options = configuration.GetSection(ClickHouseOptions.Section).Get<ClickHouseOptions>()!;

        Assert.Equal(["http://ch1:8123", "http://ch2:8123"], options.ServerUrls);
        Assert.Empty(Validate(options));
        Assert.Empty(Validate(new ClickHouseOptions()));
        Assert.Contains(Validate(options with { ServerUrls = [] }), e => e.StartsWith("ClickHouse:ServerUrls must list", StringComparison.Ordinal));
        Assert.Contains(Validate(options with { ServerUrls = ["ftp://ch1"] }), e => e.Contains("'ftp://ch1' is not an http(s) URL", StringComparison.Ordinal));
        Assert.Contains(Validate(options with { Cluster = "" }), e => e.Contains("set ClickHouse:Cluster too", StringComparison.Ordinal));
        Assert.Contains(Validate(options with { Cluster = "x; DROP" }), e => e.Contains("plain identifier", StringComparison.Ordinal));
    }

    private static List<string> Validate(ClickHouseOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return [.. results.Select(r => r.ErrorMessage!)];
    }
}
