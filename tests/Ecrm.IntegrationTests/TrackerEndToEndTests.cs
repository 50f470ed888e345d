using Ecrm.Common.Storage;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>The built browser tracker in headless Chromium, through the real collector and engine, into Redis.</summary>
[Collection(BackendsCollection.Name)]
public sealed class TrackerEndToEndTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse) : IAsyncLifetime
{
    private readonly EcrmServices _services = new(kafka, redis, clickHouse);

    public async Task InitializeAsync()
    {
        await _services.StartAsync();
        await _services.PublishDemoCatalogsAsync();
    }

    public async Task DisposeAsync() => await _services.DisposeAsync();

    [Fact]
    public async Task PageViewAndAnnotatedSectionReachTheDialogueStage()
    {
        Assert.True(File.Exists(RepoPaths.Combine("sdk-js", "dist", "ecrm.min.js")), "the tracker is not built: run npm ci && npm run build in sdk-js (./test.sh does)");
        var script = RepoPaths.Combine("sdk-js", "test", "compat", "tracker-against-collector.mjs");

        using var browser = ServerProcess.Start("node", [script, _services.CollectorUrl.ToString().TrimEnd('/'), EcrmServices.WriteKey]);
        await browser.WaitUntilAsync("the browser run", () => Task.FromResult(browser.HasExited && browser.Output.Trim().Length > 0), TimeSpan.FromSeconds(60));
        var anonymousId = browser.Output.Trim().Split('\n')[^1].Trim();

        // The page path /tv/oled-55 is stage 1; the section annotated "interest" is stage 2.
        using var connection = RedisConnection.Connect(_services.RedisConfiguration);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var stage = 0;
        while (DateTime.UtcNow < deadline && stage < 2)
        {
            stage = (int)await connection.GetDatabase().HashGetAsync(RedisKeys.Dialogue(anonymousId, "tv-oled-55"), DialogueFields.Stage);
            await Task.Delay(200);
        }

        Assert.True(stage == 2, $"stage {stage} for visitor '{anonymousId}'; browser run said:\n{browser.Output}");
    }
}
