using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ecrm.Collector.Ingestion;
using Ecrm.Common.Events;
using Ecrm.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Xunit;
using static Ecrm.Collector.Tests.TrackingApiTests;

namespace Ecrm.Collector.Tests;

/// <summary>
/// Requests as Segment's and RudderStack's own libraries send them (paths, headers, gzip bodies),
/// recorded from their public source, against the collector on a real Kafka protocol.
/// </summary>
public sealed class CompatibleClientsTests : IClassFixture<KafkaFixture>, IDisposable
{
    private const string SentAt = "2026-11-25T12:00:05.000Z";
    private readonly KafkaFixture _kafka;
    private readonly string _topic;
    private readonly WebApplicationFactory<Program> _factory;

    public CompatibleClientsTests(KafkaFixture kafka)
    {
        _kafka = kafka;
        _topic = kafka.CreateTopic("compat");
        kafka.Cluster.CreateTopic(_topic + ".dlq", 1, 3);
        _factory = TrackingApiTests.Collector(kafka.BootstrapServers, _topic);
    }

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task AnalyticsKotlinGzipBatchWithTheKeyInTheBodyIsAccepted()
    {
        // segmentio/analytics-kotlin core/.../HTTPClient.kt: RequestFactory.upload posts to https://{apiHost}/b with
        // Content-Type text/plain, createPostConnection sets Content-Encoding: gzip and wraps the body in a
        // GZIPOutputStream; no Authorization header: EventsFileManager closes each batch file with
        // ],"sentAt":"…","writeKey":"…"}.
        var body = $$$"""
            {"batch":[{"type":"track","event":"Product Added","properties":{"sku":"oled-55"},"anonymousId":"kotlin-anon","messageId":"kotlin-1",
              "timestamp":"2026-11-25T12:00:00.000Z","userId":"",
              "context":{"app":{"name":"Shop","version":"3.1","build":"310","namespace":"example.shop"},"device":{"id":"d-1","manufacturer":"Google","model":"Pixel 8"},
                "library":{"name":"analytics-kotlin","version":"1.16.0"},"os":{"name":"Android","version":"14"},"screen":{"width":1080,"height":2400,"density":2.75},
                "network":{"wifi":true},"locale":"ko-KR","timezone":"Asia/Seoul","userAgent":"Dalvik/2.1.0","instanceId":"i-1"},
              "integrations":{},"_metadata":{"bundled":[],"unbundled":[],"bundledIds":[]}}],
             "sentAt":"{{{SentAt}}}","writeKey":"{{{WriteKey}}}"}
            """;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/b") { Content = Gzip(body, "text/plain") };
        request.Headers.UserAgent.ParseAdd("analytics-kotlin/1.16.0");

        var response = await _factory.CreateClient().SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var item = Assert.Single(ConsumeEvents(_kafka, _topic, 1)).Item;
        Assert.Equal("kotlin-1", item.MessageId);
        Assert.Equal(EventType.Track, item.Type);
        Assert.Equal(Channel.Mobile, item.Channel);
        // The event happened 5 s before it was sent, by the phone's clock, whatever that clock says.
        Assert.InRange((item.ReceivedAt!.Value - item.Timestamp!.Value).TotalSeconds, 4.5, 6);
    }

