using System.Text;
using BenchmarkDotNet.Attributes;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.DialogueEngine.Catalog;

namespace Ecrm.Benchmarks;

/// <summary>
/// Matching one event against catalogs of 10, 1,000 and 10,000 rules (10 rules a topic, mixed kinds).
/// An indexed matcher should cost about the same at every size.
/// </summary>
[MemoryDiagnoser]
public class MatcherBenchmarks
{
    private readonly List<TopicStage> _results = new(4);
    private TopicMatcher _matcher = null!;
    private EventEnvelope _page = null!;
    private EventEnvelope _track = null!;
    private EventEnvelope _miss = null!;

    [Params(10, 1_000, 10_000)]
    public int Rules { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var topics = Enumerable.Range(0, Math.Max(1, Rules / 10)).Select(t => $$$"""
            {"id":"t{{{t}}}","rules":[
              {"channel":"web","match":{"path":"/p/{{{t}}}"},"stage":1},
              {"channel":"web","match":{"path":"/p/{{{t}}}/specs*"},"stage":2},
              {"channel":"web","match":{"path":"/p/{{{t}}}/compare"},"stage":3},
              {"match":{"event":"Product Viewed","properties":{"sku":"s{{{t}}}"}},"stage":1},
              {"match":{"event":"Product Added","properties":{"sku":"s{{{t}}}"}},"stage":3},
              {"channel":"email","match":{"campaign":"c{{{t}}}","action":"open"},"stage":1},
              {"channel":"email","match":{"campaign":"c{{{t}}}","action":"click"},"stage":2},
              {"channel":"mobile","match":{"screen":"S{{{t}}}"},"stage":2},
              {"channel":"mobile","match":{"screen":"S{{{t}}}Cart"},"stage":3},
              {"match":{"event":"Order Completed","properties":{"sku":"s{{{t}}}"}},"stage":4}]}
            """);
        var catalog = TopicCatalog.Parse(Encoding.UTF8.GetBytes($$"""{"topics":[{{string.Join(',', topics)}}]}""")).Catalog!;
        _matcher = new TopicMatcher(catalog);
        var last = catalog.Topics.Count - 1;
        _page = new EventEnvelope { Type = EventType.Page, Channel = Channel.Web, Context = new EventContext { Page = new PageContext { Path = $"/p/{last}/specs/panel" } } };
        _track = new EventEnvelope { Type = EventType.Track, Channel = Channel.Web, Event = "Product Added", Properties = System.Text.Json.JsonDocument.Parse($$"""{"sku":"s{{last}}"}""").RootElement };
        _miss = new EventEnvelope { Type = EventType.Page, Channel = Channel.Web, Context = new EventContext { Page = new PageContext { Path = "/about/company/history" } } };
    }

    [Benchmark]
    public int PagePathGlob()
    {
        _matcher.Match(_page, _results);
        return _results.Count;
    }

    [Benchmark]
    public int TrackWithProperties()
    {
        _matcher.Match(_track, _results);
        return _results.Count;
    }

    [Benchmark]
    public int NoMatch()
    {
        _matcher.Match(_miss, _results);
        return _results.Count;
    }
}
