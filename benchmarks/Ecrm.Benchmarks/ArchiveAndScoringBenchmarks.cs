using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Ecrm.Common.Archive;
using Ecrm.Common.Catalog;
using Ecrm.Common.Events;
using Ecrm.DialogueEngine.Archive;
using Ecrm.Recommender.Models;

namespace Ecrm.Benchmarks;

/// <summary>The archive consumer's encoder: 1,000 events into JSONEachRow rows, as one ClickHouse insert carries them.</summary>
[MemoryDiagnoser]
public class ArchiveEncoderBenchmarks
{
    private const string Event = """
        {"type":"track","event":"Product Added","messageId":"0b1c6a0e-4f8e-4a53-9d1e-5c8d5c7e2f10","anonymousId":"anon-000042-12345","channel":"web",
         "timestamp":"2026-11-25T10:00:00.000Z","properties":{"sku":"oled-55","price":1990},"context":{"page":{"path":"/tv/oled-55/specs"}}}
        """;

    private readonly byte[] _payload = Encoding.UTF8.GetBytes(Event);
    private readonly TopicStage[] _matches = [new("tv-oled-55", 3)];
    private EventEnvelope _item = null!;

    [GlobalSetup]
    public void Setup() => _item = JsonSerializer.Deserialize(_payload, EcrmJsonContext.Default.EventEnvelope)!;

    [Benchmark]
    public int EncodeThousandRows()
    {
        using var batch = new ArchiveBatch(DateTimeOffset.UnixEpoch);
        for (var i = 0; i < 1_000; i++)
        {
            batch.AddEvent(_item, _payload, _matches, 0, i);
        }

        return batch.EventCount;
    }
}

/// <summary>
/// Recommender scoring for one customer: the collaborative model (EASE and SAR over 200 topics, as
/// trained from the archive) scores a customer's five live dialogues.
/// </summary>
[MemoryDiagnoser]
public class RecommenderScoringBenchmarks
{
    private readonly Dictionary<string, double> _history = new(StringComparer.Ordinal) { ["t3"] = 2, ["t17"] = 1, ["t42"] = 3, ["t99"] = 1, ["t150"] = 4 };
    private ItemItemModel _ease = null!;
    private ItemItemModel _sar = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(7);
        var start = new DateTimeOffset(2026, 10, 1, 0, 0, 0, TimeSpan.Zero);
        var interactions = Enumerable.Range(0, 20_000)
            .Select(i => new Interaction($"u{i % 2_000}", $"t{(i % 2_000 + random.Next(0, 12)) % 200}", random.Next(1, 5), start.AddMinutes(i)))
            .ToList();
        _ease = ModelTrainer.Train(interactions, ModelOptions.For(ModelKind.Ease));
        _sar = ModelTrainer.Train(interactions, ModelOptions.For(ModelKind.Sar));
    }

    [Benchmark]
    public int ScoreOneCustomerEase() => _ease.RecommendFor(_history, 10).Count;

    [Benchmark]
    public int ScoreOneCustomerSar() => _sar.RecommendFor(_history, 10).Count;
}
