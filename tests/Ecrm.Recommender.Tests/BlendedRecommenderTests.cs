using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Ecrm.Common.Storage;
using Ecrm.Recommender.Models;
using Ecrm.Recommender.Recommending;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.Recommender.Tests;

/// <summary>Blending, explanations, cold start and the rules, through the recommender's host on a real redis-server.</summary>
public sealed class BlendedRecommenderTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private readonly string _customer = $"r-{Guid.NewGuid():N}";

    [Fact]
    public async Task CustomerAtStageKGetsActiveStageKPlusOneContent()
    {
        await using var host = await StartAsync();
        await host.SetDialogueAsync(_customer, "tv", stage: 2);

        var recommendation = await host.Recommender.RecommendAsync(_customer, 10, new HashSet<string>());

        Assert.Equal(["tv-compare", "tv-offer"], recommendation.Items.Select(i => i.Id));
        Assert.All(recommendation.Items, i => Assert.Equal("next step in your interest in OLED TV", i.Reason));
        Assert.Equal("default/stage-next", recommendation.Model);
        Assert.StartsWith("default.", recommendation.RecommendationId, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MergedIdIsServedItsOwnersDialoguesAndTheOwnersSuppression()
    {
        await using var host = await StartAsync();
        var anonymous = "anon-" + _customer;
        var alias = "alias-" + _customer;
        await host.SetDialogueAsync(_customer, "tv", stage: 2);
        await host.SetDialogueAsync(anonymous, "fridge", stage: 1);
        var database = host.Redis.GetDatabase();
        // Two hops, as the identity linker leaves them: alias -> anonymous id -> customer.
        await database.StringSetAsync(RedisKeys.Owner(alias), anonymous);
        await database.StringSetAsync(RedisKeys.Owner(anonymous), _customer);

        var viaAlias = await host.Recommender.RecommendAsync(alias, 10, new HashSet<string>());
        await database.HashSetAsync(RedisKeys.Traits(_customer), "suppressed", "true");
        var suppressed = await host.Recommender.RecommendAsync(alias, 10, new HashSet<string>());

        Assert.Equal(["tv-compare", "tv-offer"], viaAlias.Items.Select(i => i.Id));
        Assert.DoesNotContain(suppressed.Items, i => i.Id is "tv-compare" or "tv-offer");
    }

    [Fact]
    public async Task MostRecentDialogueComesFirstAndConvertedTopicsGetNothing()
    {
        await using var host = await StartAsync();
        await host.SetDialogueAsync(_customer, "tv", stage: 1, lastMs: 1000);
        await host.SetDialogueAsync(_customer, "fridge", stage: 1, lastMs: 3000);
        await host.SetDialogueAsync(_customer, "bar", stage: 4, lastMs: 5000);

        var recommendation = await host.Recommender.RecommendAsync(_customer, 10, new HashSet<string>());

        Assert.Equal(["fridge-specs", "tv-specs"], recommendation.Items.Select(i => i.Id));
        Assert.True(recommendation.Items[0].Score > recommendation.Items[1].Score);
    }

    [Fact]
    public async Task UnknownCustomerWithoutAModelGetsAnEmptyList()
    {
        await using var host = await StartAsync();

        var recommendation = await host.Recommender.RecommendAsync("nobody-" + _customer, 10, new HashSet<string>());

        Assert.Empty(recommendation.Items);
        Assert.False(string.IsNullOrEmpty(recommendation.RecommendationId));
    }

    [Theory]
    [InlineData(ModelKind.Sar)]
    [InlineData(ModelKind.Ease)]
    public async Task StageNextComesFirstThenWhatCustomersLikeThemReadWithReasons(ModelKind kind)
    {
        await using var host = await StartAsync(new() { ["Recommender:Model"] = kind.ToString() });
        host.Models.Swap(RecommenderHost.Train(kind));
        await host.SetDialogueAsync(_customer, "tv", stage: 2);

        var recommendation = await host.Recommender.RecommendAsync(_customer, 5, new HashSet<string>());

        var items = recommendation.Items;
        Assert.Equal(["tv-compare", "tv-offer", "bar-intro", "fridge-intro"], items.Take(4).Select(i => i.Id));
        Assert.Equal("next step in your interest in OLED TV", items[0].Reason);
        Assert.Equal("customers interested in OLED TV also looked at Soundbar", items[2].Reason);
        Assert.True(items[1].Score > items[2].Score && items[2].Score > items[3].Score);
        Assert.Equal($"default/{host.Models.Get(kind)!.Version}", recommendation.Model);
        Assert.StartsWith(kind.ToString().ToLowerInvariant() + "-", host.Models.Get(kind)!.Version, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ColdCustomerGetsTheMostPopularTopicsEntryContent()
    {
        await using var host = await StartAsync(new() { ["Recommender:Model"] = "Sar" });
        host.Models.Swap(RecommenderHost.Train(ModelKind.Sar));

        var recommendation = await host.Recommender.RecommendAsync("cold-" + _customer, 10, new HashSet<string>());

        Assert.Equal(["fridge-intro", "tv-intro", "bar-intro", "phone-intro", "laptop-intro"], recommendation.Items.Select(i => i.Id));
        Assert.Equal("popular with our customers: Fridge", recommendation.Items[0].Reason);
    }

    [Fact]
    public async Task ExcludedItemsAreLeftOutOfEverySignal()
    {
        await using var host = await StartAsync(new() { ["Recommender:Model"] = "Sar" });
        host.Models.Swap(RecommenderHost.Train(ModelKind.Sar));
        await host.SetDialogueAsync(_customer, "tv", stage: 2);
        using var client = host.Client();

        var recommendation = await client.GetFromJsonAsync<JsonElement>($"/v1/recommendations/{_customer}?n=10&slot=home&exclude=tv-offer,bar-intro,fridge-intro");

        var ids = recommendation.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()).ToList();
        Assert.Equal("tv-compare", ids[0]);
        Assert.DoesNotContain("tv-offer", ids);
        Assert.DoesNotContain("bar-intro", ids);
        Assert.DoesNotContain("fridge-intro", ids);
        Assert.Contains("phone-intro", ids);
    }

    [Fact]
    public async Task SuppressedCustomerGetsGenericContentOnly()
    {
        await using var host = await StartAsync(new() { ["Recommender:Model"] = "Sar", ["Recommender:FrequencyCap:MaxImpressions"] = "1" });
        host.Models.Swap(RecommenderHost.Train(ModelKind.Sar));
        await host.SetDialogueAsync(_customer, "tv", stage: 2);
        var personal = await host.Recommender.RecommendAsync(_customer, 3, new HashSet<string>());
        await host.Redis.GetDatabase().HashSetAsync(RedisKeys.Traits(_customer), "suppressed", "true");

        var generic = await host.Recommender.RecommendAsync(_customer, 10, new HashSet<string>());

        Assert.Contains(personal.Items, i => i.Id == "tv-compare");
        Assert.Equal(["fridge-intro", "tv-intro", "bar-intro", "phone-intro", "laptop-intro"], generic.Items.Select(i => i.Id));
        Assert.All(generic.Items, i => Assert.StartsWith("popular with our customers", i.Reason, StringComparison.Ordinal));
        // Nothing more is recorded about a suppressed customer: the served counts are the personal response's only.
        var served = await host.Redis.GetDatabase().HashKeysAsync(ServedKey());
        Assert.Equal(personal.Items.Select(i => i.Id).Order(), served.Select(s => (string)s!).Order());
    }

    [Fact]
    public async Task OptedOutCustomerWithoutAModelGetsEveryTopicsIntroduction()
    {
        await using var host = await StartAsync();
        await host.SetDialogueAsync(_customer, "tv", stage: 2);
        await host.Redis.GetDatabase().HashSetAsync(RedisKeys.Traits(_customer), "optedOut", "true");

        var generic = await host.Recommender.RecommendAsync(_customer, 10, new HashSet<string>());

        Assert.Equal(["tv-intro", "bar-intro", "fridge-intro", "phone-intro", "laptop-intro"], generic.Items.Select(i => i.Id));
        Assert.Equal("an introduction to OLED TV", generic.Items[0].Reason);
    }

    [Fact]
    public async Task FrequencyCapStopsServingAnItemWithinThePeriod()
    {
        await using var host = await StartAsync(new() { ["Recommender:FrequencyCap:MaxImpressions"] = "2", ["Recommender:FrequencyCap:PeriodHours"] = "24" });
        await host.SetDialogueAsync(_customer, "tv", stage: 2);

        var first = await host.Recommender.RecommendAsync(_customer, 1, new HashSet<string>());
        var second = await host.Recommender.RecommendAsync(_customer, 1, new HashSet<string>());
        await WaitForServedAsync(host, "tv-compare", 2);
        var third = await host.Recommender.RecommendAsync(_customer, 1, new HashSet<string>());

        Assert.Equal(["tv-compare"], first.Items.Select(i => i.Id));
        Assert.Equal(["tv-compare"], second.Items.Select(i => i.Id));
        Assert.Equal(["tv-offer"], third.Items.Select(i => i.Id));
        var ttl = await host.Redis.GetDatabase().KeyTimeToLiveAsync(ServedKey());
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromHours(24) + TimeSpan.FromMinutes(2));
    }

    [Fact]
    public async Task NoMoreThanMaxPerTopicItemsComeFromOneTopic()
    {
        await using var host = await StartAsync(new() { ["Recommender:MaxPerTopic"] = "1", ["Recommender:Model"] = "Sar" });
        host.Models.Swap(RecommenderHost.Train(ModelKind.Sar));
        await host.SetDialogueAsync(_customer, "tv", stage: 2);

        var recommendation = await host.Recommender.RecommendAsync(_customer, 10, new HashSet<string>());

        Assert.Equal(["tv-compare", "bar-intro", "fridge-intro", "phone-intro", "laptop-intro"], recommendation.Items.Select(i => i.Id));
    }

    [Fact]
    public async Task SimilarItemsAreTheRestOfTheTopicThenTopicsCustomersAlsoRead()
    {
        await using var host = await StartAsync(new() { ["Recommender:Model"] = "Sar" });
        host.Models.Swap(RecommenderHost.Train(ModelKind.Sar));
        using var client = host.Client();

        var similar = await client.GetFromJsonAsync<JsonElement>("/v1/items/tv-specs/similar?n=4");
        var missing = await client.GetAsync("/v1/items/no-such-item/similar");

        var items = similar.GetProperty("items").EnumerateArray().ToArray();
        Assert.Equal(["tv-intro", "tv-compare", "tv-offer", "bar-intro"], items.Select(i => i.GetProperty("id").GetString()));
        Assert.Equal("more about OLED TV", items[0].GetProperty("reason").GetString());
        Assert.Equal("customers interested in OLED TV also looked at Soundbar", items[3].GetProperty("reason").GetString());
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public void VariantSplitIsStableAndEven()
    {
        Variant[] variants = [new("a", ModelKind.Sar, new BlendWeights()), new("b", ModelKind.Ease, new BlendWeights())];
        var ids = Enumerable.Range(0, 20_000).Select(i => $"customer-{i}").ToArray();

        var first = ids.Select(id => BlendedRecommender.Choose(variants, id).Name).ToArray();
        var again = ids.Select(id => BlendedRecommender.Choose(variants, id).Name).ToArray();

        Assert.Equal(first, again);
        Assert.InRange(first.Count(v => v == "a") / (double)ids.Length, 0.48, 0.52);
        // Fixed values: the split must not change between releases, or customers would switch arms.
        Assert.Equal(["b", "a", "a"], new[] { "alice", "bob", "carol" }.Select(id => BlendedRecommender.Choose(variants, id).Name));
    }

    [Fact]
    public async Task EachCustomerIsServedByTheirVariantsModelAndTheIdSaysWhich()
    {
        await using var host = await StartAsync(new()
        {
            ["Recommender:Variants:0:Name"] = "a",
            ["Recommender:Variants:0:Model"] = "Sar",
            ["Recommender:Variants:1:Name"] = "b",
            ["Recommender:Variants:1:Model"] = "Ease",
            ["Recommender:Variants:1:Blend:Collaborative"] = "2",
        });
        host.Models.Swap(RecommenderHost.Train(ModelKind.Sar));
        host.Models.Swap(RecommenderHost.Train(ModelKind.Ease));
        var options = host.Services.GetService(typeof(Microsoft.Extensions.Options.IOptions<RecommenderOptions>)) as Microsoft.Extensions.Options.IOptions<RecommenderOptions>;
        var variants = options!.Value.EffectiveVariants();

        foreach (var customer in Enumerable.Range(0, 20).Select(i => $"{_customer}-{i}"))
        {
            await host.SetDialogueAsync(customer, "tv", stage: 2);
            var recommendation = await host.Recommender.RecommendAsync(customer, 5, new HashSet<string>());
            var variant = BlendedRecommender.Choose(variants, customer);
            Assert.StartsWith(variant.Name + ".", recommendation.RecommendationId, StringComparison.Ordinal);
            Assert.Equal($"{variant.Name}/{host.Models.Get(variant.Model)!.Version}", recommendation.Model);
            // Variant b weighs the collaborative signal above stage-next.
            Assert.Equal(variant.Name == "b" ? "bar-intro" : "tv-compare", recommendation.Items[0].Id);
        }
    }

    private StackExchange.Redis.RedisKey ServedKey() => RedisKeys.Served(_customer, DateTimeOffset.UtcNow.ToUnixTimeSeconds() / (24 * 3600));

    private async Task WaitForServedAsync(RecommenderHost host, string item, int times)
    {
        for (var wait = 0; (int)await host.Redis.GetDatabase().HashGetAsync(ServedKey(), item) < times; wait++)
        {
            Assert.True(wait < 100, $"{item} was not counted {times} times");
            await Task.Delay(20);
        }
    }

    private async Task<RecommenderHost> StartAsync(Dictionary<string, string>? settings = null)
    {
        var host = new RecommenderHost(redis, settings);
        await host.StartAsync();
        return host;
    }
}
