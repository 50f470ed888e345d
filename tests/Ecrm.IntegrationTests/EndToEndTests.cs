using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Ecrm.Common.Storage;
using Ecrm.Testing;
using StackExchange.Redis;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>The end-to-end scenarios with the services on a single redis-server.</summary>
[Collection(BackendsCollection.Name)]
public sealed class EndToEndTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse, Xunit.Abstractions.ITestOutputHelper output)
    : EndToEndScenarios(kafka, redis, clickHouse, output);

/// <summary>
/// The same scenarios with the engine and the recommender on a 3-primary Redis Cluster, unchanged: one
/// customer's keys share a slot, different customers' keys (a visitor and the customer it merges into,
/// an erased customer and a bystander) sit in different slots and mostly on different primaries.
/// </summary>
[Collection(BackendsCollection.Name)]
public sealed class RedisClusterEndToEndTests(KafkaFixture kafka, RedisClusterFixture redis, ClickHouseFixture clickHouse, Xunit.Abstractions.ITestOutputHelper output)
    : EndToEndScenarios(kafka, redis, clickHouse, output);

/// <summary>
/// The foundation's walking skeleton: collector → Kafka → dialogue engine → Redis and ClickHouse →
/// recommender, every part real and every service its own process. Run once per Redis back end.
/// </summary>
public abstract class EndToEndScenarios(KafkaFixture kafka, IRedisBackend redis, ClickHouseFixture clickHouse, Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private const string Topic = "tv-oled-55";
    private readonly EcrmServices _stack = new(kafka, redis, clickHouse);
    private readonly string _customer = $"e2e-{Guid.NewGuid():N}";
    private ConnectionMultiplexer _redis = null!;

    public Task InitializeAsync() => this.InitializeOrDisposeAsync(async () =>
    {
        // Saved segments are recomputed every second, and the recommender boosts the spa for "vip".
        _stack.Set("Engine__SegmentRefreshSeconds", "1");
        _stack.Set("Recommender__SegmentBoosts__0__Segment", "vip");
        _stack.Set("Recommender__SegmentBoosts__0__Topic", "spa-gangnam");
        _stack.Set("Recommender__SegmentBoosts__0__Boost", "5");
        await _stack.StartAsync();
        _redis = RedisConnection.Connect(_stack.RedisConfiguration);
        await _stack.PublishDemoCatalogsAsync();
    });

    public async Task DisposeAsync()
    {
        _redis?.Dispose();
        await _stack.DisposeAsync();
    }

    [Fact]
    public async Task WebEventsFoldIntoADialogueArchiveAndDriveNextStepRecommendations()
    {
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        var intro = Guid.NewGuid().ToString();
        var specs = Guid.NewGuid().ToString();
        var batch = Batch(Page(intro, "/tv/oled-55", minutesAgo: 10), Page(specs, "/tv/oled-55/specs", minutesAgo: 5));

        // 1. The collector acknowledges the customer's intro and specs page views.
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(batch))).StatusCode);

        // 2. Redis holds the dialogue at stage 2.
        var dialogues = new DialogueReader(_redis);
        await Eventually("the dialogue reaches stage 2", async () => (await dialogues.ReadOneAsync(_customer, Topic))?.Stage == 2);
        var dialogueBefore = await DialogueSnapshotAsync(_customer, Topic);

        // 3. ClickHouse holds both raw events and both transitions.
        await Eventually("ClickHouse holds both events", async () => await CountAsync("events") == "2");
        Assert.Equal($"{intro}\n{specs}\n", await QueryAsync($"SELECT message_id FROM {{db}}.events WHERE customer_key = {ArchiveSql.Quote(_customer)} ORDER BY timestamp_ms FORMAT TSV"));
        // Transitions come through the transitions topic, in the archive's own time.
        await Eventually("ClickHouse holds both transitions", async () => await CountAsync("transitions") == "2");
        Assert.Equal("0\t1\tweb\n1\t2\tweb\n", await QueryAsync($"SELECT from_stage, to_stage, channel FROM {{db}}.transitions WHERE customer_key = {ArchiveSql.Quote(_customer)} ORDER BY to_stage FORMAT TSV"));

        // 3b. Both stage changes are published on the transitions topic.
        var published = ConsumeTransitions(_customer, 2);
        Assert.Equal([(intro, 0, 1), (specs, 1, 2)], published.Select(t => (t.GetProperty("messageId").GetString(), t.GetProperty("fromStage").GetInt32(), t.GetProperty("toStage").GetInt32())).OrderBy(t => t.Item3));

        // 4. The recommender serves stage-3 content of that topic.
        using var recommender = EcrmServices.Client(_stack.RecommenderUrl, EcrmServices.ApiKey);
        var recommendation = await recommender.GetFromJsonAsync<JsonElement>($"v1/recommendations/{_customer}?n=10");
        var items = recommendation.GetProperty("items").EnumerateArray().ToArray();
        Assert.NotEmpty(items);
        Assert.All(items, item =>
        {
            Assert.Equal(Topic, item.GetProperty("topic").GetString());
            Assert.Equal(3, item.GetProperty("stage").GetInt32());
            Assert.Contains("55-inch OLED TV", item.GetProperty("reason").GetString(), StringComparison.Ordinal);
        });

        // 5. The same batch again changes nothing. A later sentinel event of the same customer shares
        //    its Kafka partition, so once the sentinel is folded and archived (each consumer group in
        //    its own time) the duplicates have been processed by both.
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(batch))).StatusCode);
        var sentinel = Guid.NewGuid().ToString();
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(Page(sentinel, "/about", minutesAgo: 1))))).StatusCode);
        await Eventually("the sentinel is folded", () => new DialogueStore(_redis, new DedupePolicy(TimeSpan.FromDays(1), 100)).FoldedRecentlyAsync(_customer, sentinel));
        await Eventually("the sentinel is archived", async () => await CountAsync("events FINAL") == "3");
        Assert.Equal(dialogueBefore, await DialogueSnapshotAsync(_customer, Topic));
        Assert.Equal("2", await CountAsync("transitions"));
        Assert.Equal("3", await QueryAsync($"SELECT uniqExact(message_id) FROM {{db}}.events WHERE customer_key = {ArchiveSql.Quote(_customer)} FORMAT TSV").ContinueWith(t => t.Result.Trim()));
    }

    [Fact]
    public async Task AStageChangePostedToTheCollectorChangesTheNextRecommendation()
    {
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        using var recommender = EcrmServices.Client(_stack.RecommenderUrl, EcrmServices.ApiKey);
        async Task<int[]> StagesAsync() => [.. (await recommender.GetFromJsonAsync<JsonElement>($"v1/recommendations/{_customer}?n=10&slot=e2e"))
            .GetProperty("items").EnumerateArray().Where(i => i.GetProperty("topic").GetString() == Topic).Select(i => i.GetProperty("stage").GetInt32()).Distinct()];

        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(Page(Guid.NewGuid().ToString(), "/tv/oled-55", minutesAgo: 1))))).StatusCode);
        await Eventually("the intro page makes the details the next step", async () => (await StagesAsync()) is [2]);

        // The specs page: from the collector's acknowledgement to the first response that shows stage 3.
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(Page(Guid.NewGuid().ToString(), "/tv/oled-55/specs", minutesAgo: 0))))).StatusCode);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while ((await StagesAsync()) is not [3])
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the recommendation did not move on to stage 3 within 30 s");
        }

        output.WriteLine($"acknowledged event to changed recommendation: {clock.Elapsed.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public async Task IdentifyMergesTheVisitorsDialogueIntoTheCustomer()
    {
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        var user = redis.NewCustomerApartFrom("user", _customer);
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(Page(Guid.NewGuid().ToString(), "/tv/oled-55/specs", minutesAgo: 3))))).StatusCode);
        var identify = "{\"type\":\"identify\",\"anonymousId\":\"" + _customer + "\",\"userId\":\"" + user + "\",\"traits\":{\"region\":\"Gangnam\",\"points\":12000}}";
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(identify)))).StatusCode);

        await Eventually("the visitor's dialogue moves to the customer", async () =>
            ((await new DialogueReader(_redis).ReadOneAsync(user, Topic))?.Stage ?? 0) == 2
            && await new DialogueReader(_redis).ReadOneAsync(_customer, Topic) is null);
        Assert.Equal("\"Gangnam\"", (string?)await _redis.GetDatabase().HashGetAsync(RedisKeys.Traits(user), "region"));

        // A later page view of the visitor's browser lands on the customer.
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(Page(Guid.NewGuid().ToString(), "/tv/oled-55/compare", minutesAgo: 1))))).StatusCode);
        await Eventually("the next stage lands on the customer", async () =>
            ((await new DialogueReader(_redis).ReadOneAsync(user, Topic))?.Stage ?? 0) == 3);
        using var reader = EcrmServices.Client(_stack.EngineUrl, EcrmServices.ApiKey);
        var view = await reader.GetFromJsonAsync<JsonElement>($"api/customers/{_customer}/dialogues");
        Assert.Equal(3, view.GetProperty("dialogues")[0].GetProperty("stage").GetInt32());

        // The integrated view, asked for by the visitor's id: the customer, both ids, the traits, and
        // the timeline of both ids' interactions (visitor page, identify, later page).
        JsonElement profile = default;
        await Eventually("the timeline holds all three interactions", async () =>
        {
            profile = await reader.GetFromJsonAsync<JsonElement>($"api/customers/{_customer}");
            return profile.GetProperty("timeline").ValueKind == JsonValueKind.Array && profile.GetProperty("timeline").GetArrayLength() == 3;
        });
        Assert.Equal(user, profile.GetProperty("customerId").GetString());
        Assert.Equal([user, _customer], profile.GetProperty("identities").EnumerateArray().Select(i => i.GetString()));
        Assert.Equal("Gangnam", profile.GetProperty("traits").GetProperty("region").GetString());
        // Newest first by event time: the identify (stamped now), the page of a minute ago, the page of three.
        Assert.Equal(["identify", "page", "page"], profile.GetProperty("timeline").EnumerateArray().Select(e => e.GetProperty("type").GetString()));
        // Grouped by topic, the communication history, latest first: the identify (no topic), then
        // the two page views of the OLED TV.
        var byTopic = profile.GetProperty("timelineByTopic").EnumerateArray().ToArray();
        Assert.Equal([("", 1), (Topic, 2)], byTopic.Select(g => (g.GetProperty("topic").GetString(), g.GetProperty("interactions").GetArrayLength())));
        Assert.Equal("55-inch OLED TV", byTopic[1].GetProperty("topicName").GetString());
    }

    [Fact]
    public async Task FoldingGoesOnThroughAClickHouseOutageAndTheArchiveCatchesUpWithNothingMissingOrDoubled()
    {
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        var before = Enumerable.Range(0, 10).Select(i => Page(Guid.NewGuid().ToString(), "/tv/oled-55", minutesAgo: 30 - i)).ToArray();
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(before)))).StatusCode);
        await Eventually("the first events are archived", async () => await CountAsync("events") == "10");

        clickHouse.StopServer();
        try
        {
            // While ClickHouse is down, events are still acknowledged and folded: the archive has a
            // consumer group of its own, so its retries hold nothing else back.
            var during = Enumerable.Range(0, 20).Select(i => Page(Guid.NewGuid().ToString(), i < 19 ? "/tv/oled-55" : "/tv/oled-55/specs", minutesAgo: 15 - (i / 2))).ToArray();
            Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(during[..10])))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(during[10..])))).StatusCode);
            await Eventually("the dialogue reaches stage 2 with ClickHouse down", async () =>
                await new DialogueReader(_redis).ReadOneAsync(_customer, Topic) is { Stage: 2 } dialogue && dialogue.InteractionsByChannel.GetValueOrDefault("web") == 30);
            // And a re-sent batch (as a client retry would) must not double anything once ClickHouse returns.
            Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(during[..10])))).StatusCode);
        }
        finally
        {
            await clickHouse.StartServerAsync();
        }

        await Eventually("the archive catches up", async () => await CountAsync("events FINAL") == "30");
        Assert.Equal("30\t30\n", await QueryAsync($"SELECT count(), uniqExact(message_id) FROM {{db}}.events FINAL WHERE customer_key = {ArchiveSql.Quote(_customer)} FORMAT TSV"));
        await Eventually("both transitions are archived", async () => await CountAsync("transitions FINAL") == "2");
        Assert.Equal("0\t1\n1\t2\n", await QueryAsync($"SELECT from_stage, to_stage FROM {{db}}.transitions FINAL WHERE customer_key = {ArchiveSql.Quote(_customer)} ORDER BY to_stage FORMAT TSV"));
    }

    [Fact]
    public async Task FunnelTrendAndSegmentApisAnswerFromTheArchiveAndRefuseBadInput()
    {
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        var batch = Batch(Page(Guid.NewGuid().ToString(), "/tv/oled-55", minutesAgo: 10), Page(Guid.NewGuid().ToString(), "/tv/oled-55/specs", minutesAgo: 5));
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(batch))).StatusCode);
        await Eventually("both events are archived", async () => await CountAsync("events") == "2");
        using var reader = EcrmServices.Client(_stack.EngineUrl, EcrmServices.ApiKey);

        var funnel = await reader.GetFromJsonAsync<JsonElement>($"api/funnels/{Topic}?breakdown=channel");
        Assert.Equal([1, 1, 0, 0], funnel.GetProperty("stages").EnumerateArray().Select(s => s.GetProperty("customers").GetInt32()));
        Assert.Equal("web", funnel.GetProperty("breakdown")[0].GetProperty("key").GetString());
        var all = await reader.GetFromJsonAsync<JsonElement>("api/funnels?sort=conversion");
        Assert.Contains(all.GetProperty("funnels").EnumerateArray(), f => f.GetProperty("topic").GetString() == Topic && f.GetProperty("stages")[1].GetProperty("customers").GetInt32() == 1);
        await Eventually("the trend shows today's entries", async () =>
        {
            var trend = await reader.GetFromJsonAsync<JsonElement>($"api/trends?topic={Topic}&interval=day");
            return trend.GetProperty("series").EnumerateArray().Count(s => s.GetProperty("points").GetArrayLength() == 1) == 2;
        });

        var conditions = "{\"conditions\":{\"dialogue\":[{\"topic\":\"" + Topic + "\",\"minStage\":2}]}}";
        var count = await (await reader.PostAsync("api/segments/count", Json(conditions))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(1, count.GetProperty("count").GetInt32());
        var prospects = conditions.Replace("{\"conditions\"", "{\"name\":\"Prospects\",\"conditions\"", StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.PutAsync("api/segments/prospects", Json(prospects))).StatusCode);
        using (var admin = EcrmServices.Client(_stack.EngineUrl, EcrmServices.AdminKey))
        {
            Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("api/segments/prospects", Json(prospects))).StatusCode);
        }

        var filtered = await reader.GetFromJsonAsync<JsonElement>($"api/funnels/{Topic}?segment=prospects");
        Assert.Equal(1, filtered.GetProperty("stages")[0].GetProperty("customers").GetInt32());
        var csv = await reader.GetStringAsync("api/segments/prospects/export.csv");
        Assert.Equal(["\"customer_id\",\"value_tier\",\"orders\",\"revenue\",\"last_seen\"", _customer], csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(',')[0].Trim('"') == _customer ? _customer : l));

        // Bad input: a clear 4xx naming the problem, never a 500.
        Assert.Equal(HttpStatusCode.NotFound, (await reader.GetAsync("api/funnels/no-such-topic")).StatusCode);
        foreach (var bad in new[] { $"api/funnels/{Topic}?window=7x", $"api/funnels/{Topic}?from=yesterday", $"api/funnels/{Topic}?segment=%7Bnot-json", $"api/funnels/{Topic}?segment=missing", "api/trends?topic=" })
        {
            var response = await reader.GetAsync(bad);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{bad}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }

        Assert.Equal(HttpStatusCode.BadRequest, (await reader.PostAsync("api/segments/count", Json("{\"conditions\":{\"traits\":[{\"name\":\"x'--\",\"op\":\"eq\",\"value\":1}]}}"))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await reader.PostAsync("api/segments/count", Json("[1,2"))).StatusCode);
        using var anonymous = new HttpClient { BaseAddress = _stack.EngineUrl };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"api/funnels/{Topic}")).StatusCode);
    }

    [Fact]
    public async Task AnEventTheFoldCannotApplyGoesToTheDeadLetterTopicWithItsReasonAndFoldingGoesOn()
    {
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        // A dialogue something other than the engine wrote: its stage is not a number.
        await _redis.GetDatabase().HashSetAsync(RedisKeys.Dialogue(_customer, Topic), DialogueFields.Stage, "not-a-number");
        var bystander = redis.NewCustomerApartFrom("other", _customer);
        var unfoldable = Guid.NewGuid().ToString();
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(Page(unfoldable, "/tv/oled-55/specs", minutesAgo: 2))))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(Page(Guid.NewGuid().ToString(), "/tv/oled-55/specs", minutesAgo: 1).Replace(_customer, bystander, StringComparison.Ordinal))))).StatusCode);

        await Eventually("the bystander's later event is folded", async () => (await new DialogueReader(_redis).ReadAsync(bystander)).SingleOrDefault()?.Stage == 2);
        var dead = Assert.Single(ConsumeKeyed(_stack.Topic + ".dlq", _customer, 1));
        Assert.Equal("dialogue-engine", dead.GetProperty("source").GetString());
        Assert.Contains("corrupt", dead.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Contains(unfoldable, dead.GetProperty("item").GetString(), StringComparison.Ordinal);
        Assert.StartsWith(_stack.Topic + "/", dead.GetProperty("position").GetString(), StringComparison.Ordinal);
        // Nothing of the event was written into the corrupt dialogue.
        Assert.Equal("not-a-number", (string?)await _redis.GetDatabase().HashGetAsync(RedisKeys.Dialogue(_customer, Topic), DialogueFields.Stage));
    }

    [Fact]
    public async Task ErasingACustomerRemovesEveryIdOfThemFromRedisAndClickHouseAndNoOneElse()
    {
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        var user = redis.NewCustomerApartFrom("user", _customer);
        var bystander = redis.NewCustomerApartFrom("other", user);
        var identify = "{\"type\":\"identify\",\"anonymousId\":\"" + _customer + "\",\"userId\":\"" + user + "\",\"traits\":{\"email\":\"kim@example.com\"}}";
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(Page(Guid.NewGuid().ToString(), "/tv/oled-55/specs", minutesAgo: 3))))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(identify, Page(Guid.NewGuid().ToString(), "/tv/oled-55", minutesAgo: 2).Replace(_customer, bystander, StringComparison.Ordinal))))).StatusCode);
        await Eventually("the customer's dialogue merged into the user", async () => ((await new DialogueReader(_redis).ReadOneAsync(user, Topic))?.Stage ?? 0) == 2);
        await Eventually("the link and all three events are archived", async () =>
            await QueryAsync($"SELECT count() FROM {{db}}.identity_links FINAL WHERE linked_id = {ArchiveSql.Quote(_customer)} FORMAT TSV") == "1\n"
            && await QueryAsync($"SELECT count() FROM {{db}}.events FINAL WHERE customer_key IN ({ArchiveSql.Quote(_customer)}, {ArchiveSql.Quote(user)}, {ArchiveSql.Quote(bystander)}) FORMAT TSV") == "3\n");

        // Both ids hold keys (the visitor's owner pointer, the customer's dialogue) before the erasure.
        Assert.NotEmpty(await _redis.KeysOnEveryPrimaryAsync(RedisKeyScan.PrefixPattern(RedisKeys.CustomerPrefix(_customer))).ToListAsync());
        Assert.NotEmpty(await _redis.KeysOnEveryPrimaryAsync(RedisKeyScan.PrefixPattern(RedisKeys.CustomerPrefix(user))).ToListAsync());
        using var admin = EcrmServices.Client(_stack.EngineUrl, EcrmServices.AdminKey);
        var erase = await admin.DeleteAsync($"api/customers/{_customer}");
        Assert.Equal(HttpStatusCode.Accepted, erase.StatusCode);
        var job = (await erase.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        JsonElement status = default;
        await Eventually("the erasure job is done", async () =>
        {
            status = await admin.GetFromJsonAsync<JsonElement>($"api/erasures/{job}");
            return status.GetProperty("status").GetString() is "done" or "failed";
        });

        Assert.Equal("done", status.GetProperty("status").GetString());
        Assert.Equal([_customer, user], status.GetProperty("identities").EnumerateArray().Select(i => i.GetString()).Order(StringComparer.Ordinal));
        foreach (var id in new[] { _customer, user })
        {
            Assert.Empty(await _redis.KeysOnEveryPrimaryAsync(RedisKeyScan.PrefixPattern(RedisKeys.CustomerPrefix(id))).ToListAsync());
            Assert.Equal("0\n", await QueryAsync($"SELECT count() FROM {{db}}.events WHERE customer_key = {ArchiveSql.Quote(id)} OR anonymous_id = {ArchiveSql.Quote(id)} OR user_id = {ArchiveSql.Quote(id)} FORMAT TSV"));
            Assert.Equal("0\n", await QueryAsync($"SELECT count() FROM {{db}}.transitions WHERE customer_key = {ArchiveSql.Quote(id)} FORMAT TSV"));
            Assert.Equal("0\n", await QueryAsync($"SELECT count() FROM {{db}}.identity_links WHERE linked_id = {ArchiveSql.Quote(id)} OR customer_key = {ArchiveSql.Quote(id)} FORMAT TSV"));
        }

        // Everyone else stays.
        Assert.Equal(1, ((await new DialogueReader(_redis).ReadOneAsync(bystander, Topic))?.Stage ?? 0));
        Assert.Equal("1\n", await QueryAsync($"SELECT count() FROM {{db}}.events WHERE customer_key = {ArchiveSql.Quote(bystander)} FORMAT TSV"));
        using var reader = EcrmServices.Client(_stack.EngineUrl, EcrmServices.ApiKey);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.DeleteAsync($"api/customers/{bystander}")).StatusCode);
    }

    [Fact]
    public async Task ASegmentExportNeutralisesCustomerIdsThatASpreadsheetWouldRunAsFormulas()
    {
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        var probe = Guid.NewGuid().ToString("N");
        string[] formulas = ["=HYPERLINK(\"http://evil.example\",\"x\")" + probe, "+1+" + probe, "-2+" + probe, "@SUM(1)" + probe];
        var plain = "plain-" + probe;
        var identifies = formulas.Append(plain).Select(user =>
            "{\"type\":\"identify\",\"userId\":" + JsonSerializer.Serialize(user) + ",\"traits\":{\"csvProbe\":\"" + probe + "\"}}");
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch([.. identifies])))).StatusCode);
        await Eventually("the identifies are archived", async () =>
            await QueryAsync($"SELECT count() FROM {{db}}.events WHERE user_id LIKE {ArchiveSql.Quote("%" + probe)} FORMAT TSV") == "5\n");

        using var reader = EcrmServices.Client(_stack.EngineUrl, EcrmServices.ApiKey);
        var conditions = "{\"conditions\":{\"traits\":[{\"name\":\"csvProbe\",\"op\":\"eq\",\"value\":\"" + probe + "\"}]}}";
        var csv = await (await reader.PostAsync("api/segments/export", Json(conditions))).Content.ReadAsStringAsync();

        // ClickHouse quotes every string cell; the id is the first one. Each formula goes out behind a
        // quote (so a spreadsheet shows it as text), the plain id unchanged. (Ids with a tab or a carriage
        // return are refused at ingestion; the export neutralises them too, for ids archived before that.)
        var ids = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(FirstQuotedCell).ToList();
        Assert.Equal(formulas.Select(f => "'" + f).Append(plain).Order(StringComparer.Ordinal), ids.Order(StringComparer.Ordinal));
        Assert.All(ids, id => Assert.DoesNotMatch("^[-=+@\t\r]", id));
    }

    [Theory]
    [InlineData("shop/42")]
    [InlineData("100%")]
    [InlineData("a%2Fb")]
    [InlineData("고객 ünïcode")]
    public async Task ACustomerIdWithASlashAPercentOrNonAsciiCharactersCanBeReadAndErased(string prefix)
    {
        var user = $"{prefix}-{Guid.NewGuid():N}";
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        var track = "{\"type\":\"track\",\"event\":\"Product Viewed\",\"userId\":" + JsonSerializer.Serialize(user) + ",\"context\":{\"page\":{\"path\":\"/tv/oled-55/specs\"}}}";
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(track)))).StatusCode);
        await Eventually("the event is archived", async () =>
            await QueryAsync($"SELECT count() FROM {{db}}.events FINAL WHERE user_id = {ArchiveSql.Quote(user)} FORMAT TSV") == "1\n");

        // Clients encode an id as one path segment (encodeURIComponent): a slash as %2F, a percent as %25.
        var segment = Uri.EscapeDataString(user);
        using var reader = EcrmServices.Client(_stack.EngineUrl, EcrmServices.ApiKey);
        var view = await reader.GetFromJsonAsync<JsonElement>($"api/customers/{segment}");
        Assert.Equal(user, view.GetProperty("customerId").GetString());
        var dialogues = await reader.GetFromJsonAsync<JsonElement>($"api/customers/{segment}/dialogues");
        Assert.Equal(user, dialogues.GetProperty("customerId").GetString());
        using var recommender = EcrmServices.Client(_stack.RecommenderUrl, EcrmServices.ApiKey);
        Assert.Equal(HttpStatusCode.OK, (await recommender.GetAsync($"v1/recommendations/{segment}")).StatusCode);

        using var admin = EcrmServices.Client(_stack.EngineUrl, EcrmServices.AdminKey);
        var erase = await admin.DeleteAsync($"api/customers/{segment}");
        Assert.Equal(HttpStatusCode.Accepted, erase.StatusCode);
        var job = (await erase.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        await Eventually("the erasure job is done", async () =>
            (await admin.GetFromJsonAsync<JsonElement>($"api/erasures/{job}")).GetProperty("status").GetString() == "done");
        Assert.Empty(await _redis.KeysOnEveryPrimaryAsync(RedisKeyScan.PrefixPattern(RedisKeys.CustomerPrefix(user))).ToListAsync());
        Assert.Equal("0\n", await QueryAsync($"SELECT count() FROM {{db}}.events WHERE user_id = {ArchiveSql.Quote(user)} FORMAT TSV"));
    }

    [Fact]
    public async Task ASavedSegmentBoostsItsContentInTheRecommendationsOfItsCustomers()
    {
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        var user = $"user-{Guid.NewGuid():N}";
        var identify = "{\"type\":\"identify\",\"anonymousId\":\"" + _customer + "\",\"userId\":\"" + user + "\",\"traits\":{\"tier\":\"vip\"}}";
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(Page(Guid.NewGuid().ToString(), "/tv/oled-55", minutesAgo: 3), identify)))).StatusCode);
        await Eventually("the identify is archived", async () =>
            await QueryAsync($"SELECT count() FROM {{db}}.events WHERE customer_key = {ArchiveSql.Quote(user)} FORMAT TSV") == "1\n");
        using var reader = EcrmServices.Client(_stack.EngineUrl, EcrmServices.ApiKey);
        using var recommender = EcrmServices.Client(_stack.RecommenderUrl, EcrmServices.ApiKey);
        var before = await recommender.GetFromJsonAsync<JsonElement>($"v1/recommendations/{user}?n=10");
        Assert.DoesNotContain(before.GetProperty("items").EnumerateArray(), i => i.GetProperty("topic").GetString() == "spa-gangnam");

        var vip = "{\"name\":\"VIP\",\"conditions\":{\"traits\":[{\"name\":\"tier\",\"op\":\"eq\",\"value\":\"vip\"}]}}";
        using (var admin = EcrmServices.Client(_stack.EngineUrl, EcrmServices.AdminKey))
        {
            Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("api/segments/vip", Json(vip))).StatusCode);
        }

        await Eventually("the engine lists the customer in the segment", () => _redis.GetDatabase().SetContainsAsync(RedisKeys.SegmentMembers("vip"), user));

        var after = await recommender.GetFromJsonAsync<JsonElement>($"v1/recommendations/{user}?n=10");
        var first = after.GetProperty("items")[0];
        Assert.Equal("spa-gangnam", first.GetProperty("topic").GetString());
        Assert.Equal("picked for you: Gangnam Spa Package", first.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task ATriggersWaitFiresForTheCustomerWhoStoppedAndIsCancelledForTheOneWhoWentOn()
    {
        using var receiver = new WebhookReceiver();
        using var admin = EcrmServices.Client(_stack.EngineUrl, EcrmServices.AdminKey);
        // Rules are global documents: on the cluster's one database a later stack would see this one.
        var rule = $"oled-no-compare-{Guid.NewGuid():N}"[..28];
        var body = "{\"id\":\"" + rule + "\",\"name\":\"OLED details, no comparison\",\"when\":{\"topic\":\"" + Topic + "\",\"toStage\":2},"
            + "\"unless\":{\"toStage\":3,\"within\":\"PT4S\"},\"action\":{\"type\":\"webhook\",\"url\":\"" + receiver.Url() + "\",\"secret\":\"integration-webhook-secret\"}}";
        var created = await admin.PostAsync("api/triggers", Json(body));
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        try
        {
            // Two customers reach the details (stage 2), so each starts a wait; one goes on to the
            // comparison (stage 3) at once and its wait is cancelled. Their jobs sit in different shards.
            using var collector = EcrmServices.Client(_stack.CollectorUrl);
            var wentOn = $"went-on-{Guid.NewGuid():N}";
            Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(
                Page(Guid.NewGuid().ToString(), "/tv/oled-55/specs", minutesAgo: 0).Replace(_customer, wentOn, StringComparison.Ordinal),
                Page(Guid.NewGuid().ToString(), "/tv/oled-55/compare", minutesAgo: 0).Replace(_customer, wentOn, StringComparison.Ordinal))))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(Page(Guid.NewGuid().ToString(), "/tv/oled-55/specs", minutesAgo: 0))))).StatusCode);

            // The wait of the customer who stopped ends after the other's would have: once it fired, the other's was due and gone.
            var fired = await receiver.WaitForAsync(1, TimeSpan.FromSeconds(60));
            Assert.Equal(_customer, JsonDocument.Parse(fired[0].Body).RootElement.GetProperty("customer").GetProperty("id").GetString());
            Assert.Equal(3, ((await new DialogueReader(_redis).ReadOneAsync(wentOn, Topic))?.Stage ?? 0));
            Assert.Single(receiver.All);
        }
        finally
        {
            await admin.DeleteAsync($"api/triggers/{rule}");
        }
    }

    [Fact]
    public async Task EveryServiceExposesPrometheusMetrics()
    {
        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        Assert.Equal(HttpStatusCode.OK, (await collector.PostAsync("v1/batch", Json(Batch(Page(Guid.NewGuid().ToString(), "/tv/oled-55", minutesAgo: 1))))).StatusCode);
        using var recommender = EcrmServices.Client(_stack.RecommenderUrl, EcrmServices.ApiKey);
        Assert.Equal(HttpStatusCode.OK, (await recommender.GetAsync($"v1/recommendations/{_customer}")).StatusCode);
        await Eventually("the event is archived", async () => await CountAsync("events") == "1");

        using var plain = new HttpClient();
        var collectorMetrics = await plain.GetStringAsync(new Uri(_stack.ManagementUrl("collector"), "metrics"));
        Assert.Matches(@"ecrm_collector_events_accepted_total\{source=""[^""]+""\} [1-9]", collectorMetrics);
        Assert.Contains("ecrm_collector_spool_bytes 0", collectorMetrics, StringComparison.Ordinal);
        Assert.Contains("http_server_request_duration_seconds_bucket{", collectorMetrics, StringComparison.Ordinal);
        var engineMetrics = "";
        await Eventually("the engine reports folds and lag", async () =>
        {
            engineMetrics = await plain.GetStringAsync(new Uri(_stack.ManagementUrl("dialogue-engine"), "metrics"));
            return engineMetrics.Contains("ecrm_engine_events_folded_total", StringComparison.Ordinal)
                && engineMetrics.Contains("ecrm_consumer_lag{group=\"archive-", StringComparison.Ordinal);
        });
        Assert.Matches(@"ecrm_consumer_lag\{group=""engine-[^""]+"",partition=""[0-9]+"",topic=""[^""]+""\} 0", engineMetrics);
        Assert.Matches(@"ecrm_engine_batch_step_duration_seconds_count\{step=""publish""\} [1-9]", engineMetrics);
        var recommenderMetrics = await plain.GetStringAsync(new Uri(_stack.ManagementUrl("recommender"), "metrics"));
        Assert.Contains("http_server_request_duration_seconds_count{", recommenderMetrics, StringComparison.Ordinal);

        // On the public ports the operations endpoints tell outsiders nothing: /metrics needs a key, and
        // /health/ready gives its status code without naming the back ends. A Host header naming the
        // management port changes nothing: the port is the connection's.
        foreach (var service in new[] { _stack.CollectorUrl, _stack.EngineUrl, _stack.RecommenderUrl })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await plain.GetAsync(new Uri(service, "metrics"))).StatusCode);
            using var spoofed = new HttpRequestMessage(HttpMethod.Get, new Uri(service, "metrics"));
            spoofed.Headers.Host = $"127.0.0.1:{_stack.ManagementUrl("collector").Port}";
            Assert.Equal(HttpStatusCode.Unauthorized, (await plain.SendAsync(spoofed)).StatusCode);
            var ready = await plain.GetStringAsync(new Uri(service, "health/ready"));
            Assert.DoesNotContain("dependencies", ready, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync(new Uri(service, "health/live"))).StatusCode);
        }

        using var withKey = EcrmServices.Client(_stack.EngineUrl, EcrmServices.ApiKey);
        Assert.Contains("ecrm_engine_events_folded_total", await withKey.GetStringAsync("metrics"), StringComparison.Ordinal);
        Assert.Contains("\"redis\"", await plain.GetStringAsync(new Uri(_stack.ManagementUrl("dialogue-engine"), "health/ready")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadAndAdminApisNeedTheirKeys()
    {
        using var anonymous = new HttpClient { BaseAddress = _stack.EngineUrl };
        using var reader = EcrmServices.Client(_stack.EngineUrl, EcrmServices.ApiKey);
        using var recommender = new HttpClient { BaseAddress = _stack.RecommenderUrl };

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("api/catalog")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("api/catalog")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.PutAsync("api/catalog", Json("{}"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await recommender.GetAsync($"v1/recommendations/{_customer}")).StatusCode);
    }

    [Fact]
    public async Task PublishedCatalogIsPickedUpWithoutRestartAndTransitionsRecordItsVersion()
    {
        using var admin = EcrmServices.Client(_stack.EngineUrl, EcrmServices.AdminKey);
        var catalog = """
            {"stages": ["awareness", "interest", "consideration", "purchase"],
             "topics": [{"id": "spa-package", "name": "Spa package", "rules": [{"channel": "web", "match": {"path": "/spa/*"}, "stage": 2}]}]}
            """;
        var published = await (await admin.PutAsync("api/catalog", Json(catalog))).Content.ReadFromJsonAsync<JsonElement>();
        var version = published.GetProperty("version").GetInt64();

        using var collector = EcrmServices.Client(_stack.CollectorUrl);
        // The engine polls for a newer catalog; until it has it, the page maps to nothing. Keep
        // sending fresh page views until one folds into the new topic.

        await Eventually("the new catalog maps the page", async () =>
        {
            await collector.PostAsync("v1/batch", Json(Batch(Page(Guid.NewGuid().ToString(), "/spa/weekend", minutesAgo: 1))));
            await Task.Delay(300);
            return (await new DialogueReader(_redis).ReadOneAsync(_customer, "spa-package"))?.Stage == 2;
        });
        await Eventually("the transition is archived", async () => await CountAsync("transitions") == "1");
        Assert.Equal($"{version}\n", await QueryAsync($"SELECT catalog_version FROM {{db}}.transitions WHERE customer_key = {ArchiveSql.Quote(_customer)} FORMAT TSV"));
    }

    [Fact]
    public async Task InvalidCatalogIsRefusedAndTheRunningOneStays()
    {
        using var admin = EcrmServices.Client(_stack.EngineUrl, EcrmServices.AdminKey);
        var before = await admin.GetAsync("api/catalog");

        var response = await admin.PutAsync("api/catalog", Json("""{"topics":[{"id":"tv","rules":[{"match":{"path":"tv"},"stage":1}]}]}"""));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("topic 'tv' rules[0].match.path", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var after = await admin.GetAsync("api/catalog");
        Assert.Equal(before.Headers.GetValues("X-Ecrm-Catalog-Version"), after.Headers.GetValues("X-Ecrm-Catalog-Version"));
    }

    private List<JsonElement> ConsumeTransitions(string customer, int expected) => ConsumeKeyed(_stack.Topic + ".transitions", customer, expected);

    private List<JsonElement> ConsumeKeyed(string topic, string customer, int expected)
    {
        using var consumer = KafkaClientFactory.CreateReader<string, byte[]>(new KafkaOptions { BootstrapServers = kafka.BootstrapServers });
        consumer.Subscribe(topic);
        var found = new List<JsonElement>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline && found.Count < expected)
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is { IsPartitionEOF: false } result && result.Message.Key == customer)
            {
                found.Add(JsonDocument.Parse(result.Message.Value).RootElement.Clone());
            }
        }

        consumer.Close();
        return found;
    }

    /// <summary>The first cell of a CSV row whose cells are quoted, a doubled quote standing for one.</summary>
    private static string FirstQuotedCell(string line)
    {
        var cell = new StringBuilder();
        for (var i = 1; i < line.Length; i++)
        {
            if (line[i] == '"' && (i + 1 == line.Length || line[i + 1] != '"'))
            {
                break;
            }

            cell.Append(line[i]);
            i += line[i] == '"' ? 1 : 0;
        }

        return cell.ToString();
    }

    private static string Batch(params string[] events) => $$"""{"batch":[{{string.Join(',', events)}}]}""";

    private string Page(string messageId, string path, int minutesAgo) =>
        "{\"type\":\"page\",\"messageId\":\"" + messageId + "\",\"anonymousId\":\"" + _customer + "\",\"channel\":\"web\","
        + "\"originalTimestamp\":\"" + DateTimeOffset.UtcNow.AddMinutes(-minutesAgo).ToString("O") + "\","
        + "\"context\":{\"page\":{\"path\":\"" + path + "\",\"url\":\"https://shop.example" + path + "\"}}}";

    private async Task<string> CountAsync(string table) =>
        (await QueryAsync($"SELECT count() FROM {{db}}.{table} WHERE customer_key = {ArchiveSql.Quote(_customer)} FORMAT TSV")).Trim();

    private Task<string> QueryAsync(string sql) => clickHouse.QueryAsync(sql.Replace("{db}", _stack.ClickHouseDatabase, StringComparison.Ordinal));

    /// <summary>The dialogue as the engine's reader sees it, as JSON, to compare before and after.</summary>
    private async Task<string> DialogueSnapshotAsync(string customer, string topic) =>
        JsonSerializer.Serialize(await new DialogueReader(_redis).ReadOneAsync(customer, topic));

    private Task Eventually(string what, Func<Task<bool>> condition) =>
        Poll.UntilAsync(what, condition, explain: () => $"engine log:\n{_stack.Logs("dialogue-engine")}");

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
