using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Triggers;
using Ecrm.Testing;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>The trigger engine on the real Kafka mock cluster, Redis and ClickHouse, with a real webhook receiver.</summary>
[Collection(ArchiveCollection.Name)]
public sealed class TriggerTests : IClassFixture<KafkaFixture>, IAsyncLifetime
{
    private const string Topic = "tv-oled-55";
    private const string Secret = "a-webhook-secret-of-the-rule-0123";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly KafkaFixture _kafka;
    private readonly RedisFixture _redis;
    private readonly ClickHouseFixture _clickHouse;
    private readonly WebhookReceiver _receiver = new();
    private readonly string _rule = $"r-{Guid.NewGuid():N}"[..20];
    private TriggerEngineHost _engine = null!;
    private ConnectionMultiplexer _connection = null!;

    public TriggerTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse)
    {
        _kafka = kafka;
        _redis = redis;
        _clickHouse = clickHouse;
    }

    public async Task InitializeAsync()
    {
        // A logical database of its own, emptied first: rules are global to a database.
        var configuration = _redis.IsolatedConfiguration();
        _connection = RedisConnection.Connect(configuration + ",allowAdmin=true");
        await _connection.GetServer(_connection.GetEndPoints()[0]).FlushDatabaseAsync(_connection.GetDatabase().Database);
        _engine = new TriggerEngineHost(_kafka, configuration, _clickHouse, $"trg_{Guid.NewGuid():N}"[..20]);
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        _receiver.Dispose();
        _connection.Dispose();
    }

    [Fact]
    public async Task RuleFiresOnceForATransitionAndNeverTwiceUnderRedelivery()
    {
        _engine.Start();
        await _engine.CreateRuleAsync(Webhook("""{"topic":"tv-oled-55","toStage":2}"""));
        var transition = await _engine.PublishAsync("c-once", Topic, 1, 2);
        await _receiver.WaitForAsync(1, Deadline, For("c-once"));

        // The same message again, twice, and then the whole topic read again by a restarted engine
        // in a fresh consumer group: every duplicate is delivered to the trigger engine.
        await _engine.PublishAsync(transition);
        await _engine.PublishAsync(transition);
        await _engine.PublishAsync("c-sentinel-1", Topic, 1, 2);
        await _receiver.WaitForAsync(1, Deadline, For("c-sentinel-1"));
        await _engine.StopAsync();
        var again = new TriggerEngineHost(_kafka, _engine.RedisConfiguration, _clickHouse, _engine.Database, _engine.TransitionsTopic);
        await using (again)
        {
            again.Start();
            await again.PublishAsync("c-sentinel-2", Topic, 1, 2);
            await _receiver.WaitForAsync(1, Deadline, For("c-sentinel-2"));

            Assert.Single(_receiver.All, r => For("c-once")(r));
            Assert.Single(_receiver.All, r => For("c-sentinel-1")(r));
            FiringList? firings = null;
            await TriggerEngineHost.EventuallyAsync("the three firings are archived", async () =>
            {
                firings = await again.Api.GetFromJsonAsync<FiringList>($"api/triggers/{_rule}/firings");
                // The counts and the rows are two queries: wait until both have seen the last insert.
                return firings!.Firings.Count(f => f.Status == FiringStatus.Delivered) == 3 && firings.Total == 3;
            });
            Assert.Equal(1, firings!.Firings.Count(f => f.Customer == "c-once"));
            Assert.Equal("3", (await _clickHouse.QueryAsync($"SELECT count() FROM {_engine.Database}.{ArchiveSchema.TriggerFirings} FINAL WHERE rule_id = '{_rule}' FORMAT TSV")).Trim());
        }
    }

    [Fact]
    public async Task WebhookCarriesCustomerDialogueTransitionAndTriggerSignedWithTheSecret()
    {
        _engine.Start();
        var db = _connection.GetDatabase();
        await db.HashSetAsync(RedisKeys.Traits("c-signed"), [new HashEntry("region", "\"Gangnam\""), new HashEntry("points", "12000")]);
        await DialogueSeed.ReachStageAsync(_connection, "c-signed", Topic, stage: 3);
        await _engine.CreateRuleAsync(Webhook("""{"topic":"*","toStage":3}""", traits: """[{"name":"points","op":"gte","value":10000}]"""));

        var transition = await _engine.PublishAsync("c-signed", Topic, 2, 3);
        var request = (await _receiver.WaitForAsync(1, Deadline, For("c-signed"))).Single();

        var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), request.Body));
        Assert.Equal(expected, request.Headers[TriggerActions.SignatureHeader]);
        var sentAt = long.Parse(request.Headers[TriggerActions.TimestampHeader], CultureInfo.InvariantCulture);
        Assert.InRange(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - sentAt, 0, 60);
        // A body changed in transit no longer verifies.
        var tampered = request.Body.ToArray();
        tampered[^2] ^= 1;
        Assert.NotEqual(expected, TriggerActions.Sign(Secret, tampered));

        var body = JsonDocument.Parse(request.Body).RootElement;
        Assert.Equal(request.Headers[TriggerActions.FiringHeader], body.GetProperty("firingId").GetString());
        Assert.Equal(_rule, body.GetProperty("trigger").GetProperty("id").GetString());
        Assert.Equal("Gangnam", body.GetProperty("customer").GetProperty("traits").GetProperty("region").GetString());
        Assert.Equal(3, body.GetProperty("dialogue").GetProperty("stage").GetInt32());
        Assert.Equal(transition.MessageId, body.GetProperty("transition").GetProperty("messageId").GetString());
        Assert.Equal(3, body.GetProperty("transition").GetProperty("toStage").GetInt32());
        Assert.Equal(sentAt, body.GetProperty("sentAt").GetDateTimeOffset().ToUnixTimeSeconds());
    }

    [Fact]
    public async Task TraitFilterLeavesOutCustomersWhoDoNotMatch()
    {
        _engine.Start();
        await _connection.GetDatabase().HashSetAsync(RedisKeys.Traits("c-vip"), "points", "15000");
        await _connection.GetDatabase().HashSetAsync(RedisKeys.Traits("c-low"), "points", "\"300\"");
        await _engine.CreateRuleAsync(Webhook("""{"topic":"tv-oled-55","toStage":2}""", traits: """[{"name":"points","op":"gte","value":10000}]"""));

        await _engine.PublishAsync("c-low", Topic, 1, 2);
        await _engine.PublishAsync("c-vip", Topic, 1, 2);
        await _receiver.WaitForAsync(1, Deadline, For("c-vip"));
        await TriggerEngineHost.EventuallyAsync("no job is left", async () => await Pending() == 0);

        Assert.DoesNotContain(_receiver.All, r => For("c-low")(r));
    }

    [Fact]
    public async Task WaitIsCancelledByAPurchase()
    {
        _engine.Start();
        await ReadyAsync();
        await _engine.CreateRuleAsync(Webhook("""{"topic":"*","toStage":3}""", unless: """{"toStage":4,"within":"PT2S"}"""));
        var start = DateTimeOffset.UtcNow;

        await _engine.PublishAsync("c-buyer", Topic, 2, 3, at: start);
        await _engine.PublishAsync("c-browser", Topic, 2, 3, at: start.AddMilliseconds(300));
        await TriggerEngineHost.EventuallyAsync("both waits are pending", async () => await Pending() == 2);
        await _engine.PublishAsync("c-buyer", Topic, 3, 4, at: start.AddSeconds(1));

        // The browser's wait ends after the buyer's would have: once it fired, the buyer's was due and gone.
        var fired = await _receiver.WaitForAsync(1, Deadline, For("c-browser"));
        Assert.True(fired[0].ReceivedAt >= start.AddSeconds(2), "a wait fires only when it ends");
        Assert.DoesNotContain(_receiver.All, r => For("c-buyer")(r));
        Assert.Equal(0, await Pending());
    }

    [Fact]
    public async Task WaitWhoseCancelStageWasReachedUnseenDoesNotFire()
    {
        // The purchase reached Redis but its transition was never seen (or came before a re-delivered trigger).
        _engine.Start();
        await DialogueSeed.ReachStageAsync(_connection, "c-quiet-buyer", Topic, stage: 4);
        await _engine.CreateRuleAsync(Webhook("""{"topic":"*","toStage":3}""", unless: """{"toStage":4,"within":"PT1S"}"""));

        await _engine.PublishAsync("c-quiet-buyer", Topic, 2, 3);
        await _engine.PublishAsync("c-late", Topic, 2, 3, at: DateTimeOffset.UtcNow.AddMilliseconds(200));
        await _receiver.WaitForAsync(1, Deadline, For("c-late"));

        Assert.DoesNotContain(_receiver.All, r => For("c-quiet-buyer")(r));
    }

    [Fact]
    public async Task WaitFiresAfterTheEngineIsRestartedInBetween()
    {
        _engine.Start();
        await ReadyAsync();
        await _engine.CreateRuleAsync(Webhook("""{"topic":"*","toStage":3}""", unless: """{"toStage":4,"within":"PT3S"}"""));
        var start = DateTimeOffset.UtcNow;
        await _engine.PublishAsync("c-restart", Topic, 2, 3, at: start);
        await TriggerEngineHost.EventuallyAsync("the wait is in Redis", async () => await Pending() == 1);

        await _engine.StopAsync();
        await TriggerEngineHost.EventuallyAsync("the wait is due while no engine runs", () => Task.FromResult(DateTimeOffset.UtcNow > start.AddSeconds(3.5)));
        Assert.Empty(_receiver.All);
        _engine.Start();

        await _receiver.WaitForAsync(1, Deadline, For("c-restart"));
        await TriggerEngineHost.EventuallyAsync("no job is left", async () => await Pending() == 0);
        Assert.Single(_receiver.All);
    }

    [Fact]
    public async Task OncePerCustomerAndTopicHoldsAcrossEpisodesAndIsRecordedAsSuppressed()
    {
        _engine.Start();
        await _engine.CreateRuleAsync(Webhook("""{"topic":"*","toStage":2}""", limit: """{"perCustomerTopicDays":7}"""));

        await _engine.PublishAsync("c-freq", Topic, 1, 2, episode: 1);
        await _receiver.WaitForAsync(1, Deadline, For("c-freq"));
        await _engine.PublishAsync("c-freq", Topic, 1, 2, episode: 2);
        await _engine.PublishAsync("c-freq", "phone-x1", 1, 2, episode: 1);
        await _engine.PublishAsync("c-other", Topic, 1, 2, episode: 1);
        await _receiver.WaitForAsync(1, Deadline, For("c-other"));
        await _receiver.WaitForAsync(2, Deadline, For("c-freq"));
        await TriggerEngineHost.EventuallyAsync("no job is left", async () => await Pending() == 0);

        // The second episode of the same topic was held back; another topic of the same customer was not.
        Assert.Equal(["phone-x1", Topic], _receiver.All.Where(For("c-freq")).Select(r => Json(r).GetProperty("transition").GetProperty("topic").GetString()).Order());
        await TriggerEngineHost.EventuallyAsync("the suppressed firing is archived", async () =>
        {
            var firings = await _engine.Api.GetFromJsonAsync<FiringList>($"api/triggers/{_rule}/firings?status=suppressed");
            return firings!.Firings is [{ Customer: "c-freq", Episode: 2 }];
        });
    }

    [Fact]
    public async Task RatePerMinuteHoldsTheRestUntilTheNextMinute()
    {
        // Four firings must fall in one minute.
        await TriggerEngineHost.EventuallyAsync("a fresh minute", () => Task.FromResult(DateTimeOffset.UtcNow.Second < 45), TimeSpan.FromSeconds(20));
        _engine.Start();
        await ReadyAsync();
        await _engine.CreateRuleAsync(Webhook("""{"topic":"*","toStage":2}""", limit: """{"perMinute":2}"""));
        var minute = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60;

        foreach (var customer in new[] { "c-r1", "c-r2", "c-r3", "c-r4" })
        {
            await _engine.PublishAsync(customer, Topic, 1, 2);
        }

        await _receiver.WaitForAsync(2, Deadline);
        await TriggerEngineHost.EventuallyAsync("two jobs wait for the next minute", async () => await Pending() == 2);
        Assert.Equal(2, _receiver.All.Count);
        var nextMinute = (minute + 1) * 60_000;
        for (var shard = 0; shard < TriggerKeys.Shards; shard++)
        {
            foreach (var due in await _connection.GetDatabase().SortedSetRangeByRankWithScoresAsync(TriggerKeys.Due(shard)))
            {
                Assert.InRange(due.Score, nextMinute, nextMinute + 5000);
            }
        }
    }

    [Fact]
    public async Task QuietHoursHoldTheFiringUntilTheyEndInTheCustomersTimeZone()
    {
        _engine.Start();
        var seoul = TimeZoneInfo.FindSystemTimeZoneById("Asia/Seoul");
        var seoulNow = TimeZoneInfo.ConvertTime(DateTimeOffset.UtcNow, seoul);
        var quietStart = seoulNow.AddMinutes(-30);
        var quietEnd = seoulNow.AddHours(2);
        var quiet = $"{quietStart:HH\\:mm}-{quietEnd:HH\\:mm}";
        await _connection.GetDatabase().HashSetAsync(RedisKeys.Traits("c-seoul"), "timezone", "\"Asia/Seoul\"");
        // New York is 13-14 hours behind Seoul: outside a two-and-a-half-hour window there.
        await _connection.GetDatabase().HashSetAsync(RedisKeys.Traits("c-newyork"), "timezone", "\"America/New_York\"");
        await _engine.CreateRuleAsync(Webhook("""{"topic":"*","toStage":2}""", limit: $$"""{"quietHours":"{{quiet}}"}"""));

        await _engine.PublishAsync("c-seoul", Topic, 1, 2);
        await _engine.PublishAsync("c-newyork", Topic, 1, 2);
        await _receiver.WaitForAsync(1, Deadline, For("c-newyork"));
        await TriggerEngineHost.EventuallyAsync("the Seoul firing waits", async () => await Pending() == 1);

        Assert.DoesNotContain(_receiver.All, r => For("c-seoul")(r));
        var shard = TriggerKeys.ShardOf("c-seoul");
        var due = DateTimeOffset.FromUnixTimeMilliseconds((long)(await _connection.GetDatabase().SortedSetRangeByRankWithScoresAsync(TriggerKeys.Due(shard))).Single().Score);
        var expectedEnd = new DateTimeOffset(quietEnd.Year, quietEnd.Month, quietEnd.Day, quietEnd.Hour, quietEnd.Minute, 0, quietEnd.Offset);
        Assert.Equal(expectedEnd, due);
    }

    [Fact]
    public async Task AKafkaActionMayNotWriteIntoTheEnginesOwnTopics()
    {
        _engine.Start();
        foreach (var topic in new[] { _engine.EventsTopic, _engine.TransitionsTopic, _engine.EventsTopic + ".dlq" })
        {
            var rule = "{\"id\":\"" + _rule + "\",\"when\":{\"toStage\":2},\"action\":{\"type\":\"kafka\",\"topic\":\"" + topic + "\"}}";
            var response = await _engine.Api.PostAsync("api/triggers", new StringContent(rule, Encoding.UTF8, "application/json"));
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{topic}: {(int)response.StatusCode}");
            Assert.Contains("own topics", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AHostNameThatResolvesToAnInternalAddressIsRefusedAtConnectTimeWithoutRevealingTheNetwork()
    {
        // The rule names a host, not an address, so it passes validation: only the connection, after
        // DNS, finds that it is loopback (as a rebinding name would be by the time of delivery).
        _engine.Start();
        var url = _receiver.Url("rebound").Replace("http://127.0.0.1", "https://localhost", StringComparison.Ordinal);
        await _engine.CreateRuleAsync("{\"id\":\"" + _rule + "\",\"when\":{\"topic\":\"*\",\"toStage\":2},\"action\":{\"type\":\"webhook\",\"url\":\"" + url + "\",\"secret\":\"" + Secret + "\"}}");

        await _engine.PublishAsync("c-rebound", Topic, 1, 2);
        DeadLetterList? dead = null;
        await TriggerEngineHost.EventuallyAsync("a dead letter", async () =>
        {
            dead = await _engine.Api.GetFromJsonAsync<DeadLetterList>($"api/triggers/dead-letters?rule={_rule}");
            return dead!.DeadLetters.Count == 1;
        });

        var letter = dead!.DeadLetters.Single();
        Assert.Equal("the receiver's host does not resolve to a public address (see Triggers:AllowedHosts)", letter.Error);
        Assert.DoesNotContain("127.0.0.1", letter.Error, StringComparison.Ordinal);
        Assert.Empty(_receiver.All);
    }

    [Fact]
    public async Task FailingReceiverGetsItsRetriesThenADeadLetterThatReplays()
    {
        _receiver.Status = 500;
        _engine.Start();
        await _engine.CreateRuleAsync(Webhook("""{"topic":"*","toStage":2}"""));

        await _engine.PublishAsync("c-fail", Topic, 1, 2);
        var attempts = await _receiver.WaitForAsync(3, Deadline, For("c-fail"));
        DeadLetterList? dead = null;
        await TriggerEngineHost.EventuallyAsync("a dead letter", async () =>
        {
            dead = await _engine.Api.GetFromJsonAsync<DeadLetterList>($"api/triggers/dead-letters?rule={_rule}");
            return dead!.DeadLetters.Count == 1;
        });

        // MaxAttempts 3 with a 200 ms base: waits of at least 200 and 400 ms between attempts, then no more. Only the
        // lower bounds are asserted: a loaded machine may stretch the first wait past the second (seen in CI: 1,147 and 431 ms).
        Assert.Equal(["1", "2", "3"], attempts.Select(a => a.Headers[TriggerActions.AttemptHeader]));
        var gaps = attempts.Zip(attempts.Skip(1), (a, b) => (b.ReceivedAt - a.ReceivedAt).TotalMilliseconds).ToArray();
        Assert.True(gaps[0] >= 180 && gaps[1] >= 380, $"backoff gaps {string.Join(", ", gaps)}");
        var letter = dead!.DeadLetters.Single();
        Assert.Equal(("c-fail", 3), (letter.Customer, letter.Attempts));
        Assert.Contains("500", letter.Error, StringComparison.Ordinal);
        Assert.Equal(0, await Pending());
        Assert.Equal(3, _receiver.All.Count);

        _receiver.Status = 200;
        var replay = await _engine.Api.PostAsync($"api/triggers/dead-letters/{letter.FiringId}/replay", null);
        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        await _receiver.WaitForAsync(4, Deadline, For("c-fail"));
        Assert.Empty((await _engine.Api.GetFromJsonAsync<DeadLetterList>("api/triggers/dead-letters"))!.DeadLetters);
        Assert.Equal(letter.FiringId, _receiver.All[^1].Headers[TriggerActions.FiringHeader]);
        await TriggerEngineHost.EventuallyAsync("the firing is archived as delivered", async () =>
            (await _engine.Api.GetFromJsonAsync<FiringList>($"api/triggers/{_rule}/firings"))!.Firings is [{ Status: FiringStatus.Delivered }]);
    }

    [Fact]
    public async Task ErasureForgetsTheCustomersWaitsDeadLettersAndArchivedFirings()
    {
        const string Gone = "c-gone";
        // A customer id may hold '|', the firing keys' separator: this one must survive the erasure of "c-gone".
        const string Kept = "x|c-gone";
        _engine.Start();
        await ReadyAsync();
        _receiver.Status = 500;
        await _engine.CreateRuleAsync(Webhook("""{"topic":"*","toStage":2}"""));
        var waitRule = Webhook("""{"topic":"*","toStage":3}""", unless: """{"toStage":4,"within":"PT1H"}""").Replace(_rule, "w" + _rule, StringComparison.Ordinal);
        await _engine.CreateRuleAsync(waitRule);
        foreach (var customer in new[] { Gone, Kept })
        {
            await _engine.PublishAsync(customer, Topic, 1, 2);
            await _engine.PublishAsync(customer, Topic, 2, 3);
        }

        await TriggerEngineHost.EventuallyAsync("both customers have a dead letter and a pending wait", async () =>
            (await _engine.Api.GetFromJsonAsync<DeadLetterList>("api/triggers/dead-letters"))!.DeadLetters.Count == 2 && await Pending() == 2);
        await TriggerEngineHost.EventuallyAsync("the firings are archived", async () =>
            await FiringRowsAsync(Gone) > 0 && await FiringRowsAsync(Kept) > 0);

        using var erase = await _engine.Api.DeleteAsync($"api/customers/{Gone}");
        Assert.Equal(HttpStatusCode.Accepted, erase.StatusCode);
        var job = (await erase.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        await TriggerEngineHost.EventuallyAsync("the erasure is done", async () =>
            (await _engine.Api.GetFromJsonAsync<JsonElement>($"api/erasures/{job}")).GetProperty("status").GetString() == "done");

        Assert.Equal([Kept], (await _engine.Api.GetFromJsonAsync<DeadLetterList>("api/triggers/dead-letters"))!.DeadLetters.Select(d => d.Customer));
        Assert.Equal(1, await Pending());
        var db = _connection.GetDatabase();
        var jobCustomers = new List<string>();
        var keyCustomers = new List<string>();
        for (var shard = 0; shard < TriggerKeys.Shards; shard++)
        {
            jobCustomers.AddRange((await db.HashKeysAsync(TriggerKeys.Jobs(shard))).Select(id => TriggerKeys.CustomerOfJob(id!)));
            keyCustomers.AddRange((await _connection.KeysOnEveryPrimaryAsync(RedisKeyScan.PrefixPattern(TriggerKeys.ShardPrefix(shard))).ToListAsync())
                .Select(key => TriggerKeys.CustomerOfShardKey(key!)).OfType<string>());
        }

        Assert.DoesNotContain(Gone, jobCustomers);
        Assert.Contains(Kept, jobCustomers);
        Assert.DoesNotContain(Gone, keyCustomers);
        Assert.Contains(Kept, keyCustomers);
        Assert.Equal(0, await FiringRowsAsync(Gone));
        Assert.True(await FiringRowsAsync(Kept) > 0, "the other customer's firings stay");
    }

    [Theory]
    [InlineData("""{"id":"x","when":{"topic":"no-such-topic","toStage":2},"action":{"type":"webhook","url":"https://h.example/x","secret":"0123456789abcdef"}}""", "when.topic")]
    [InlineData("""{"id":"x","when":{"toStage":9},"action":{"type":"webhook","url":"https://h.example/x","secret":"0123456789abcdef"}}""", "when.toStage")]
    [InlineData("""{"id":"x","when":{"toStage":3},"unless":{"toStage":4,"within":"2 hours"},"action":{"type":"webhook","url":"https://h.example/x","secret":"0123456789abcdef"}}""", "unless.within")]
    [InlineData("""{"id":"x","when":{"toStage":3},"unless":{"toStage":2,"within":"PT2H"},"action":{"type":"webhook","url":"https://h.example/x","secret":"0123456789abcdef"}}""", "unless.toStage")]
    [InlineData("""{"id":"x","when":{"toStage":3},"action":{"type":"webhook","url":"http://crm.example/x","secret":"0123456789abcdef"}}""", "action.url")]
    [InlineData("""{"id":"x","when":{"toStage":3},"action":{"type":"webhook","url":"https://169.254.169.254/latest/meta-data","secret":"0123456789abcdef"}}""", "action.url")]
    [InlineData("""{"id":"x","when":{"toStage":3},"action":{"type":"webhook","url":"https://10.1.2.3/x","secret":"0123456789abcdef"}}""", "action.url")]
    [InlineData("""{"id":"x","when":{"toStage":3},"action":{"type":"webhook","url":"https://192.168.0.10/x","secret":"0123456789abcdef"}}""", "action.url")]
    [InlineData("""{"id":"x","when":{"toStage":3},"action":{"type":"webhook","url":"https://[::1]:8123/","secret":"0123456789abcdef"}}""", "action.url")]
    [InlineData("""{"id":"x","when":{"toStage":3},"action":{"type":"sms","url":"https://[fd00::1]/send","secret":"0123456789abcdef","targetUrl":"https://shop.example"}}""", "action.url")]
    [InlineData("""{"id":"x","when":{"toStage":3},"action":{"type":"webhook","url":"http://localhost:8123/?query=DROP","secret":"0123456789abcdef"}}""", "action.url")]
    [InlineData("""{"id":"x","when":{"toStage":3},"action":{"type":"kafka","topic":"ecrm.events"}}""", "action.topic")]
    [InlineData("""{"id":"x","when":{"toStage":3},"action":{"type":"webhook","url":"https://h.example/x","secret":"short"}}""", "action.secret")]
    [InlineData("""{"id":"x","when":{"toStage":3},"action":{"type":"fax"}}""", "action.type")]
    [InlineData("""{"id":"x","when":{"toStage":3},"action":{"type":"email","url":"https://h.example/x","secret":"0123456789abcdef"}}""", "action.targetUrl")]
    [InlineData("""{"id":"x","when":{"toStage":3},"limit":{"quietHours":"22-8"},"action":{"type":"kafka","topic":"out"}}""", "limit.quietHours")]
    [InlineData("""{"id":"x","when":{"toStage":3},"traits":[{"name":"points","op":"gte","value":"many"}],"action":{"type":"kafka","topic":"out"}}""", "traits[0].value")]
    [InlineData("""{"id":"x y","when":{"toStage":3},"action":{"type":"kafka","topic":"out"}}""", "id")]
    [InlineData("""{"id":"x","when":{"toStage":"three"},"action":{"type":"kafka","topic":"out"}}""", "when.toStage")]
    public async Task InvalidRulesAreRefusedNamingTheField(string rule, string field)
    {
        _engine.Start();

        var response = await _engine.Api.PostAsync("api/triggers", new StringContent(rule, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Contains(errors, e => e.StartsWith(field + ":", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RulesAreManagedWithTheAdminKeyAndTheSecretIsNeverShown()
    {
        _engine.Start();
        await _engine.CreateRuleAsync(Webhook("""{"topic":"*","toStage":2}"""));

        var read = await _engine.Api.GetFromJsonAsync<JsonElement>($"api/triggers/{_rule}");
        Assert.Equal("***", read.GetProperty("action").GetProperty("secret").GetString());
        Assert.Equal(HttpStatusCode.Conflict, (await _engine.Api.PostAsync("api/triggers", new StringContent(Webhook("""{"toStage":2}"""), Encoding.UTF8, "application/json"))).StatusCode);
        // A PUT with the redacted secret keeps the stored one.
        var replaced = await _engine.Api.PutAsync($"api/triggers/{_rule}", new StringContent(read.GetRawText().Replace("\"toStage\":2", "\"toStage\":3", StringComparison.Ordinal), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
        var stored = await _engine.Services.GetRequiredService<TriggerStore>().GetAsync(_rule);
        Assert.Equal((3, Secret), (stored!.When!.ToStage!.Value, stored.Action!.Secret));
        Assert.Single((await _engine.Api.GetFromJsonAsync<TriggerList>("api/triggers"))!.Triggers);

        using var anonymous = _engine.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("api/triggers")).StatusCode);
        var wrongKey = new HttpRequestMessage(HttpMethod.Get, "api/triggers");
        wrongKey.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "not-a-key");
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.SendAsync(wrongKey)).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await _engine.Api.DeleteAsync($"api/triggers/{_rule}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _engine.Api.GetAsync($"api/triggers/{_rule}")).StatusCode);
    }

    /// <summary>
    /// Waits until the engine's consumer has joined its group and reads the topic (a throwaway rule
    /// fires once), so that tests of short waits time them from when the engine hears of a transition.
    /// </summary>
    private async Task ReadyAsync()
    {
        var rule = "ready-" + _rule;
        await _engine.CreateRuleAsync("{\"id\":\"" + rule + "\",\"when\":{\"topic\":\"*\"},\"action\":{\"type\":\"webhook\",\"url\":\"" + _receiver.Url("ready") + "\",\"secret\":\"" + Secret + "\"}}");
        await _engine.PublishAsync("c-ready", "ready", 0, 1);
        await _receiver.WaitForAsync(1, Deadline, r => r.Path == "/ready");
        Assert.Equal(HttpStatusCode.NoContent, (await _engine.Api.DeleteAsync($"api/triggers/{rule}")).StatusCode);
        _receiver.Clear();
    }

    private string Webhook(string when, string? unless = null, string? limit = null, string? traits = null) =>
        "{\"id\":\"" + _rule + "\",\"name\":\"test rule\",\"when\":" + when
        + (unless is null ? "" : ",\"unless\":" + unless)
        + (limit is null ? "" : ",\"limit\":" + limit)
        + (traits is null ? "" : ",\"traits\":" + traits)
        + ",\"action\":{\"type\":\"webhook\",\"url\":\"" + _receiver.Url() + "\",\"secret\":\"" + Secret + "\"}}";

    private async Task<long> FiringRowsAsync(string customer) =>
        long.Parse(await _clickHouse.QueryAsync(
            $"SELECT count() FROM {_engine.Database}.{ArchiveSchema.TriggerFirings} WHERE customer_key = {ArchiveSql.Quote(customer)} FORMAT TSV"), CultureInfo.InvariantCulture);

    private async Task<long> Pending()
    {
        var db = _connection.GetDatabase();
        long total = 0;
        for (var shard = 0; shard < TriggerKeys.Shards; shard++)
        {
            total += await db.SortedSetLengthAsync(TriggerKeys.Due(shard));
        }

        return total;
    }

    private static Func<WebhookReceiver.Received, bool> For(string customer) =>
        r => Json(r).GetProperty("customer").GetProperty("id").GetString() == customer;

    private static JsonElement Json(WebhookReceiver.Received request) => JsonDocument.Parse(request.Body).RootElement;
}
