using System.Text;
using System.Text.Json;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.DialogueEngine.Catalog;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

public sealed class TopicMatcherTests
{
    private readonly TopicMatcher _matcher = new(CatalogSamples.Oled());

    [Theory]
    [InlineData("/tv/oled-55", 1)]
    [InlineData("/tv/oled-55/", 1)]
    [InlineData("/tv/oled-55/specs", 2)]
    [InlineData("/tv/oled-55/specs/panel", 2)]
    public void WebPagePathsMapToStages(string path, int stage)
    {
        Assert.Equal([new TopicStage("tv-oled-55", stage)], Match(Page(path)));
    }

    [Theory]
    [InlineData("/tv/oled-65")]
    [InlineData("/tv/oled-55x")]
    [InlineData("/tv")]
    public void OtherPathsMapToNothing(string path)
    {
        Assert.Empty(Match(Page(path)));
    }

    [Fact]
    public void PathIsReadFromTheUrlWhenNoPathIsGiven()
    {
        var item = new EventEnvelope { Type = EventType.Page, Channel = Channel.Web, Context = new EventContext { Page = new PageContext { Url = "https://shop.example/tv/oled-55/specs?x=1" } } };

        Assert.Equal([new TopicStage("tv-oled-55", 2)], Match(item));
    }

    [Fact]
    public void PathRulesDoNotApplyToOtherChannels()
    {
        var item = Page("/tv/oled-55");
        item.Channel = Channel.Mobile;

        Assert.Empty(Match(item));
    }

    [Fact]
    public void TrackEventWithMatchingPropertiesMapsToItsStage()
    {
        Assert.Equal([new TopicStage("tv-oled-55", 3)], Match(Track("Product Added", """{"sku":"oled-55","price":1999}""")));
    }

    [Fact]
    public void TrackEventWithOtherPropertiesMapsToNothing()
    {
        Assert.Empty(Match(Track("Product Added", """{"sku":"oled-65"}""")));
        Assert.Empty(Match(Track("Product Added", "{}")));
    }

    [Fact]
    public void RuleWithoutChannelAppliesToEveryChannel()
    {
        var item = Track("Order Completed", """{"sku":"oled-55"}""");
        item.Channel = Channel.Mobile;

        Assert.Equal([new TopicStage("tv-oled-55", 4)], Match(item));
    }

    [Theory]
    [InlineData("Email Opened", 1)]
    [InlineData("Email Link Clicked", 2)]
    public void EmailOpensAndClicksMapToStages(string eventName, int stage)
    {
        var item = Track(eventName, """{"campaign":"oled-launch"}""");
        item.Channel = Channel.Email;

        Assert.Equal([new TopicStage("tv-oled-55", stage)], Match(item));
    }

    [Fact]
    public void MobileScreenMapsToItsStage()
    {
        var item = new EventEnvelope { Type = EventType.Screen, Channel = Channel.Mobile, Name = "OledDetail" };

        Assert.Equal([new TopicStage("tv-oled-55", 2)], Match(item));
    }

    [Fact]
    public void ElementAnnotationMapsDirectly()
    {
        var item = Track("Element Viewed", "{}");
        item.Context = new EventContext { Ecrm = new StageAnnotation { Topic = "tv-oled-55", Stage = JsonDocument.Parse("\"consideration\"").RootElement } };

        Assert.Equal([new TopicStage("tv-oled-55", 3)], Match(item));
    }

    [Fact]
    public void AnnotationOfAnUnknownTopicIsIgnored()
    {
        var item = Track("Element Viewed", "{}");
        item.Context = new EventContext { Ecrm = new StageAnnotation { Topic = "nope", Stage = JsonDocument.Parse("2").RootElement } };

        Assert.Empty(Match(item));
    }

    [Fact]
    public void EventMatchingSeveralRulesOfATopicTakesTheDeepestStage()
    {
        var catalog = TopicCatalog.Parse(Encoding.UTF8.GetBytes("""
            {"topics":[{"id":"a","rules":[{"match":{"path":"/a*"},"stage":1},{"match":{"path":"/a/b*"},"stage":3},{"match":{"path":"/a/b/c"},"stage":2}]},
                       {"id":"b","rules":[{"match":{"path":"/a/b/c"},"stage":1}]}]}
            """)).Catalog!;

        var matches = new List<TopicStage>();
        new TopicMatcher(catalog).Match(Page("/a/b/c"), matches);

        Assert.Equal([new TopicStage("a", 3), new TopicStage("b", 1)], matches.OrderBy(m => m.Topic));
    }

