using System.Globalization;
using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Events;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Segments;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>Segment conditions on a real clickhouse-server, including hostile values.</summary>
[Collection(ArchiveCollection.Name)]
public sealed class SegmentTests(ClickHouseFixture clickHouse)
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
    private readonly TopicMatcher _matcher = new(CatalogSamples.Oled(version: 1));

    [Fact]
    public async Task DialogueAndTraitConditionsFindTheProspectsAndLeaveOutSuppressedCustomers()
    {
        var archive = await WriteAsync();

        Assert.Equal(["g1"], await CustomersAsync(archive, """
            {"dialogue":[{"topic":"tv-oled-55","minStage":2,"withinDays":14,"notConverted":true}],
             "traits":[{"name":"region","op":"eq","value":"Gangnam"}]}
            """));
        Assert.Equal(["g1", "s1"], await CustomersAsync(archive, """
            {"dialogue":[{"topic":"tv-oled-55","minStage":2,"withinDays":14,"notConverted":true}],"excludeSuppressed":false}
            """));
        // g2 read the details 40 days ago: not within 14 days.
        Assert.Equal(["g1"], await CustomersAsync(archive, """{"dialogue":[{"topic":"tv-oled-55","minStage":2,"withinDays":14}]}"""));
        Assert.Equal(["g1", "o1"], await CustomersAsync(archive, """{"traits":[{"name":"points","op":"gte","value":10000}]}"""));
    }

    [Fact]
    public async Task ActivityGivesTheValueTierFromRecencyFrequencyAndRevenue()
    {
        var archive = await WriteAsync();

        // g2: 5 orders of 300 within the last 30 days: 3 + 3 + 3 = high. o1: one order of 50, 100 days ago: 1 + 1 + 1 = low.
        Assert.Equal(["g2"], await CustomersAsync(archive, """{"activity":{"valueTier":"high"}}"""));
        Assert.Equal(["o1"], await CustomersAsync(archive, """{"activity":{"valueTier":"low"}}"""));
        Assert.Equal(["g2"], await CustomersAsync(archive, """{"activity":{"recencyDays":30,"minOrders":2,"minRevenue":1000}}"""));
    }

    [Theory]
    [InlineData("""{"traits":[{"name":"region","op":"eq","value":"x' OR 1=1 --"}]}""", new string[0])]
    [InlineData("""{"traits":[{"name":"region","op":"eq","value":"O'Brien\\ -- /* x"}]}""", new[] { "o1" })]
    [InlineData("""{"traits":[{"name":"region","op":"contains","value":"\\"}]}""", new[] { "o1" })]
    [InlineData("""{"traits":[{"name":"region","op":"ne","value":"Gangnam"}]}""", new[] { "o1" })]
    [InlineData("""{"traits":[{"name":"points","op":"gte","value":1e300}]}""", new string[0])]
    [InlineData("""{"traits":[{"name":"points","op":"lt","value":-1e300}]}""", new string[0])]
    public async Task HostileValuesAreMatchedLiterallyNeverRun(string conditions, string[] expected)
    {
        var archive = await WriteAsync();

        Assert.Equal(expected, await CustomersAsync(archive, conditions));
    }

    [Theory]
    [InlineData("""{"traits":[{"name":"a'b","op":"eq","value":"x"}]}""", "traits[0].name")]
    [InlineData("""{"traits":[{"name":"region","op":"eq) OR (1","value":"x"}]}""", "traits[0].op")]
    [InlineData("""{"traits":[{"name":"region","op":"eq","value":"a\u0000b"}]}""", "traits[0].value")]
    [InlineData("""{"traits":[{"name":"points","op":"gt","value":"1; DROP TABLE events"}]}""", "traits[0].value")]
    [InlineData("""{"traits":[{"name":"region","op":"eq","value":{"$ne":1}}]}""", "traits[0].value")]
    [InlineData("""{"dialogue":[{"topic":"tv-oled-55' --","minStage":2}]}""", "dialogue[0].topic")]
    [InlineData("""{"dialogue":[{"topic":"tv-oled-55","minStage":99}]}""", "dialogue[0].minStage")]
    [InlineData("""{"activity":{"valueTier":"gold"}}""", "activity.valueTier")]
    [InlineData("""{"activity":{"minRevenue":1e308,"recencyDays":-1}}""", "activity.recencyDays")]
    [InlineData("""{"activity":{"minRevenue":1e-320}}""", "activity.minRevenue")]
    [InlineData("""{"traits":[{"name":"points","op":"gt","value":1e-320}]}""", "traits[0].value")]
    [InlineData("""{"traits":[{"name":"points","op":"eq","value":1e309}]}""", "traits[0].value")]
    [InlineData("""{"traits":[{"name":"points","op":"ne","value":-1e309}]}""", "traits[0].value")]
    public void InvalidConditionsAreRefusedNamingTheField(string conditions, string field)
    {
        var errors = SegmentSql.Validate(Parse(conditions), _matcher.Catalog);

        Assert.Contains(errors, e => e.StartsWith(field, StringComparison.Ordinal));
    }

    /// <summary>
    /// One order archived with "revenue": 1e309 (as an archive written before the collector refused such
    /// numbers holds it) once made every segment query answer 500: ClickHouse summed it to infinity,
    /// wrote that as null, and the page could not be read. It now counts as 0 and the rest reads on.
    /// </summary>
    [Fact]
    public async Task AnArchivedRevenueOfInfinityCountsAsZeroAndBreaksNoSegmentQuery()
    {
        var archive = await WriteAsync();
        var huge = Order("h1", 0, 2);
        huge.Properties = JsonDocument.Parse("""{"sku":"tv-other","revenue":1e309}""").RootElement;
        var tiny = Order("h2", 0, 2);
        tiny.Properties = JsonDocument.Parse("""{"sku":"tv-other","revenue":1e-320}""").RootElement;
        await archive.WriteAsync([huge, tiny, Order("h3", 1.7e308, 2), Order("h3", 1.7e308, 1)]);
        var sql = SegmentSql.CustomersSql(archive.Client.Database, Parse("""{"activity":{"minOrders":1}}"""), _matcher.Catalog, Now);

        var page = await SegmentArchive.PageAsync(archive.Client, sql, 1, 50, CancellationToken.None);

        Assert.Equal(0, page.Single(r => r.Customer == "h1").Revenue);
        Assert.Equal(1e-320, page.Single(r => r.Customer == "h2").Revenue);
        // Two storable revenues that add up past the largest double are held at 1e300, not infinity.
        Assert.Equal(1e300, page.Single(r => r.Customer == "h3").Revenue);
        Assert.Equal(page.Count, await SegmentArchive.CountAsync(archive.Client, sql, CancellationToken.None));
        Assert.Contains("h1", await CustomersAsync(archive, """{"activity":{"minRevenue":0}}"""));
    }

    private async Task<ArchiveWriter> WriteAsync()
    {
        var archive = await ArchiveWriter.CreateAsync(clickHouse, _matcher);
        var events = new List<EventEnvelope>
        {
            Identify("g1", """{"region":"Gangnam","points":12000}"""),
            Page("g1", "/tv/oled-55/specs", 3),
            Identify("g2", """{"region":"Gangnam","points":500}"""),
            Page("g2", "/tv/oled-55/specs", 40),
            Identify("o1", """{"region":"O'Brien\\ -- /* x","points":20000}"""),
            Order("o1", 50, 100),
            Identify("s1", """{"region":"Gangnam","suppressed":true}"""),
            Page("s1", "/tv/oled-55/specs", 2),
        };
        events.AddRange(Enumerable.Range(1, 5).Select(i => Order("g2", 300, i * 3)));
        await archive.WriteAsync(events);
        return archive;
    }

    private async Task<string[]> CustomersAsync(ArchiveWriter archive, string conditions)
    {
        var parsed = Parse(conditions);
        Assert.Empty(SegmentSql.Validate(parsed, _matcher.Catalog));
        var sql = SegmentSql.CustomersSql(archive.Client.Database, parsed, _matcher.Catalog, Now);
        var body = await archive.Client.QueryAsync($"SELECT customer FROM ({sql}) ORDER BY customer FORMAT TSV", CancellationToken.None);
        return body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static SegmentConditions Parse(string json) => JsonSerializer.Deserialize(json, SegmentJsonContext.Default.SegmentConditions)!;

    private static EventEnvelope Identify(string id, string traits) => new()
    {
        Type = EventType.Identify, UserId = id, MessageId = Guid.NewGuid().ToString(), Timestamp = Now.AddDays(-50), Channel = Channel.Web,
        Traits = JsonDocument.Parse(traits).RootElement,
    };

    private static EventEnvelope Page(string id, string path, int daysAgo) => new()
    {
        Type = EventType.Page, UserId = id, MessageId = Guid.NewGuid().ToString(), Timestamp = Now.AddDays(-daysAgo), Channel = Channel.Web,
        Context = new EventContext { Page = new PageContext { Path = path } },
    };

    private static EventEnvelope Order(string id, double revenue, int daysAgo) => new()
    {
        Type = EventType.Track, Event = "Order Completed", UserId = id, MessageId = Guid.NewGuid().ToString(), Timestamp = Now.AddDays(-daysAgo), Channel = Channel.Web,
        Properties = JsonDocument.Parse("{\"sku\":\"tv-other\",\"revenue\":" + revenue.ToString(CultureInfo.InvariantCulture) + "}").RootElement,
    };
}
