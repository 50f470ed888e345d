using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Ecrm.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Xunit;

namespace Ecrm.Collector.Tests;

/// <summary>The collector's HTTP API on a real Kafka protocol (librdkafka's mock cluster).</summary>
public sealed class TrackingApiTests : IClassFixture<KafkaFixture>, IDisposable
{
    internal const string WriteKey = "wk-test";
    internal const string AdminKey = "admin-test";
    private readonly KafkaFixture _kafka;
    private readonly string _topic;
    private readonly WebApplicationFactory<Program> _factory;

    public TrackingApiTests(KafkaFixture kafka)
    {
        _kafka = kafka;
        _topic = kafka.CreateTopic("collector");
        kafka.Cluster.CreateTopic(_topic + ".dlq", 1, 3);
        _factory = Collector(kafka.BootstrapServers, _topic);
    }

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task BatchIsInKafkaWhenAcknowledged()
    {
        var client = Client();
        var body = """
            {"batch":[
              {"type":"page","messageId":"m-1","anonymousId":"anon-1","properties":{"path":"/tv"}},
              {"type":"track","event":"Product Added","messageId":"m-2","userId":"user-1","properties":{"sku":"oled-55"}},
              {"type":"identify","messageId":"m-3","userId":"user-1","anonymousId":"anon-1","traits":{"region":"Gangnam"}}],
             "context":{"locale":"ko-KR"}}
            """;

        var response = await client.PostAsync("/v1/batch", Json(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"success":true}""", await response.Content.ReadAsStringAsync());
        var messages = ConsumeAll(3);
        Assert.Equal(["m-1", "m-2", "m-3"], messages.Select(m => m.Item.MessageId).Order());
        Assert.All(messages, m => Assert.Equal(m.Item.CustomerKey, m.Key));
        Assert.All(messages, m => Assert.Equal("ko-KR", m.Item.Context!.Locale));
        Assert.All(messages, m => Assert.NotNull(m.Item.ReceivedAt));
        Assert.Equal("user-1", messages.Single(m => m.Item.MessageId == "m-2").Key);
    }

    [Fact]
    public async Task WriteKeyInBodyIsAccepted()
    {
        var response = await _factory.CreateClient().PostAsync("/v1/track", Json($$"""{"writeKey":"{{WriteKey}}","event":"Signed Up","userId":"u-9","messageId":"m-9"}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var message = Assert.Single(ConsumeAll(1));
        Assert.Equal(EventType.Track, message.Item.Type);
        Assert.Null(message.Item.WriteKey);
    }

    [Fact]
    public async Task MissingWriteKeyIsRefused()
    {
        var response = await _factory.CreateClient().PostAsync("/v1/batch", Json("""{"batch":[{"type":"track","event":"x","userId":"u"}]}"""));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("write key is required", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongWriteKeyIsRefused()
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic("not-the-key");

        var response = await client.PostAsync("/v1/batch", Json("""{"batch":[{"type":"track","event":"x","userId":"u"}]}"""));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("""{"batch":[{"type":"track","event":"x"}]}""", "batch[0]: userId or anonymousId is required")]
    [InlineData("""{"batch":[{"type":"fly","userId":"u"}]}""", "batch[0]: not a valid event")]
    [InlineData("""{"batch":[{"type":"track","event":"x","userId":"u","channel":"fax"}]}""", "unknown channel 'fax'")]
    [InlineData("""{"batch":[{"type":"track","userId":"u"}]}""", "event is required")]
    [InlineData("""{"batch":[{"type":"track","event":"x","userId":"u","properties":[1,2]}]}""", "properties must be an object")]
    [InlineData("""{"batch":[{"event":"x","userId":"u"}]}""", "type is required")]
    [InlineData("""{"batch":[]}""", "at least one event")]
    [InlineData("""{"batch":[{"type":"track","event":"x","userId":"u\n2"}]}""", "batch[0]: userId must not contain control characters")]
    [InlineData("""{"batch":[{"type":"page","anonymousId":"a\tb"}]}""", "batch[0]: anonymousId must not contain control characters")]
    [InlineData("""{"batch":[{"type":"alias","userId":"u","previousId":"p\u0000"}]}""", "batch[0]: previousId must not contain control characters")]
    [InlineData("""{"batch":[{"type":"track","event":"x","userId":"u","originalTimestamp":"yesterday"}]}""", "batch[0]: not a valid event")]
    [InlineData("""not json""", "body is not valid JSON")]
    [InlineData("""{"batch":{"type":"track"}}""", "batch is required: an array of events")]
    [InlineData("""[1,2]""", "body must be a JSON object")]
    public async Task BadInputGets400WithAReason(string body, string reason)
    {
        var response = await Client().PostAsync("/v1/batch", Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(reason, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GoodItemsAreAcceptedAndBadOnesReportedAndDeadLettered()
    {
        var response = await Client().PostAsync("/v1/batch", Json("""{"batch":[{"type":"track","event":"ok","userId":"u","messageId":"good"},{"type":"track","event":"x","messageId":"bad"}]}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"success":true,"accepted":1,"rejected":[{"index":1,"reason":"userId or anonymousId is required"}]}""", await response.Content.ReadAsStringAsync());
        Assert.Equal(["good"], ConsumeAll(1).Select(m => m.Item.MessageId));
        var deadLetter = JsonDocument.Parse(Assert.Single(ConsumeRaw(_topic + ".dlq", 1))).RootElement;
        Assert.Equal("userId or anonymousId is required", deadLetter.GetProperty("reason").GetString());
        Assert.Equal(1, deadLetter.GetProperty("index").GetInt32());
        Assert.Contains("\"messageId\":\"bad\"", deadLetter.GetProperty("item").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BatchOver500KBGets413()
    {
        var filler = new string('x', 20_000);
        var events = string.Join(',', Enumerable.Range(0, 30).Select(i => $$$"""{"type":"track","event":"x","userId":"u","properties":{"f":"{{{filler}}}"}}"""));

        var response = await Client().PostAsync("/v1/batch", Json($$"""{"batch":[{{events}}]}"""));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("512000-byte limit", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EventOver32KBGets413()
    {
        var filler = new string('x', 40_000);

        var response = await Client().PostAsync("/v1/batch", Json($$$"""{"batch":[{"type":"track","event":"x","userId":"u","properties":{"f":"{{{filler}}}"}}]}"""));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("batch[0]: event is", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BatchOver2500EventsGets413()
    {
        var events = string.Join(',', Enumerable.Repeat("""{"type":"track","event":"x","userId":"u"}""", 2501));

        var response = await Client().PostAsync("/v1/batch", Json($$"""{"batch":[{{events}}]}"""));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("2501 events", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EventsAcknowledgedWhileKafkaIsDownAreSpooledThenReplayedExactlyOnce()
    {
        // A cluster of its own, so taking its broker down does not disturb the other tests.
        using var cluster = new DevKafka.MockKafkaCluster(brokerCount: 1);
        cluster.CreateTopic("spooled", 2, 1);
        cluster.CreateTopic("spooled.dlq", 1, 1);
        using var factory = Collector(cluster.BootstrapServers, "spooled", ackTimeoutSeconds: 2);
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(WriteKey);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/batch", Json(Batch(0, 10)))).StatusCode);

        cluster.SetBrokerDown(1, down: true);
        for (var request = 1; request <= 4; request++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/batch", Json(Batch(request * 10, 10)))).StatusCode);
        }

        cluster.SetBrokerDown(1, down: false);

        var ids = ConsumeMessages(new KafkaFixture.External(cluster.BootstrapServers), "spooled", 50, wait: TimeSpan.FromSeconds(25))
            .Select(m => JsonSerializer.Deserialize(m.Value, EcrmJsonContext.Default.EventEnvelope)!.MessageId).ToList();
        Assert.Equal(Enumerable.Range(0, 50).Select(i => $"m-{i}").Order(), ids.Order());
    }

    [Fact]
    public async Task FullSpoolGets503WithRetryAfterAndAcknowledgesNothing()
    {
        using var cluster = new DevKafka.MockKafkaCluster(brokerCount: 1);
        cluster.CreateTopic("full", 1, 1);
        using var factory = Collector(cluster.BootstrapServers, "full", 1, ("Collector:SpoolMaxBytes", "200"));
        var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(WriteKey);
        cluster.SetBrokerDown(1, down: true);

        var response = await client.PostAsync("/v1/batch", Json(Batch(0, 5)));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("spool is full", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.NotNull(response.Headers.RetryAfter);
    }

    private static string Batch(int first, int count) =>
        $$"""{"batch":[{{string.Join(',', Enumerable.Range(first, count).Select(i => $$$"""{"type":"track","event":"x","userId":"u{{{i % 3}}}","messageId":"m-{{{i}}}"}"""))}}]}""";

    internal static WebApplicationFactory<Program> Collector(string bootstrapServers, string topic, int ackTimeoutSeconds = 30, params (string Key, string Value)[] settings) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder
                .UseSetting("Kafka:BootstrapServers", bootstrapServers)
                .UseSetting("Kafka:EventsTopic", topic)
                .UseSetting("Kafka:DeadLetterTopic", topic + ".dlq")
                .UseSetting("Collector:SpoolDirectory", Directory.CreateTempSubdirectory("ecrm-spool-").FullName)
                .UseSetting("Collector:AckTimeoutSeconds", ackTimeoutSeconds.ToString())
                .UseSetting("Auth:WriteKeys:0", WriteKey)
                .UseSetting("Auth:AdminKeys:0", AdminKey)
                .UseSetting("Email:SigningKeys:0", "email-signing-key-for-tests-0123456789")
                .UseSetting("Email:PublicBaseUrl", "http://localhost");
            foreach (var (key, value) in settings)
            {
                builder.UseSetting(key, value);
            }
        });

    private HttpClient Client()
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(WriteKey);
        return client;
    }

    internal static AuthenticationHeaderValue Basic(string user) => new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":")));

    internal static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private List<(string Key, EventEnvelope Item)> ConsumeAll(int expected, TimeSpan? wait = null) => ConsumeEvents(_kafka, _topic, expected, wait);

    internal static List<(string Key, EventEnvelope Item)> ConsumeEvents(KafkaFixture kafka, string topic, int expected, TimeSpan? wait = null) =>
        ConsumeMessages(new KafkaFixture.External(kafka.BootstrapServers), topic, expected, wait).Select(m => (m.Key, JsonSerializer.Deserialize(m.Value, EcrmJsonContext.Default.EventEnvelope)!)).ToList();

    private List<byte[]> ConsumeRaw(string topic, int expected) => ConsumeMessages(new KafkaFixture.External(_kafka.BootstrapServers), topic, expected, null).Select(m => m.Value).ToList();

    internal static List<(string Key, byte[] Value)> ConsumeMessages(KafkaFixture.External kafka, string topic, int expected, TimeSpan? wait)
    {
        using var consumer = KafkaClientFactory.CreateReader<string, byte[]>(new KafkaOptions { BootstrapServers = kafka.BootstrapServers });
        consumer.Subscribe(topic);
        var messages = new List<(string, byte[])>();
        var deadline = DateTime.UtcNow + (wait ?? TimeSpan.FromSeconds(20));
        var settled = false;
        while (DateTime.UtcNow < deadline)
        {
            if (!settled && expected > 0 && messages.Count >= expected)
            {
                // Enough arrived; a short while longer shows whether anything arrives twice.
                settled = true;
                deadline = DateTime.UtcNow.AddSeconds(1);
            }

            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } result)
            {
                messages.Add((result.Message.Key, result.Message.Value));
            }
        }

        consumer.Close();
        return messages;
    }
}
