using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using Ecrm.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Xunit;

namespace Ecrm.Recommender.Tests;

/// <summary>POST /v1/recommendations, as a web page calls it, on a real redis-server.</summary>
public sealed class BrowserRecommendationsApiTests : IClassFixture<RedisFixture>, IAsyncLifetime
{
    private readonly string _configuration;
    private readonly WebApplicationFactory<Program> _factory;
    private const string IdentitySecret = "site-server-secret";
    private readonly string _visitor = $"anon-{Guid.NewGuid():N}";

    public BrowserRecommendationsApiTests(RedisFixture redis)
    {
        _configuration = redis.IsolatedConfiguration();
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder => builder
            .UseSetting("Redis:Configuration", _configuration)
            .UseSetting("Auth:WriteKeys:0", "wk-site")
            .UseSetting("Auth:ApiKeys:0", "ak-app")
            .UseSetting("Auth:AdminKeys:0", "adm")
            .UseSetting("Auth:IdentitySecrets:0:WriteKey", "wk-site")
            .UseSetting("Auth:IdentitySecrets:0:Secret", IdentitySecret)
            .UseSetting("Recommender:AllowedOrigins:0", "https://shop.example")
            .UseSetting("Recommender:CatalogPollMs", "100")
            .UseSetting("Recommender:ModelDirectory", Path.Combine(Path.GetTempPath(), $"ecrm-no-models-{Guid.NewGuid():N}")));
    }

    public async Task InitializeAsync()
    {
        var admin = _factory.CreateClient();
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "adm");
        Assert.True((await admin.PutAsync("/v1/items", Json(await File.ReadAllTextAsync(RepoPaths.Combine("dev", "demo", "content-catalog.json"))))).IsSuccessStatusCode);
        // The topic catalog is the engine's to publish; here it goes straight into Redis the same way.
        using var connection = RedisConnection.Connect(_configuration);
        await new VersionedDocuments(connection).PublishAsync("topics", await File.ReadAllTextAsync(RepoPaths.Combine("dev", "demo", "topic-catalog.json")));
        await Task.Delay(300);
    }

    public Task DisposeAsync()
    {
        _factory.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task FirstTimeVisitorOnADetailsPageGetsThatProductsNextStep()
    {
        var response = await Browser().PostAsJsonAsync("/v1/recommendations", new { anonymousId = _visitor, n = 3, context = new { topic = "tv-oled-55", stage = "interest" } });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var items = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("items").EnumerateArray().ToArray();
        Assert.Equal(["tv-oled-55-compare", "tv-oled-55-offer"], items.Select(i => i.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task KnownVisitorGetsTheirLiveDialoguesToo()
    {
        using var connection = RedisConnection.Connect(_configuration);
        await DialogueSeed.ReachStageAsync(connection, _visitor, "phone-z5", stage: 1);

        var response = await Browser().PostAsJsonAsync("/v1/recommendations", new { anonymousId = _visitor, n = 10 });

        var items = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("items").EnumerateArray();
        Assert.All(items, i => Assert.Equal(("phone-z5", 2), (i.GetProperty("topic").GetString(), i.GetProperty("stage").GetInt32())));
    }

    [Fact]
    public async Task TheWriteKeyReadsAKnownCustomerOnlyWithTheirSignature()
    {
        var customer = $"user-{Guid.NewGuid():N}";
        await GiveLiveDialogueAsync(customer, userIdSeen: true);

        var unsigned = await TopicsServedAsync(Browser(), new { userId = customer, n = 10 });
        var forged = await TopicsServedAsync(Browser(), new { userId = customer, userHash = IdentityVerification.Sign("guessed", customer), n = 10 });
        var asAnonymousId = await TopicsServedAsync(Browser(), new { anonymousId = customer, n = 10 });
        var signed = await TopicsServedAsync(Browser(), new { userId = customer, userHash = IdentityVerification.Sign(IdentitySecret, customer), n = 10 });
        var fromServer = await TopicsServedAsync(Server(), new { userId = customer, n = 10 });

        // Unproved, the answer is what any first-time visitor gets: nothing of the customer's dialogue.
        Assert.DoesNotContain("phone-z5", unsigned);
        Assert.DoesNotContain("phone-z5", forged);
        Assert.DoesNotContain("phone-z5", asAnonymousId);
        Assert.All(signed, topic => Assert.Equal("phone-z5", topic));
        Assert.NotEmpty(signed);
        Assert.All(fromServer, topic => Assert.Equal("phone-z5", topic));
    }

    [Fact]
    public async Task AnAnonymousIdMergedIntoACustomerServesThatCustomerButAnOldUserIdAliasedAwayDoesNot()
    {
        var customer = $"user-{Guid.NewGuid():N}";
        var oldUserId = $"old-{Guid.NewGuid():N}";
        await GiveLiveDialogueAsync(customer, userIdSeen: true);
        using var connection = RedisConnection.Connect(_configuration);
        var database = connection.GetDatabase();
        // The browser's own anonymous id, linked by its identify; and an earlier user id aliased to the customer.
        await database.StringSetAsync(RedisKeys.Owner(_visitor), customer);
        await database.StringSetAsync(RedisKeys.Owner(oldUserId), customer);
        await database.StringSetAsync(RedisKeys.KnownUser(oldUserId), "1");

        var ownBrowser = await TopicsServedAsync(Browser(), new { anonymousId = _visitor, n = 10 });
        var oldId = await TopicsServedAsync(Browser(), new { anonymousId = oldUserId, n = 10 });

        Assert.NotEmpty(ownBrowser);
        Assert.All(ownBrowser, topic => Assert.Equal("phone-z5", topic));
        Assert.DoesNotContain("phone-z5", oldId);
    }

    [Fact]
    public async Task CorsNeverAllowsCredentials()
    {
        var response = await Browser().PostAsJsonAsync("/v1/recommendations", new { anonymousId = _visitor });

        Assert.Equal("https://shop.example", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.False(response.Headers.Contains("Access-Control-Allow-Credentials"));
    }

    [Fact]
    public async Task WithoutAKeyGets401AndUnknownTopicGets400()
    {
        var anonymous = await _factory.CreateClient().PostAsJsonAsync("/v1/recommendations", new { anonymousId = _visitor });
        var unknown = await Browser().PostAsJsonAsync("/v1/recommendations", new { anonymousId = _visitor, context = new { topic = "no-such-topic" } });

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("no-such-topic", await unknown.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABodyOverTheEndpointsLimitGets413WithAProblemDocument()
    {
        var exclude = string.Join(',', Enumerable.Range(0, 200_000).Select(i => $"\"item-{i}\""));
        var huge = new StringContent("{\"anonymousId\":\"" + _visitor + "\",\"exclude\":[" + exclude + "]}", Encoding.UTF8, "application/json");

        var response = await Browser().PostAsync("/v1/recommendations", huge);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("16384 bytes", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PreflightIsAnsweredForAllowedOriginsOnly()
    {
        var client = _factory.CreateClient();

        var allowed = await client.SendAsync(Preflight("https://shop.example"));
        var other = await client.SendAsync(Preflight("https://evil.example"));

        Assert.Equal(HttpStatusCode.NoContent, allowed.StatusCode);
        Assert.Equal("https://shop.example", allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.False(other.Headers.Contains("Access-Control-Allow-Origin"));
    }

    /// <summary>A dialogue at stage 1 of phone-z5, whose next step only this customer would be shown.</summary>
    private async Task GiveLiveDialogueAsync(string customer, bool userIdSeen)
    {
        using var connection = RedisConnection.Connect(_configuration);
        var database = connection.GetDatabase();
        await DialogueSeed.ReachStageAsync(connection, customer, "phone-z5", stage: 1);
        if (userIdSeen)
        {
            // What the engine's fold leaves once an event named the id as its userId.
            await database.StringSetAsync(RedisKeys.KnownUser(customer), "1");
        }
    }

    private static async Task<List<string>> TopicsServedAsync(HttpClient client, object request)
    {
        var response = await client.PostAsJsonAsync("/v1/recommendations", request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return [.. (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("items").EnumerateArray().Select(i => i.GetProperty("topic").GetString()!)];
    }

    private HttpClient Server()
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "ak-app");
        return client;
    }

    private HttpClient Browser()
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("wk-site:")));
        client.DefaultRequestHeaders.Add("Origin", "https://shop.example");
        return client;
    }

    private static HttpRequestMessage Preflight(string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/v1/recommendations");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        return request;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
