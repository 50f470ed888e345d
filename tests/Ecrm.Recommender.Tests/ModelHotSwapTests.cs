using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Ecrm.Recommender.Models;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.Recommender.Tests;

/// <summary>Models go into service while requests run, and a restarted host serves its last saved model.</summary>
public sealed class ModelHotSwapTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    [Fact]
    public async Task SwappingModelsUnderLoadFailsNoRequest()
    {
        await using var host = new RecommenderHost(redis, new Dictionary<string, string> { ["Recommender:Model"] = "Sar" });
        await host.StartAsync();
        ItemItemModel[] models = [RecommenderHost.Train(ModelKind.Sar, seed: 0), RecommenderHost.Train(ModelKind.Sar, seed: 2)];
        Assert.NotEqual(models[0].Version, models[1].Version);
        var customers = Enumerable.Range(0, 50).Select(i => $"swap-{Guid.NewGuid():N}").ToArray();
        foreach (var customer in customers)
        {
            await host.SetDialogueAsync(customer, "tv", stage: 1 + (customer.Length % 2));
        }

        // A model is in service before the first request: until then the answer is stage-next only, which a
        // fast first request could otherwise see before the swapper's first swap.
        host.Models.Swap(models[1]);
        var failures = new ConcurrentQueue<string>();
        var modelsSeen = new ConcurrentDictionary<string, int>();
        var requests = 0;
        var swaps = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        var swapper = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                host.Models.Swap(models[swaps++ % 2]);
                await Task.Delay(2);
            }
        });
        var clients = Enumerable.Range(0, 16).Select(worker => Task.Run(async () =>
        {
            using var client = host.Client();
            for (var i = worker; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    using var response = await client.GetAsync($"/v1/recommendations/{customers[i % customers.Length]}?n=5");
                    var body = await response.Content.ReadFromJsonAsync<JsonElement>();
                    if (!response.IsSuccessStatusCode || body.GetProperty("items").GetArrayLength() == 0)
                    {
                        failures.Enqueue($"{(int)response.StatusCode}: {body}");
                    }

                    modelsSeen.AddOrUpdate(body.GetProperty("model").GetString()!, 1, (_, n) => n + 1);
                    Interlocked.Increment(ref requests);
                }
                catch (Exception e) when (e is HttpRequestException or JsonException or InvalidOperationException or KeyNotFoundException)
                {
                    failures.Enqueue(e.ToString());
                }
            }
        })).ToArray();
        await Task.WhenAll([swapper, .. clients]);

        Assert.Empty(failures);
        Assert.True(requests > 500, $"only {requests} requests ran");
        Assert.True(swaps > 100, $"only {swaps} swaps ran");
        Assert.Equal(models.Select(m => $"default/{m.Version}").Order(), modelsSeen.Keys.Order());
    }

    [Fact]
    public async Task HostServesTheNewestSavedModelAtStartAndPicksUpNewerFiles()
    {
        var older = RecommenderHost.Train(ModelKind.Sar);
        await Task.Delay(1100); // versions carry the training time to the second
        var newer = RecommenderHost.Train(ModelKind.Sar, seed: 1);
        await using var host = new RecommenderHost(redis, new Dictionary<string, string> { ["Recommender:Model"] = "Sar", ["Recommender:ModelPollSeconds"] = "1" });
        // Saved before the host starts, as by an earlier run.
        ModelFile.Save(older, Path.Combine(host.ModelDirectory, older.Version + LiveModels.Extension));

        await host.StartAsync();
        Assert.Equal(older.Version, host.Models.Get(ModelKind.Sar)!.Version);

        // Another instance (or the train command) saves a newer model into the same folder.
        ModelFile.Save(newer, Path.Combine(host.ModelDirectory, newer.Version + LiveModels.Extension));
        var clock = Stopwatch.StartNew();
        while (host.Models.Get(ModelKind.Sar)!.Version != newer.Version)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the newer model file was not picked up");
            await Task.Delay(100);
        }

        using var client = host.Client();
        var recommendation = await client.GetFromJsonAsync<JsonElement>("/v1/recommendations/anyone?n=3");
        Assert.Equal($"default/{newer.Version}", recommendation.GetProperty("model").GetString());
    }
}
