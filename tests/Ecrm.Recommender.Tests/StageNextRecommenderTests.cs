using Ecrm.Common.Storage;
using Ecrm.Recommender.Content;
using Ecrm.Recommender.Recommending;
using Ecrm.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace Ecrm.Recommender.Tests;

/// <summary>The stage-next recommender reading dialogues from a real redis-server.</summary>
public sealed class StageNextRecommenderTests(RedisFixture redis) : IClassFixture<RedisFixture>, IAsyncLifetime
{
    private const string Content = """
        {"items":[
          {"id":"tv-intro","title":"Meet the TV","url":"/tv","topic":"tv","stage":1},
          {"id":"tv-specs","title":"TV specs","url":"/tv/specs","topic":"tv","stage":2},
          {"id":"tv-compare","title":"Compare TVs","url":"/tv/compare","topic":"tv","stage":3},
          {"id":"tv-offer","title":"TV offer","url":"/tv/offer","topic":"tv","stage":3},
          {"id":"tv-expired","title":"Old offer","url":"/tv/old","topic":"tv","stage":3,"activeTo":"2020-01-01T00:00:00Z"},
          {"id":"bar-offer","title":"Soundbar offer","url":"/bar/offer","topic":"bar","stage":4},
          {"id":"fridge-specs","title":"Fridge specs","url":"/fridge/specs","topic":"fridge","stage":2}]}
        """;

    private readonly string _customer = $"r-{Guid.NewGuid():N}";
    private StackExchange.Redis.ConnectionMultiplexer _connection = null!;
    private StageNextRecommender _recommender = null!;
    private ContentHolder _content = null!;
    private TopicCatalogView _topics = null!;

    public async Task InitializeAsync()
    {
        // Each test publishes to its own Redis database so catalogs do not collide.
        _connection = RedisConnection.Connect(redis.IsolatedConfiguration());
        var documents = new VersionedDocuments(_connection);
        var options = Options.Create(new RecommenderOptions());
        _content = new ContentHolder(documents, options, NullLogger<ContentHolder>.Instance);
        _topics = new TopicCatalogView(documents, options, NullLogger<TopicCatalogView>.Instance);
        await _content.StartAsync(CancellationToken.None);
        await _topics.StartAsync(CancellationToken.None);
        Assert.Empty((await _content.PublishAsync(Content)).Errors);
        Assert.Empty((await _topics.PublishAsync("""{"topics":[{"id":"tv","name":"OLED TV"},{"id":"bar","name":"Soundbar"},{"id":"fridge","name":"Fridge"}]}""")).Errors);
        _recommender = new StageNextRecommender(new DialogueReader(_connection), _content, _topics, TimeProvider.System);
    }

    public async Task DisposeAsync()
    {
        await _content.StopAsync(CancellationToken.None);
        await _topics.StopAsync(CancellationToken.None);
        _connection.Dispose();
    }

    [Fact]
    public async Task CustomerAtStageKGetsActiveStageKPlusOneContent()
    {
        await SetDialogueAsync("tv", stage: 2, DialogueStatus.Open, lastMs: 1000);

        var recommendation = await _recommender.RecommendAsync(_customer, 10, new HashSet<string>());

        Assert.Equal(["tv-compare", "tv-offer"], recommendation.Items.Select(i => i.Id));
        Assert.All(recommendation.Items, i => Assert.Equal("next step in your interest in OLED TV", i.Reason));
        Assert.Equal(StageNextRecommender.ModelName, recommendation.Model);
    }

    [Fact]
    public async Task MostRecentDialogueComesFirstAndConvertedTopicsGetNothing()
    {
        await SetDialogueAsync("tv", stage: 1, DialogueStatus.Open, lastMs: 1000);
        await SetDialogueAsync("fridge", stage: 1, DialogueStatus.Open, lastMs: 3000);
        await SetDialogueAsync("bar", stage: 4, DialogueStatus.Converted, lastMs: 5000);

        var recommendation = await _recommender.RecommendAsync(_customer, 10, new HashSet<string>());

        Assert.Equal(["fridge-specs", "tv-specs"], recommendation.Items.Select(i => i.Id));
        Assert.True(recommendation.Items[0].Score > recommendation.Items[1].Score);
    }

    [Fact]
    public async Task ExcludedItemsAndCountAreHonoured()
    {
        await SetDialogueAsync("tv", stage: 2, DialogueStatus.Open, lastMs: 1000);

        var recommendation = await _recommender.RecommendAsync(_customer, 1, new HashSet<string> { "tv-compare" });

        Assert.Equal(["tv-offer"], recommendation.Items.Select(i => i.Id));
    }

    [Fact]
    public async Task UnknownCustomerGetsAnEmptyList()
    {
        var recommendation = await _recommender.RecommendAsync("nobody-" + _customer, 10, new HashSet<string>());

        Assert.Empty(recommendation.Items);
        Assert.False(string.IsNullOrEmpty(recommendation.RecommendationId));
    }

    private async Task SetDialogueAsync(string topic, int stage, string status, long lastMs)
    {
        var database = _connection.GetDatabase();
        await database.HashSetAsync(RedisKeys.Dialogue(_customer, topic), [new(DialogueFields.Stage, stage), new(DialogueFields.Status, status), new(DialogueFields.Last, lastMs)]);
        await database.SortedSetAddAsync(RedisKeys.CustomerTopics(_customer), topic, lastMs);
    }
}