    [Fact]
    public async Task AnalyticsSwiftBatchIsAccepted()
    {
        // segmentio/analytics-swift Sources/Segment/Utilities/Networking/HTTPClient.swift: startBatchUpload posts the
        // batch file to https://{apiHost}/b; configuredRequest sets Content-Type "application/json; charset=utf-8",
        // User-Agent analytics-ios/…, Accept-Encoding gzip; the key travels in the file's "writeKey", not a header.
        var body = $$$"""
            {"batch":[{"type":"screen","name":"OledDetail","properties":{},"anonymousId":"swift-anon","messageId":"swift-1","timestamp":"2026-11-25T12:00:00.000Z",
              "context":{"app":{"name":"Shop","version":"3.1","build":"310","namespace":"example.shop"},"library":{"name":"analytics-swift","version":"1.7.0"},
                "os":{"name":"iOS","version":"18.1"},"screen":{"width":390,"height":844},"device":{"type":"ios","model":"iPhone15,2"},"locale":"ko-KR","timezone":"Asia/Seoul"},
              "integrations":{},"_metadata":{"bundled":["Segment.io"],"unbundled":[],"bundledIds":[]}}],
             "sentAt":"{{{SentAt}}}","writeKey":"{{{WriteKey}}}"}
            """;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/b") { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/json; charset=utf-8");
        request.Headers.UserAgent.ParseAdd("analytics-ios/1.7.0");
        request.Headers.AcceptEncoding.ParseAdd("gzip");

