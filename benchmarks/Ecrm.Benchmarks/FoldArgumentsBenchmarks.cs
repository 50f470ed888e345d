using BenchmarkDotNet.Attributes;
using Ecrm.Common.Catalog;
using Ecrm.Common.Storage;

namespace Ecrm.Benchmarks;

/// <summary>
/// The .NET work of building the fold script's arguments for one customer's events of a batch (the
/// events JSON that fold.lua decodes), per call and so per event. Parsing an event is in
/// <see cref="EnvelopeBenchmarks"/>, matching it in <see cref="MatcherBenchmarks"/>.
/// </summary>
[MemoryDiagnoser]
public class FoldArgumentsBenchmarks
{
    private FoldEvent[] _events = [];

    [Params(1, 10)]
    public int EventsPerCustomer { get; set; }

    [GlobalSetup]
    public void Setup() =>
        _events = [.. Enumerable.Range(0, EventsPerCustomer).Select(i => new FoldEvent(
            Guid.NewGuid().ToString(), 3, 1_000_000 + i, 1_796_000_000_000 + i, "web", NamesUser: false, RecordKnown: false,
            [new TopicStage("tv-oled-55", 2)]))];

    [Benchmark]
    public int EncodeEvents() => DialogueStore.EncodeEvents(_events).Length;
}
