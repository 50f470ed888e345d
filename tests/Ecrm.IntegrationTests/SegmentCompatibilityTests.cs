using Ecrm.Common.Archive;
using Ecrm.Common.Storage;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>Segment's own Node.js library (@segment/analytics-node), unchanged, against the real collector.</summary>
[Collection(BackendsCollection.Name)]
public sealed class SegmentCompatibilityTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse) : IAsyncLifetime
{
    private readonly EcrmServices _services = new(kafka, redis, clickHouse);

    public Task InitializeAsync() => this.InitializeOrDisposeAsync(async () =>
    {
        await _services.StartAsync();
        await _services.PublishDemoCatalogsAsync();
    });

    public async Task DisposeAsync() => await _services.DisposeAsync();

    [Fact]
    public async Task SegmentNodeLibraryWorksUnchanged()
    {
        var script = RepoPaths.Combine("sdk-js", "test", "compat", "segment-node-client.mjs");
        Assert.True(Directory.Exists(RepoPaths.Combine("sdk-js", "node_modules", "@segment", "analytics-node")),
            "sdk-js/node_modules lacks @segment/analytics-node: run npm ci in sdk-js (./test.sh does)");
        var customer = $"segment-{Guid.NewGuid():N}";

        using var node = ServerProcess.Start("node", [script, _services.CollectorUrl.ToString().TrimEnd('/'), EcrmServices.WriteKey, customer]);
        await node.WaitUntilAsync("the Segment client", () => Task.FromResult(node.HasExited && node.Output.Contains("sent", StringComparison.Ordinal)), TimeSpan.FromSeconds(40));

        using var connection = RedisConnection.Connect(_services.RedisConfiguration);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var stage = 0;
        while (DateTime.UtcNow < deadline && stage < 3)
        {
            stage = (int)await connection.GetDatabase().HashGetAsync(RedisKeys.Dialogue(customer, "tv-oled-55"), DialogueFields.Stage);
            await Task.Delay(200);
        }

        Assert.Equal(3, stage);
        var types = "";
        while (DateTime.UtcNow < deadline && types != "group,identify,page,track")
        {
            types = string.Join(',', (await clickHouse.QueryAsync(
                $"SELECT type FROM {_services.ClickHouseDatabase}.events WHERE customer_key = {ArchiveSql.Quote(customer)} ORDER BY type FORMAT TSV")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
            await Task.Delay(200);
        }

        Assert.Equal("group,identify,page,track", types);
    }
}