        var response = await _factory.CreateClient().SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var item = Assert.Single(ConsumeEvents(_kafka, _topic, 1)).Item;
        Assert.Equal("swift-1", item.MessageId);
        Assert.Equal(EventType.Screen, item.Type);
        Assert.Equal("OledDetail", item.Name);
    }

    [Fact]
    public async Task RudderStackAndroidGzipBatchWithItsHeadersIsAccepted()
    {
        // rudderlabs/rudder-sdk-android core/.../RudderNetworkManager.java: POST {dataPlaneUrl}/v1/batch with
        // Authorization Basic base64(writeKey:), Content-Type application/json, AnonymousId base64(anonymousId),
        // and with gzip configured Content-Encoding: gzip through GzipUtils.getGzipOutputStream. Screens carry the
        // name in "event" and properties.name; the user's traits ride in context.traits.
        var body = $$$"""
            {"sentAt":"{{{SentAt}}}","batch":[{"messageId":"android-1","channel":"mobile","type":"screen","event":"OledDetail","properties":{"name":"OledDetail","automatic":false},
              "anonymousId":"android-anon","originalTimestamp":"2026-11-25T12:00:00.000Z","integrations":{"All":true},
              "context":{"app":{"build":"310","name":"Shop","namespace":"example.shop","version":"3.1"},"traits":{"anonymousId":"android-anon"},
                "library":{"name":"com.rudderstack.android.sdk.core","version":"1.21.0"},"os":{"name":"Android","version":"14"},
                "screen":{"density":420,"width":1080,"height":2400},"userAgent":"Dalvik/2.1.0","locale":"ko-KR","timezone":"Asia/Seoul","sessionId":1764072000,"sessionStart":true}}]}
            """;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/batch") { Content = Gzip(body, "application/json") };
        request.Headers.Authorization = Basic(WriteKey);
        request.Headers.Add("AnonymousId", Convert.ToBase64String(Encoding.UTF8.GetBytes("android-anon")));

        var response = await _factory.CreateClient().SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var item = Assert.Single(ConsumeEvents(_kafka, _topic, 1)).Item;
        Assert.Equal("android-1", item.MessageId);
        Assert.Equal(EventType.Screen, item.Type);
        Assert.Equal(Channel.Mobile, item.Channel);
        Assert.Equal("OledDetail", item.Properties!.Value.GetProperty("name").GetString());
        Assert.InRange((item.ReceivedAt!.Value - item.Timestamp!.Value).TotalSeconds, 4.5, 6);
    }

    [Fact]
    public async Task RudderStackIosIdentifyWithContextTraitsIsAccepted()
    {
        // rudderlabs/rudder-sdk-ios Sources/Classes/RSNetworkManager.m: POST {dataPlaneUrl}/v1/batch with
        // Authorization Basic, Content-Type "Application/json" (so spelled) and the AnonymousId header.
        var body = $$$"""
            {"sentAt":"{{{SentAt}}}","batch":[{"messageId":"ios-1","channel":"mobile","type":"identify","event":"identify","userId":"ios-user","anonymousId":"ios-anon",
              "originalTimestamp":"2026-11-25T12:00:00.000Z","context":{"traits":{"anonymousId":"ios-anon","userId":"ios-user","region":"Gangnam"},
                "library":{"name":"rudder-ios-library","version":"1.31.0"},"os":{"name":"iOS","version":"18.1"},"screen":{"density":3,"width":390,"height":844}},"integrations":{"All":true}}]}
            """;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/batch") { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("Application/json");
        request.Headers.Authorization = Basic(WriteKey);
        request.Headers.Add("AnonymousId", Convert.ToBase64String(Encoding.UTF8.GetBytes("ios-anon")));

        var response = await _factory.CreateClient().SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var item = Assert.Single(ConsumeEvents(_kafka, _topic, 1)).Item;
        Assert.Equal("ios-1", item.MessageId);
        Assert.Equal(EventType.Identify, item.Type);
        // No top-level traits: the identify's traits are those of context.traits.
        Assert.Equal("Gangnam", item.Traits!.Value.GetProperty("region").GetString());
    }

    [Theory]
    [InlineData("/v1/t", """{"type":"track","event":"Product Added","properties":{"sku":"oled-55"}}""", EventType.Track)]
    [InlineData("/v1/p", """{"type":"page","name":"OLED","properties":{"path":"/tv/oled-55"}}""", EventType.Page)]
    [InlineData("/v1/s", """{"type":"screen","name":"OledDetail"}""", EventType.Screen)]
    [InlineData("/v1/i", """{"type":"identify","traits":{"region":"Gangnam"}}""", EventType.Identify)]
    [InlineData("/v1/g", """{"type":"group","groupId":"household-7"}""", EventType.Group)]
    [InlineData("/v1/a", """{"type":"alias","previousId":"old-id"}""", EventType.Alias)]
    public async Task AnalyticsNextShortPathsTakeTextPlainWithTheirSkewCorrectedTimestamp(string path, string json, EventType type)
    {
        // analytics-next's segmentio plugin: POST {apiHost}/{first letter of the type}, Content-Type text/plain
        // (no CORS preflight), the key in the body's writeKey and as Basic auth, X-Retry-Count on re-sends,
        // _metadata of bundled integrations, timestamp and sentAt by the browser's clock (here 1 hour fast).
        var messageId = $"next-{Guid.NewGuid():N}";
        var fast = DateTimeOffset.UtcNow.AddHours(1);
        var fields = $$$"""
            "userId":"u-1","anonymousId":"a-1","messageId":"{{{messageId}}}","writeKey":"{{{WriteKey}}}","timestamp":"{{{fast.AddSeconds(-3):O}}}","sentAt":"{{{fast:O}}}",
            "context":{"page":{"path":"/tv/oled-55","url":"https://shop.example/tv/oled-55"},"userAgent":"Mozilla/5.0","library":{"name":"analytics.js","version":"npm:next-1.84.3"}},
            "integrations":{},"_metadata":{"bundled":["Segment.io"],"unbundled":[],"bundledIds":[]}
            """;
        var body = json[..^1] + "," + fields.ReplaceLineEndings("") + "}";
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "text/plain") };
        request.Headers.Authorization = Basic(WriteKey);
        request.Headers.Add("X-Retry-Count", "1");

        var response = await _factory.CreateClient().SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var item = ConsumeEvents(_kafka, _topic, 1).Single(m => m.Item.MessageId == messageId).Item;
        Assert.Equal(type, item.Type);
        Assert.InRange((item.ReceivedAt!.Value - item.Timestamp!.Value).TotalSeconds, 2.5, 4);
    }

    [Fact]
    public async Task RudderStackBeaconWithTheKeyInTheQueryIsAccepted()
    {
        // RudderStack JS SDK v3, BeaconQueue plugin: navigator.sendBeacon to {dataPlaneUrl}/beacon/v1/batch?writeKey=…,
        // a text/plain Blob of {"batch":[…],"sentAt":…}; a beacon can carry neither Authorization nor custom headers.
        var body = $$$"""{"batch":[{"type":"track","event":"Order Completed","properties":{"sku":"oled-55"},"anonymousId":"beacon-anon","messageId":"beacon-1","channel":"web","originalTimestamp":"{{{DateTimeOffset.UtcNow:O}}}","sentAt":"{{{DateTimeOffset.UtcNow:O}}}"}],"sentAt":"{{{DateTimeOffset.UtcNow:O}}}"}""";

        var response = await _factory.CreateClient().PostAsync($"/beacon/v1/batch?writeKey={WriteKey}", new StringContent(body, Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("beacon-1", Assert.Single(ConsumeEvents(_kafka, _topic, 1)).Item.MessageId);
    }

    [Fact]
    public async Task RudderStackPixelTrackIsAnEventAndAGif()
    {
        // RudderStack's pixel API (rudderstack-docs pixel-api-spec.md): GET /pixel/v1/track with writeKey,
        // anonymousId, event and dot-separated paths such as properties.sku, answered with an image.
        var response = await _factory.CreateClient().GetAsync($"/pixel/v1/track?writeKey={WriteKey}&anonymousId=pixel-anon&event=Product%20Added&properties.sku=oled-55&context.page.path=%2Ftv%2Foled-55&messageId=pixel-1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/gif", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TransparentGif.Bytes, await response.Content.ReadAsByteArrayAsync());
        var item = Assert.Single(ConsumeEvents(_kafka, _topic, 1)).Item;
        Assert.Equal("pixel-1", item.MessageId);
        Assert.Equal(EventType.Track, item.Type);
        Assert.Equal("Product Added", item.Event);
        Assert.Equal("pixel-anon", item.AnonymousId);
        Assert.Equal("oled-55", item.Properties!.Value.GetProperty("sku").GetString());
        Assert.Equal("/tv/oled-55", item.Context!.Page!.Path);
    }

    [Fact]
    public async Task RudderStackPixelPageIsAPageView()
    {
        var response = await _factory.CreateClient().GetAsync($"/pixel/v1/page?writeKey={WriteKey}&anonymousId=pixel-anon&name=OLED&context.page.path=%2Ftv%2Foled-55%2Fspecs&messageId=pixel-2");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var item = Assert.Single(ConsumeEvents(_kafka, _topic, 1)).Item;
        Assert.Equal("pixel-2", item.MessageId);
        Assert.Equal(EventType.Page, item.Type);
        Assert.Equal("/tv/oled-55/specs", item.Context!.Page!.Path);
    }

    [Theory]
    [InlineData("/pixel/v1/track?anonymousId=a&event=x", HttpStatusCode.Unauthorized, "write key is required")]
    [InlineData("/pixel/v1/track?writeKey=" + WriteKey + "&anonymousId=a", HttpStatusCode.BadRequest, "event is required")]
    [InlineData("/pixel/v1/track?writeKey=" + WriteKey + "&anonymousId=a&event=x&a.b.c.d.e=1", HttpStatusCode.BadRequest, "not a path into the event")]
    [InlineData("/pixel/v1/track?writeKey=" + WriteKey + "&anonymousId=a&event=x&properties=1&properties.sku=2", HttpStatusCode.BadRequest, "both a value and an object")]
    public async Task BadPixelGets4xxWithAReason(string url, HttpStatusCode status, string reason)
    {
        var response = await _factory.CreateClient().GetAsync(url);

        Assert.Equal(status, response.StatusCode);
        Assert.Contains(reason, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SegmentSettingsPointAtTheConfiguredAddressNotTheHostHeader()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/projects/{WriteKey}/settings");
        request.Headers.Host = "attacker.example";

        var response = await _factory.CreateClient().SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var settings = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var segment = settings.GetProperty("integrations").GetProperty("Segment.io");
        // Email:PublicBaseUrl is http://localhost in these tests.
        Assert.Equal("localhost/v1", segment.GetProperty("apiHost").GetString());
        Assert.Equal("http", segment.GetProperty("protocol").GetString());
        Assert.Equal(WriteKey, segment.GetProperty("apiKey").GetString());
        Assert.Single(settings.GetProperty("integrations").EnumerateObject());
    }

    [Fact]
    public async Task SettingsOfAnUnknownKeyGet401()
    {
        var response = await _factory.CreateClient().GetAsync("/v1/projects/not-a-key/settings");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("/sourceConfig/?p=npm&v=3.34.1&build=modern&writeKey=" + WriteKey, false)]
    [InlineData("/sourceConfig?p=android&v=1.21.0", true)]
    public async Task RudderStackSourceConfigIsAnEnabledSourceWithoutDestinations(string url, bool basic)
    {
        // The JS SDK v3 asks {configUrl}/sourceConfig/?…&writeKey=… (getSourceConfigURL); the mobile SDKs ask
        // {controlPlaneUrl}/sourceConfig?p=… with Basic auth. isValidSourceConfig wants source.id, source.config
        // and a destinations array.
        var client = _factory.CreateClient();
        if (basic)
        {
            client.DefaultRequestHeaders.Authorization = Basic(WriteKey);
        }

        var response = await client.GetAsync(url);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var source = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("source");
        Assert.Equal(JsonValueKind.String, source.GetProperty("id").ValueKind);
        Assert.True(source.GetProperty("enabled").GetBoolean());
        Assert.Equal(0, source.GetProperty("destinations").GetArrayLength());
        Assert.False(source.GetProperty("config").GetProperty("statsCollection").GetProperty("errors").GetProperty("enabled").GetBoolean());
    }

    [Fact]
    public async Task SourceConfigWithoutAKeyGets401()
    {
        var response = await _factory.CreateClient().GetAsync("/sourceConfig/?p=npm");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("write key is required", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MetricsAreAnsweredAndCountedNotStored()
    {
        // analytics-next's RemoteMetrics.send: POST {protocol}://{host}/m, text/plain, {"series":[…]}, no key.
        var metric = """{"series":[{"type":"Counter","metric":"analytics_js.invoke","value":1,"tags":{"type":"track","library":"analytics.js","library_version":"npm:next-1.84.3"}}]}""";
        var client = _factory.CreateClient();

        var response = await client.PostAsync("/v1/m", new StringContent(metric, Encoding.UTF8, "text/plain"));
        var bad = await client.PostAsync("/v1/m", new StringContent("{\"series\":", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var operatorClient = _factory.CreateClient();
        operatorClient.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        await Poll.UntilAsync("the metrics series counted", async () => (await operatorClient.GetStringAsync("/metrics")).Contains("ecrm_collector_client_metrics_total", StringComparison.Ordinal));
        // A track sent after it is the first message: the metric never became one.
        await client.PostAsync("/v1/t", new StringContent($$$"""{"writeKey":"{{{WriteKey}}}","event":"after","userId":"u","messageId":"after-metrics"}""", Encoding.UTF8, "text/plain"));
        Assert.Equal("after-metrics", Assert.Single(ConsumeEvents(_kafka, _topic, 1)).Item.MessageId);
    }

    [Fact]
    public async Task UnknownShortPathGets404WithAProblemDocument()
    {
        var response = await _factory.CreateClient().PostAsync("/v1/x", new StringContent("{}", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("there is no endpoint POST /v1/x", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gzip", "not gzip at all", HttpStatusCode.BadRequest, "neither JSON nor gzip of JSON")]
    [InlineData(null, "\u001f\u008b broken", HttpStatusCode.BadRequest, "neither JSON nor gzip of JSON")]
    [InlineData(null, "track=yes", HttpStatusCode.BadRequest, "body is not valid JSON")]
    [InlineData("br", "{}", HttpStatusCode.UnsupportedMediaType, "Content-Encoding 'br' is not supported")]
    public async Task BodyThatIsNeitherJsonNorGzipOfJsonGetsAReason(string? encoding, string body, HttpStatusCode status, string reason)
    {
        var content = new ByteArrayContent(body.Select(c => (byte)c).ToArray());
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("text/plain");
        if (encoding is not null)
        {
            content.Headers.ContentEncoding.Add(encoding);
        }

        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(WriteKey);
        var response = await client.PostAsync("/v1/b", content);

        Assert.Equal(status, response.StatusCode);
        Assert.Contains(reason, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GzipBombGets413()
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(WriteKey);

        var response = await client.PostAsync("/v1/b", Gzip(BombJson(16 * 1024 * 1024), "application/json"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("inflates to more than the 512000-byte limit", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GzipBombIsNotInflatedPastTheLimit()
    {
        // 16 MB of JSON in about 16 KB of gzip: inflating it all would allocate well over 16 MB.
        var compressed = Compress(BombJson(16 * 1024 * 1024));
        var http = new DefaultHttpContext();
        http.Request.Body = new MemoryStream(compressed);
        http.Request.ContentLength = compressed.Length;
        http.Request.Headers.ContentEncoding = "gzip";

        var before = GC.GetAllocatedBytesForCurrentThread();
        var reading = EncodedBody.ReadAsync(http.Request, 512_000, CancellationToken.None);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // Read without waiting (the body is in memory), so all of it ran on this thread and was counted.
        Assert.True(reading.IsCompleted);
        var read = await reading;

        Assert.Equal(StatusCodes.Status413PayloadTooLarge, read.Problem!.StatusCode);
        Assert.Null(read.Bytes);
        Assert.InRange(allocated, 0, 4 * 512_000);
    }

    [Fact]
    public async Task GzipBodyWithinTheLimitInflatesAndIsAccepted()
    {
        // 2,000 events of ~200 bytes: 400 KB inflated, under the 500 KB batch limit, a few KB as sent.
        var events = string.Join(',', Enumerable.Range(0, 2000).Select(i => $$$"""{"type":"track","event":"Product Viewed","userId":"gz-user","messageId":"gz-{{{i}}}","properties":{"sku":"oled-55","position":{{{i}}},"list":"search results page one"}}"""));
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = Basic(WriteKey);

        var response = await client.PostAsync("/v1/batch", Gzip($$$"""{"batch":[{{{events}}}]}""", "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2000, ConsumeEvents(_kafka, _topic, 2000).Count);
    }

    [Fact]
    public async Task PreflightAllowsExactlyTheSdksHeadersAndOnlyForAllowedOrigins()
    {
        using var factory = TrackingApiTests.Collector(_kafka.BootstrapServers, _topic, 30,
            ("Auth:WriteKeys:0", ""),
            ("Collector:Sources:0:Name", "shop"),
            ("Collector:Sources:0:WriteKey", "wk-shop"),
            ("Collector:Sources:0:AllowedOrigins:0", "https://shop.example"));
        var client = factory.CreateClient();

        // The headers RudderStack's XhrQueue sets on a retried event, and analytics-next's.
        var rudder = await Preflight(client, "/v1/track", "https://shop.example", "authorization,anonymousid,content-type,rsa-recovered,rsa-retry-attempt,rsa-retry-reason,rsa-since-first-attempt,rsa-since-last-attempt,sentat");
        var segment = await Preflight(client, "/v1/t", "https://shop.example", "authorization,content-type,x-retry-count");
        var config = await Preflight(client, "/sourceConfig/", "https://shop.example", "authorization,content-type", "GET");
        var other = await Preflight(client, "/v1/t", "https://elsewhere.example", "authorization");

        Assert.All(new[] { rudder, segment, config }, r => Assert.Equal(HttpStatusCode.NoContent, r.StatusCode));
        Assert.Equal(SourceCors.AllowedHeaders, rudder.Headers.GetValues("Access-Control-Allow-Headers").Single());
        Assert.Equal("GET, POST", config.Headers.GetValues("Access-Control-Allow-Methods").Single());
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
        Assert.False(other.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task NewRoutesAcknowledgeOnlyDurableEventsWhileKafkaIsDownAndDeliverThemLater()
    {
        // A cluster of its own, so taking its broker down does not disturb the other tests.
        using var cluster = new DevKafka.MockKafkaCluster(brokerCount: 1);
        cluster.CreateTopic("compat-spooled", 2, 1);
        cluster.CreateTopic("compat-spooled.dlq", 1, 1);
        var spool = Directory.CreateTempSubdirectory("ecrm-spool-").FullName;
        using var factory = TrackingApiTests.Collector(cluster.BootstrapServers, "compat-spooled", 2, ("Collector:SpoolDirectory", spool));
        var client = factory.CreateClient();
        cluster.SetBrokerDown(1, down: true);

        var shortPath = await client.PostAsync("/v1/t", new StringContent($$$"""{"writeKey":"{{{WriteKey}}}","event":"x","userId":"u","messageId":"down-t"}""", Encoding.UTF8, "text/plain"));
        var beacon = await client.PostAsync($"/beacon/v1/batch?writeKey={WriteKey}", new StringContent("""{"batch":[{"type":"track","event":"x","anonymousId":"a","messageId":"down-beacon"}]}""", Encoding.UTF8, "text/plain"));
        var gzip = await client.PostAsync("/v1/b", Gzip($$$"""{"writeKey":"{{{WriteKey}}}","batch":[{"type":"screen","name":"Home","anonymousId":"a","messageId":"down-gzip"}]}""", "text/plain"));
        var pixel = await client.GetAsync($"/pixel/v1/page?writeKey={WriteKey}&anonymousId=a&messageId=down-pixel");

        // Each was acknowledged with Kafka away, so each is on disk, in the spool, before Kafka returns.
        Assert.All(new[] { shortPath, beacon, gzip, pixel }, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        var spooled = string.Concat(Directory.EnumerateFiles(spool, "*", SearchOption.AllDirectories).Select(f => Encoding.UTF8.GetString(File.ReadAllBytes(f))));
        Assert.All(new[] { "down-t", "down-beacon", "down-gzip", "down-pixel" }, id => Assert.Contains(id, spooled, StringComparison.Ordinal));
        cluster.SetBrokerDown(1, down: false);

        var ids = ConsumeMessages(new KafkaFixture.External(cluster.BootstrapServers), "compat-spooled", 4, wait: TimeSpan.FromSeconds(25))
            .Select(m => JsonSerializer.Deserialize(m.Value, EcrmJsonContext.Default.EventEnvelope)!.MessageId).Order();
        Assert.Equal(["down-beacon", "down-gzip", "down-pixel", "down-t"], ids);
    }

    private static async Task<HttpResponseMessage> Preflight(HttpClient client, string path, string origin, string headers, string method = "POST")
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", method);
        request.Headers.Add("Access-Control-Request-Headers", headers);
        return await client.SendAsync(request);
    }

    private static string BombJson(int bytes) => "{\"batch\":[{\"type\":\"track\",\"event\":\"" + new string('a', bytes) + "\"}]}";

    private static byte[] Compress(string text)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Optimal))
        {
            gzip.Write(Encoding.UTF8.GetBytes(text));
        }

        return buffer.ToArray();
    }

    private static ByteArrayContent Gzip(string text, string contentType)
    {
        var content = new ByteArrayContent(Compress(text));
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        content.Headers.ContentEncoding.Add("gzip");
        return content;
    }
}