    [Fact]
    public void IndexedMatchingAgreesWithScanningEveryRule()
    {
        // 300 topics with 3 path rules each: the index must find exactly what a full scan finds.
        var topics = Enumerable.Range(0, 300).Select(i =>
            $$"""{"id":"t{{i}}","rules":[{"match":{"path":"/p/{{i}}"},"stage":1},{"match":{"path":"/p/{{i}}/d*"},"stage":2},{"match":{"path":"/p/{{i % 7}}?x*"},"stage":3}]}""");
        var catalog = TopicCatalog.Parse(Encoding.UTF8.GetBytes($$"""{"topics":[{{string.Join(',', topics)}}]}""")).Catalog!;
        var matcher = new TopicMatcher(catalog);
        var random = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            var path = $"/p/{random.Next(320)}{(random.Next(3) switch { 0 => "", 1 => "/d" + random.Next(5), _ => "zx" + random.Next(5) })}";
            var expected = catalog.Topics
                .SelectMany(t => t.Rules.Where(r => Glob.IsMatch(r.Path, path)).Select(r => new TopicStage(t.Id, r.Stage)))
                .GroupBy(m => m.Topic).Select(g => g.MaxBy(m => m.Stage)).OrderBy(m => m.Topic);
            var actual = new List<TopicStage>();
            matcher.Match(Page(path), actual);

            Assert.Equal(expected, actual.OrderBy(m => m.Topic));
        }
    }

    [Fact]
    public void EventPropertyIndexAgreesWithCheckingEveryRule()
    {
        var topics = Enumerable.Range(0, 200).Select(i =>
            $$$"""{"id":"t{{{i}}}","rules":[{"match":{"event":"Product Added","properties":{"sku":"s{{{i}}}"}},"stage":3},{"match":{"event":"Order Completed","properties":{"sku":"s{{{i % 10}}}","qty":{{{i % 3}}}}},"stage":4},{"match":{"event":"Product Added","properties":{"n":{{{i}}}.0}},"stage":2}]}""");
        var catalog = TopicCatalog.Parse($$"""{"topics":[{{string.Join(',', topics)}}]}""").Catalog!;
        var matcher = new TopicMatcher(catalog);
        var random = new Random(11);
        for (var i = 0; i < 2000; i++)
        {
            var name = random.Next(2) == 0 ? "Product Added" : "Order Completed";
            var properties = JsonDocument.Parse($$"""{"sku":"s{{random.Next(220)}}","qty":{{random.Next(4)}},"n":{{random.Next(220)}}}""").RootElement;
            var item = new EventEnvelope { Type = EventType.Track, Channel = Channel.Web, Event = name, Properties = properties };
            var expected = catalog.Topics
                .SelectMany(t => t.Rules.Where(r => r.Event == name && r.Properties.All(p => properties.TryGetProperty(p.Key, out var v) && JsonScalar.AreEqual(p.Value, v)))
                .Select(r => new TopicStage(t.Id, r.Stage)))
                .GroupBy(m => m.Topic).Select(g => g.MaxBy(m => m.Stage)).OrderBy(m => m.Topic);
            var actual = new List<TopicStage>();
            matcher.Match(item, actual);

            Assert.Equal(expected, actual.OrderBy(m => m.Topic));
        }
    }

    [Theory]
    [InlineData("/a*", "/a", true)]
    [InlineData("/a*", "/abc/d", true)]
    [InlineData("/a?c", "/abc", true)]
    [InlineData("/a?c", "/ac", false)]
    [InlineData("/a*c", "/abbbc", true)]
    [InlineData("/a*c", "/abbbd", false)]
    [InlineData("/a", "/a/", false)]
    public void GlobMatchesStarAndQuestionMark(string pattern, string text, bool expected)
    {
        Assert.Equal(expected, Glob.IsMatch(pattern, text));
    }

    private List<TopicStage> Match(EventEnvelope item)
    {
        var results = new List<TopicStage>();
        _matcher.Match(item, results);
        return results;
    }

    private static EventEnvelope Page(string path) =>
        new() { Type = EventType.Page, Channel = Channel.Web, AnonymousId = "a", Context = new EventContext { Page = new PageContext { Path = path } } };

    private static EventEnvelope Track(string name, string properties) =>
        new() { Type = EventType.Track, Channel = Channel.Web, AnonymousId = "a", Event = name, Properties = JsonDocument.Parse(properties).RootElement };
}
