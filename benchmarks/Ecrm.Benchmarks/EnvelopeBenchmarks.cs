using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Ecrm.Common.Events;

namespace Ecrm.Benchmarks;

/// <summary>Reading envelopes as the collector and the engine do: UTF-8 bytes to the source-generated model.</summary>
[MemoryDiagnoser]
public class EnvelopeBenchmarks
{
    private const string Event = """
        {"type":"page","messageId":"0b1c6a0e-4f8e-4a53-9d1e-5c8d5c7e2f10","anonymousId":"anon-000042-12345","channel":"web",
         "originalTimestamp":"2026-11-25T10:00:00.000Z","properties":{"path":"/tv/oled-55/specs","title":"OLED specs"},
         "context":{"page":{"path":"/tv/oled-55/specs","url":"https://shop.example/tv/oled-55/specs","referrer":"https://shop.example/tv"},
         "userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36","locale":"ko-KR",
         "library":{"name":"ecrm-js","version":"0.1.0"}}}
        """;

    private readonly byte[] _single = Encoding.UTF8.GetBytes(Event);
    private readonly byte[] _batch = Encoding.UTF8.GetBytes($$"""{"batch":[{{string.Join(',', Enumerable.Repeat(Event, 100))}}],"sentAt":"2026-11-25T10:00:01.000Z"}""");

    [Benchmark]
    public EventEnvelope? ParseOne() => JsonSerializer.Deserialize(_single, EcrmJsonContext.Default.EventEnvelope);

    [Benchmark]
    public int ParseBatchOf100() => JsonSerializer.Deserialize(_batch, EcrmJsonContext.Default.EventBatch)!.Batch!.Count;

    [Benchmark]
    public byte[] SerializeOne() => JsonSerializer.SerializeToUtf8Bytes(ParseOne()!, EcrmJsonContext.Default.EventEnvelope);
}
