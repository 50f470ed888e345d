using System.Net;
using System.Text;
using Ecrm.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Xunit;
using static Ecrm.Collector.Tests.TrackingApiTests;

namespace Ecrm.Collector.Tests;

/// <summary>No input makes the collector answer 5xx or stop answering.</summary>
public sealed class HostileInputTests : IClassFixture<KafkaFixture>, IDisposable
{
    private readonly WebApplicationFactory<Program> _factory;

    public HostileInputTests(KafkaFixture kafka)
    {
        var topic = kafka.CreateTopic("hostile");
        kafka.Cluster.CreateTopic(topic + ".dlq", 1, 3);
        _factory = TrackingApiTests.Collector(kafka.BootstrapServers, topic);
    }

    public void Dispose() => _factory.Dispose();

    public static TheoryData<string, byte[]> Corpus()
    {
        var data = new TheoryData<string, byte[]>();
        void Add(string name, string body) => data.Add(name, Encoding.UTF8.GetBytes(body));
        Add("empty", "");
        Add("truncated", """{"batch":[{"type":"track","event":"x","us""");
        Add("deep nesting", $$"""{"batch":[{"type":"track","event":"x","userId":"u","properties":{{new string('[', 5000)}}{{new string(']', 5000)}}}]}""");
        Add("deep objects", $$"""{"batch":[{"type":"track","event":"x","userId":"u","properties":{{string.Concat(Enumerable.Repeat("{\"a\":", 70))}}1{{new string('}', 70)}}}]}""");
        Add("huge string", $$"""{"batch":[{"type":"track","event":"{{new string('e', 400_000)}}","userId":"u"}]}""");
        Add("NUL bytes", "{\"batch\":[{\"type\":\"track\",\"event\":\"a\u0000b\",\"userId\":\"\u0000\"}]}");
        Add("raw NUL", "{\"batch\":[\0]}");
        Add("number out of range", """{"batch":[{"type":"track","event":"x","userId":"u","context":{"screen":{"width":1e400}}}]}""");
        Add("huge integer id", """{"batch":[{"type":"track","event":"x","userId":123456789012345678901234567890123456789}]}""");
        Add("wrong kinds", """{"batch":[{"type":1,"event":{},"userId":[],"properties":"p","context":5}]}""");
        Add("null item", """{"batch":[null,true,"x",1]}""");
        Add("batch is a string", """{"batch":"[]"}""");
        Add("timestamps out of range", """{"batch":[{"type":"track","event":"x","userId":"u","originalTimestamp":"9999-12-31T23:59:59Z","sentAt":"0001-01-01T00:00:00Z"}]}""");
        Add("sentAt not a date", """{"sentAt":"soon","batch":[{"type":"track","event":"x","userId":"u"}]}""");
        Add("context not an object", """{"context":[1],"batch":[{"type":"track","event":"x","userId":"u"}]}""");
        Add("duplicate keys", """{"batch":[{"type":"track","type":"page","event":"x","userId":"u","userId":"v"}]}""");
        Add("lone surrogate", "{\"batch\":[{\"type\":\"track\",\"event\":\"\\ud800\",\"userId\":\"u\"}]}");
        Add("id too long", $$"""{"batch":[{"type":"track","event":"x","userId":"{{new string('u', 300)}}"}]}""");
        data.Add("invalid UTF-8", [.. Encoding.UTF8.GetBytes("{\"batch\":[{\"type\":\"track\",\"event\":\""), 0xC3, 0x28, 0xFF, .. Encoding.UTF8.GetBytes("\",\"userId\":\"u\"}]}")]);
        data.Add("UTF-16", Encoding.Unicode.GetBytes("""{"batch":[{"type":"track","event":"x","userId":"u"}]}"""));
        return data;
    }

    [Theory]
    [MemberData(nameof(Corpus))]
    public async Task HostileBodyNeverGets5xx(string name, byte[] body)
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(WriteKey);

        var response = await client.PostAsync("/v1/batch", new ByteArrayContent(body) { Headers = { { "Content-Type", "application/json" } } });

        Assert.True((int)response.StatusCode < 500, $"{name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        var healthy = await client.PostAsync("/v1/batch", Json("""{"batch":[{"type":"track","event":"x","userId":"u"}]}"""));
        Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
    }
}
