using System.Net.Http.Headers;
using System.Text;
using Ecrm.Common.Storage;
using Ecrm.Recommender.Models;
using Ecrm.Recommender.Recommending;
using Ecrm.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using Xunit;

namespace Ecrm.Recommender.Tests;

/// <summary>
/// The recommender's web host in process on a real redis-server (a logical database of its own), with
/// a model folder of its own and a small catalog of five topics with three stages of content each.
/// </summary>
public sealed class RecommenderHost : IAsyncDisposable
{
    public const string ApiKey = "ak-test";
    public const string AdminKey = "adm-test";

    public const string Topics = """
        {"topics":[{"id":"tv","name":"OLED TV"},{"id":"bar","name":"Soundbar"},{"id":"fridge","name":"Fridge"},
                   {"id":"phone","name":"Phone"},{"id":"laptop","name":"Laptop"}]}
        """;

    public const string Content = """
        {"items":[
          {"id":"tv-intro","title":"Meet the TV","url":"/tv","topic":"tv","stage":1},
          {"id":"tv-specs","title":"TV specs","url":"/tv/specs","topic":"tv","stage":2},
          {"id":"tv-compare","title":"Compare TVs","url":"/tv/compare","topic":"tv","stage":3},
          {"id":"tv-offer","title":"TV offer","url":"/tv/offer","topic":"tv","stage":3},
          {"id":"tv-expired","title":"Old offer","url":"/tv/old","topic":"tv","stage":3,"activeTo":"2020-01-01T00:00:00Z"},
          {"id":"bar-intro","title":"Meet the soundbar","url":"/bar","topic":"bar","stage":1},
          {"id":"bar-specs","title":"Soundbar specs","url":"/bar/specs","topic":"bar","stage":2},
          {"id":"bar-offer","title":"Soundbar offer","url":"/bar/offer","topic":"bar","stage":4},
          {"id":"fridge-intro","title":"Meet the fridge","url":"/fridge","topic":"fridge","stage":1},
          {"id":"fridge-specs","title":"Fridge specs","url":"/fridge/specs","topic":"fridge","stage":2},
          {"id":"phone-intro","title":"Meet the phone","url":"/phone","topic":"phone","stage":1},
          {"id":"phone-specs","title":"Phone specs","url":"/phone/specs","topic":"phone","stage":2},
          {"id":"laptop-intro","title":"Meet the laptop","url":"/laptop","topic":"laptop","stage":1}]}
        """;

    private readonly WebApplicationFactory<Program> _factory;

    public RecommenderHost(RedisFixture redis, IReadOnlyDictionary<string, string>? settings = null)
    {
        RedisConfiguration = redis.IsolatedConfiguration();
        ModelDirectory = Directory.CreateTempSubdirectory("ecrm-models-").FullName;
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            builder.UseSetting("Redis:Configuration", RedisConfiguration)
                .UseSetting("Auth:ApiKeys:0", ApiKey)
                .UseSetting("Auth:AdminKeys:0", AdminKey)
                .UseSetting("Recommender:CatalogPollMs", "100")
                .UseSetting("Recommender:ModelDirectory", ModelDirectory)
                .UseSetting("Logging:LogLevel:Default", "Warning");
            foreach (var (name, value) in settings ?? new Dictionary<string, string>())
            {
                builder.UseSetting(name, value);
            }
        });
        Redis = RedisConnection.Connect(RedisConfiguration);
    }

    public string RedisConfiguration { get; }

    public string ModelDirectory { get; }

    public ConnectionMultiplexer Redis { get; }

    public IServiceProvider Services => _factory.Services;

    public BlendedRecommender Recommender => Services.GetRequiredService<BlendedRecommender>();

    public LiveModels Models => Services.GetRequiredService<LiveModels>();

    /// <summary>Starts the host and publishes both catalogs (the topic catalog as the engine would, straight into Redis).</summary>
    public async Task StartAsync(string content = Content)
    {
        using var admin = Client(AdminKey);
        using var response = await admin.PutAsync("/v1/items", new StringContent(content, Encoding.UTF8, "application/json"));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        await new VersionedDocuments(Redis).PublishAsync("topics", Topics);
        var topics = Services.GetRequiredService<Content.TopicCatalogView>();
        for (var wait = 0; topics.Current.FindTopic("tv") is null; wait++)
        {
            Assert.True(wait < 100, "the topic catalog was not picked up");
            await Task.Delay(50);
        }
    }

    public HttpClient Client(string key = ApiKey)
    {
        var client = _factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>The customer's dialogue at <paramref name="stage"/>, last touched at <paramref name="lastMs"/>; stage 4 converts it.</summary>
    public Task SetDialogueAsync(string customer, string topic, int stage, long lastMs = 1000) =>
        DialogueSeed.ReachStageAsync(Redis, customer, topic, stage, lastMs);

    /// <summary>
    /// Training data over the five topics: 20 customers read about the TV and the soundbar, 5 the TV
    /// and the fridge, 40 only the fridge, 10 the phone and the laptop. Popularity: fridge, TV, soundbar,
    /// phone, laptop; the soundbar goes with the TV. <paramref name="seed"/> (up to 4) adds a few
    /// TV-and-phone readers without changing that order.
    /// </summary>
    public static List<Interaction> History(int seed = 0)
    {
        var at = DateTimeOffset.Parse("2026-11-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var interactions = new List<Interaction>();
        void Add(string user, string topic, int stage) => interactions.Add(new Interaction(user, topic, stage, at));
        for (var u = 0; u < 20; u++)
        {
            Add($"u{u}", "tv", 2 + (u % 3));
            Add($"u{u}", "bar", 1 + ((u + seed) % 4));
        }

        for (var u = 20; u < 25; u++)
        {
            Add($"u{u}", "tv", 1);
            Add($"u{u}", "fridge", 2);
        }

        for (var u = 25; u < 65; u++)
        {
            Add($"u{u}", "fridge", 1 + (u % 4));
        }

        for (var u = 65; u < 75; u++)
        {
            Add($"u{u}", "phone", 2);
            Add($"u{u}", "laptop", 1 + (u % 2));
        }

        // A different seed adds a few TV-and-phone readers, so the model (and its version) differs.
        for (var u = 75; u < 75 + seed; u++)
        {
            Add($"u{u}", "tv", 1);
            Add($"u{u}", "phone", 1);
        }

        return interactions;
    }

    public static ItemItemModel Train(ModelKind kind, int seed = 0) => ModelTrainer.Train(History(seed), ModelOptions.For(kind) with { HalfLife = null });

    public async ValueTask DisposeAsync()
    {
        Redis.Dispose();
        await _factory.DisposeAsync();
        Directory.Delete(ModelDirectory, recursive: true);
    }
}
