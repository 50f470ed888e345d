using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Funnels;
using Ecrm.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>Funnels on a real clickhouse-server, against hand-computed numbers, a reference computation and the dialogue state.</summary>
[Collection(ArchiveCollection.Name)]
public sealed class FunnelTests(ClickHouseFixture clickHouse, RedisFixture redis)
{
    private const string Topic = "tv-oled-55";
    private static readonly DateTimeOffset Day = new(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly TopicMatcher _matcher = new(CatalogSamples.Oled(version: 1));

    /// <summary>
    /// A: 1 → 2 → 3 within two hours, 4 a day later. B: straight to 2, then 1 an hour later.
    /// C: 1, then 3 ten days later. D: an anonymous 1 → 2, then as a user 3, the ids linked.
    /// E: 1, delivered twice. F: 1 by email, 2 on the web three hours later.
    /// </summary>
    private static readonly (string Customer, int Stage, TimeSpan At, Channel Channel)[] Fixed =
    [
        ("a", 1, TimeSpan.Zero, Channel.Web), ("a", 2, TimeSpan.FromHours(1), Channel.Web), ("a", 3, TimeSpan.FromHours(2), Channel.Web), ("a", 4, TimeSpan.FromDays(1), Channel.Web),
        ("b", 2, TimeSpan.Zero, Channel.Web), ("b", 1, TimeSpan.FromHours(1), Channel.Web),
        ("c", 1, TimeSpan.Zero, Channel.Web), ("c", 3, TimeSpan.FromDays(10), Channel.Web),
        ("anon-d", 1, TimeSpan.Zero, Channel.Web), ("anon-d", 2, TimeSpan.FromHours(1), Channel.Web), ("user-d", 3, TimeSpan.FromHours(2), Channel.Web),
        ("e", 1, TimeSpan.Zero, Channel.Web),
        ("f", 1, TimeSpan.Zero, Channel.Email), ("f", 2, TimeSpan.FromHours(3), Channel.Web),
    ];

    [Fact]
    public async Task DialogueOrderCountsEachCustomerAtTheDeepestStageReachedOnceAfterMergeAndRedelivery()
    {
        var queries = await WriteFixedAsync();

        var funnel = await ReadAsync(queries, "");

        // Stage 2: C passes it on the way to 3, B reached it first; stage 3: A, C and the merged D.
        Assert.Equal([6L, 5, 3, 1], funnel.Stages.Select(s => s.Customers));
        Assert.Equal([1.0, 5 / 6.0, 3 / 5.0, 1 / 3.0], funnel.Stages.Select(s => s.ConversionFromPrevious!.Value));
        Assert.Equal(1 / 6.0, funnel.Stages[3].ConversionFromFirst);
        // From first interaction to stage 2: B 0 s, A 1 h, D 1 h, F 3 h, C 10 days; the median is 1 h.
        Assert.Equal(3600, funnel.Stages[1].MedianTimeFromPrevious);
    }

    [Fact]
    public async Task TheWindowLeavesOutStagesReachedTooLongAfterEntering()
    {
        var queries = await WriteFixedAsync();

        var funnel = await ReadAsync(queries, "window=7d");

        // C reached stage 3 ten days after entering: outside a 7-day window, C stays at 1.
        Assert.Equal([6L, 4, 2, 1], funnel.Stages.Select(s => s.Customers));
        Assert.Equal("7d", funnel.Window);
    }

    [Fact]
    public async Task StrictOrderNeedsEachStageInTurn()
    {
        var queries = await WriteFixedAsync();

        var funnel = await ReadAsync(queries, "order=strict");

        // B's 1 came after its 2, C skipped 2: both stop at 1. A 4, D 3, F 2, E 1.
        Assert.Equal([6L, 3, 2, 1], funnel.Stages.Select(s => s.Customers));
    }

    [Fact]
    public async Task BreakdownByFirstChannelAndChannelFilter()
    {
        var queries = await WriteFixedAsync();

        var byFirst = await ReadAsync(queries, "breakdown=firstChannel");
        var emailOnly = await ReadAsync(queries, "channel=email");

        Assert.Equal([("web", 5L), ("email", 1L)], byFirst.Breakdown.Select(b => (b.Key, b.Stages[0].Customers)));
        Assert.Equal([6L, 5, 3, 1], byFirst.Stages.Select(s => s.Customers));
        Assert.Equal(3600, byFirst.Stages[1].MedianTimeFromPrevious);
        Assert.Equal([1L, 0, 0, 0], emailOnly.Stages.Select(s => s.Customers));
    }

    [Fact]
    public async Task BreakdownByTraitUsesTheLatestIdentifyValueOfTheResolvedCustomerAndByCohortWeek()
    {
        var archive = await WriteFixedArchiveAsync();
        var queries = new FunnelQueries(archive.Client);
        await archive.WriteAsync(
        [
            Identify("a", """{"region":"Busan"}""", Day.AddDays(-2)),
            Identify("a", """{"region":"Seoul"}""", Day.AddDays(-1)),
            // Identified under the user id that the anonymous id "anon-d" is linked to.
            Identify("user-d", """{"region":"Busan","points":12000}""", Day),
        ]);

        var byRegion = await ReadAsync(queries, "breakdown=trait:region");
        var byCohort = await ReadAsync(queries, "breakdown=cohortWeek");

        Assert.Equal([("(none)", new long[] { 4, 3, 1, 0 }), ("Busan", [1, 1, 1, 0]), ("Seoul", [1, 1, 1, 1])],
            byRegion.Breakdown.Select(b => (b.Key, b.Stages.Select(s => s.Customers).ToArray())));
        // 2026-11-01 is a Sunday: its week began on Monday 26 October.
        Assert.Equal([("2026-10-26", 6L)], byCohort.Breakdown.Select(b => (b.Key, b.Stages[0].Customers)));
    }

    [Theory]
    [InlineData("window=abc", "window:")]
    [InlineData("from=2026-13-01", "from:")]
    [InlineData("from=2026-11-02&to=2026-11-01", "from: must be on or before to")]
    [InlineData("breakdown=trait:x'--", "breakdown:")]
    [InlineData("channel=fax", "channel:")]
    public void BadParametersAreRefusedWithTheParameterNamed(string query, string expected)
    {
        var errors = new List<string>();

        Assert.Null(FunnelRequest.Parse(Query(query), Day, errors));
        Assert.Contains(errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    /// <summary>
    /// Random journeys of 200 customers (some merged, some events re-delivered, out of order):
    /// ClickHouse's funnel equals a plain C# computation, and, without a window, the deepest stage
    /// of each dialogue that live folding built in Redis.
    /// </summary>
    [Fact]
    public async Task RandomJourneysAgreeWithAReferenceComputationAndWithTheDialogueState()
    {
        var random = new Random(20261126);
        var events = new List<(string Customer, int Stage, TimeSpan At, Channel Channel)>();
        var links = new List<(string, string)>();
        for (var c = 0; c < 200; c++)
        {
            var customer = $"r{c}";
            var id = c % 5 == 0 ? $"anon-{c}" : customer;
            if (id != customer)
            {
                links.Add((id, customer));
            }

            for (var i = random.Next(1, 6); i > 0; i--)
            {
                events.Add((random.Next(3) == 0 ? customer : id, random.Next(1, 5), TimeSpan.FromMinutes(random.Next(0, 20 * 24 * 60)), (Channel)random.Next(0, 3)));
            }
        }

        var archive = await ArchiveWriter.CreateAsync(clickHouse, _matcher);
        var items = events.Select(e => Envelope(e.Customer, e.Stage, Day + e.At, e.Channel)).ToList();
        await archive.WriteAsync(items.Concat(items.Where((_, i) => i % 7 == 0)), links);
        var queries = new FunnelQueries(archive.Client);

        var resolved = events.Select(e => (Customer: links.FirstOrDefault(l => l.Item1 == e.Customer).Item2 ?? e.Customer, e.Stage, e.At)).ToList();
        foreach (var window in new TimeSpan?[] { null, TimeSpan.FromDays(3) })
        {
            var funnel = await ReadAsync(queries, window is null ? "" : "window=3d");
            var reference = Enumerable.Range(1, 4).Select(k => (long)resolved.GroupBy(e => e.Customer).Count(g =>
            {
                var entered = g.Min(e => e.At);
                var reached = g.Where(e => e.Stage >= k).Select(e => (TimeSpan?)e.At).Min();
                return reached is { } at && (window is null || at - entered <= window);
            }));
            Assert.Equal(reference, funnel.Stages.Select(s => s.Customers));
        }

        // The same events folded live (links first, as identify would), in arrival order.
        var options = Options.Create(new EngineOptions());
        var folder = Folding.Folder(redis.Connection);
        var linker = Folding.Linker(redis.Connection);
        var prefix = $"f{Guid.NewGuid():N}-"[..10];
        foreach (var (id, customer) in links)
        {
            await linker.LinkAsync(prefix + id, prefix + customer, _matcher.Catalog);
        }

        foreach (var item in items)
        {
            var copy = Envelope(prefix + item.AnonymousId, 0, item.Timestamp!.Value, item.Channel!.Value, item);
            var matches = new List<TopicStage>();
            _matcher.Match(copy, matches);
            await folder.FoldOneAsync(copy, _matcher);
        }

        var reader = new DialogueReader(redis.Connection);
        var deepest = new List<int>();
        foreach (var customer in resolved.Select(e => e.Customer).Distinct())
        {
            var current = (await reader.ReadAsync(prefix + customer)).SingleOrDefault()?.Stage ?? 0;
            var earlier = (await reader.ReadHistoryAsync(prefix + customer, Topic)).Select(h => int.Parse(h["stage"]));
            deepest.Add(earlier.Append(current).Max());
        }

        var state = Enumerable.Range(1, 4).Select(k => (long)deepest.Count(d => d >= k));
        Assert.Equal(state, (await ReadAsync(queries, "")).Stages.Select(s => s.Customers));
    }

    /// <summary>
    /// A funnel counts the dialogues that began in the range: "early" first looked at the topic before it and
    /// is not entered again by its later step, however the range is cut; "late" reached stage 3 after it ended.
    /// </summary>
    [Fact]
    public async Task DialogueOrderEntersOnlyDialoguesBegunInTheRangeAndCountsOnlyStepsReachedBeforeItsEnd()
    {
        var archive = await ArchiveWriter.CreateAsync(clickHouse, _matcher);
        await archive.WriteAsync(
        [
            Envelope("early", 1, new DateTimeOffset(2026, 10, 20, 9, 0, 0, TimeSpan.Zero), Channel.Web),
            Envelope("early", 2, Day.AddHours(5), Channel.Web),
            Envelope("late", 1, Day.AddHours(1), Channel.Web),
            Envelope("late", 3, new DateTimeOffset(2026, 12, 5, 9, 0, 0, TimeSpan.Zero), Channel.Web),
        ]);
        var queries = new FunnelQueries(archive.Client);

        // 31 October to 30 November: "early" began on 20 October.
        Assert.Equal([1L, 0, 0, 0], (await ReadAsync(queries, "")).Stages.Select(s => s.Customers));
        // From 1 October both began in the range; "early" reached stage 2 in it, "late" reached 3 on 5 December.
        Assert.Equal([2L, 1, 0, 0], (await ReadAsync(queries, "from=2026-10-01")).Stages.Select(s => s.Customers));
        // Through December, "late" counts at stage 3 too (stage 2 on the way).
        Assert.Equal([2L, 2, 1, 0], (await ReadAsync(queries, "from=2026-10-01&to=2026-12-31")).Stages.Select(s => s.Customers));
        // Strict order still reads the range's own interactions: "early" enters with no stage-1 interaction in it.
        Assert.Equal([1L, 0, 0, 0], (await ReadAsync(queries, "order=strict")).Stages.Select(s => s.Customers));
    }

    /// <summary>
    /// An archive written before the compact dialogue tables existed gets them filled from its events at start,
    /// and answers every dialogue-order question the same; the views are back too, so new events reach them.
    /// </summary>
    [Fact]
    public async Task AnArchiveFromBeforeTheCompactTablesGetsThemFilledFromItsEvents()
    {
        var archive = await WriteFixedArchiveAsync();
        var queries = new FunnelQueries(archive.Client);
        string[] cases = ["", "window=7d", "breakdown=firstChannel", "breakdown=channel", "channel=email", "breakdown=cohortWeek"];
        var before = new List<Funnel>();
        foreach (var query in cases)
        {
            before.Add(await ReadAsync(queries, query));
        }

        await ArchiveSchema.DropCompactTablesAsync(archive.Client, CancellationToken.None);
        await ArchiveSchema.EnsureAsync(archive.Client, CancellationToken.None);

        Assert.Equal([6L, 5, 3, 1], before[0].Stages.Select(s => s.Customers));
        for (var i = 0; i < cases.Length; i++)
        {
            Assert.Equivalent(before[i], await ReadAsync(queries, cases[i]), strict: true);
        }

        await archive.WriteAsync([Envelope("g", 1, Day.AddDays(2), Channel.Web)]);
        Assert.Equal(7, (await ReadAsync(queries, "")).Stages[0].Customers);
    }

    /// <summary>
    /// The all-topics overview read from a snapshot of the dialogue history, with the customers changed since
    /// regrouped (a new customer, a deeper stage, a visitor linked to a customer of the snapshot), equals grouping
    /// every dialogue; and an erasure drops the snapshots.
    /// </summary>
    [Fact]
    public async Task TheOverviewFromASnapshotAndWhatChangedSinceEqualsGroupingEveryDialogue()
    {
        var archive = await WriteFixedArchiveAsync();
        await archive.WriteAsync([Envelope("anon-b", 3, Day.AddHours(5), Channel.Web)]);
        var queries = new FunnelQueries(archive.Client) { SnapshotInsertMargin = TimeSpan.Zero };
        // Rows are stamped with the server's second: the ones written in an earlier second are the snapshot's own.
        await Task.Delay(1100);
        var snapshot = await DialogueSummary.BuildAsync(archive.Client, CancellationToken.None);
        // The visitor anon-b, not linked yet, is a customer of its own (at stage 3).
        Assert.Equal([7L, 6, 4, 1], (await ReadAllAsync(queries, "")).Single(f => f.Topic == Topic).Stages.Select(s => s.Customers));
        await using (var none = await DialogueSummary.ChangesAsync(archive.Client, snapshot, TimeSpan.Zero, CancellationToken.None))
        {
            Assert.Equal(0, none!.Customers);
        }


        await archive.WriteAsync([Envelope("g", 1, Day.AddDays(2), Channel.Web), Envelope("c", 2, Day.AddHours(1), Channel.Web)], [("anon-b", "b")]);

        await using (var changes = await DialogueSummary.ChangesAsync(archive.Client, snapshot, TimeSpan.Zero, CancellationToken.None))
        {
            var customers = await archive.Client.QueryAsync($"SELECT DISTINCT customer FROM {changes!.Table} ORDER BY customer FORMAT TSV", CancellationToken.None);
            Assert.Equal("b\nc\ng\n", customers);
        }

        string[] cases = ["", "window=7d", "from=2026-11-02"];
        var fromSnapshot = new List<IReadOnlyList<Funnel>>();
        foreach (var query in cases)
        {
            fromSnapshot.Add(await ReadAllAsync(queries, query));
        }

        // g enters; anon-b is b now (who reached stage 3 through it), so one customer fewer at every step it had reached.
        Assert.Equal([7L, 5, 4, 1], fromSnapshot[0].Single(f => f.Topic == Topic).Stages.Select(s => s.Customers));

        await DialogueSummary.DropAllAsync(archive.Client, CancellationToken.None);
        Assert.Null(await DialogueSummary.LatestAsync(archive.Client, CancellationToken.None));
        for (var i = 0; i < cases.Length; i++)
        {
            Assert.Equivalent(await ReadAllAsync(queries, cases[i]), fromSnapshot[i], strict: true);
        }
    }

    private async Task<IReadOnlyList<Funnel>> ReadAllAsync(FunnelQueries queries, string query)
    {
        var errors = new List<string>();
        var defaults = (query.Contains("from=", StringComparison.Ordinal) ? "" : "from=2026-10-31&") + "to=2026-11-30&";
        var request = FunnelRequest.Parse(Query(defaults + query), Day, errors) ?? throw new InvalidOperationException(string.Join("; ", errors));
        return await queries.ReadAsync(_matcher.Catalog, null, request, null, CancellationToken.None);
    }

    private static EventEnvelope Identify(string id, string traits, DateTimeOffset at) => new()
    {
        Type = EventType.Identify, UserId = id, MessageId = Guid.NewGuid().ToString(), Timestamp = at, ReceivedAt = at, Channel = Channel.Web,
        Traits = JsonDocument.Parse(traits).RootElement,
    };

    private async Task<FunnelQueries> WriteFixedAsync() => new((await WriteFixedArchiveAsync()).Client);

    private async Task<ArchiveWriter> WriteFixedArchiveAsync()
    {
        var archive = await ArchiveWriter.CreateAsync(clickHouse, _matcher);
        var items = Fixed.Select(e => Envelope(e.Customer, e.Stage, Day + e.At, e.Channel)).ToList();
        // E's event re-delivered: the same message id archived again.
        await archive.WriteAsync(items.Append(items.Single(i => i.AnonymousId == "e")), [("anon-d", "user-d")]);
        return archive;
    }

    private async Task<Funnel> ReadAsync(FunnelQueries queries, string query)
    {
        var errors = new List<string>();
        var defaults = (query.Contains("from=", StringComparison.Ordinal) ? "" : "from=2026-10-31&") + (query.Contains("to=", StringComparison.Ordinal) ? "" : "to=2026-11-30&");
        var request = FunnelRequest.Parse(Query(defaults + query), Day, errors) ?? throw new InvalidOperationException(string.Join("; ", errors));
        return (await queries.ReadAsync(_matcher.Catalog, Topic, request, null, CancellationToken.None))[0];
    }

    internal static QueryCollection Query(string query) =>
        new(query.Split('&', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0], p => new StringValues(Uri.UnescapeDataString(p[1]))));

    /// <summary>An event mapped to a stage of the OLED topic by the sample catalog's rules, or a copy of one under another id.</summary>
    internal static EventEnvelope Envelope(string id, int stage, DateTimeOffset at, Channel channel, EventEnvelope? copyOf = null)
    {
        if (copyOf is not null)
        {
            return new EventEnvelope
            {
                Type = copyOf.Type, Event = copyOf.Event, Name = copyOf.Name, Properties = copyOf.Properties, Context = copyOf.Context,
                AnonymousId = id, MessageId = copyOf.MessageId, Timestamp = at, ReceivedAt = at, Channel = channel,
            };
        }

        var item = new EventEnvelope { AnonymousId = id, MessageId = Guid.NewGuid().ToString(), Timestamp = at, ReceivedAt = at, Channel = channel };
        switch (stage, channel)
        {
            case (1, Channel.Email):
                item.Type = EventType.Track;
                item.Event = "Email Opened";
                item.Properties = JsonDocument.Parse("""{"campaign":"oled-launch"}""").RootElement;
                break;
            case (2, Channel.Mobile):
                item.Type = EventType.Screen;
                item.Name = "OledDetail";
                break;
            case (3, _):
                // The catalog maps Product Added on the web only.
                item.Channel = Channel.Web;
                item.Type = EventType.Track;
                item.Event = "Product Added";
                item.Properties = JsonDocument.Parse("""{"sku":"oled-55"}""").RootElement;
                break;
            case (4, _):
                item.Type = EventType.Track;
                item.Event = "Order Completed";
                item.Properties = JsonDocument.Parse("""{"sku":"oled-55"}""").RootElement;
                break;
            default:
                item.Type = EventType.Page;
                item.Channel = Channel.Web;
                item.Context = new EventContext { Page = new PageContext { Path = stage == 1 ? "/tv/oled-55" : "/tv/oled-55/specs" } };
                break;
        }

        return item;
    }
}
