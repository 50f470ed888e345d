using System.Net;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.Collector.Tests;

/// <summary>The tracker script served first-party.</summary>
public sealed class TrackerScriptTests : IClassFixture<KafkaFixture>
{
    private readonly KafkaFixture _kafka;

    public TrackerScriptTests(KafkaFixture kafka) => _kafka = kafka;

    [Fact]
    public async Task TrackerIsServedAtTheConfiguredNeutralPath()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, "window.ecrm={};");
        using var factory = TrackingApiTests.Collector(_kafka.BootstrapServers, "unused", 30,
            ("Collector:TrackerScriptFile", file), ("Collector:TrackerScriptPath", "/static/app-7.js"));

        var response = await factory.CreateClient().GetAsync("/static/app-7.js");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/javascript", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("window.ecrm={};", await response.Content.ReadAsStringAsync());
        File.Delete(file);
    }

    [Fact]
    public async Task MissingBuildGets404WithAReason()
    {
        using var factory = TrackingApiTests.Collector(_kafka.BootstrapServers, "unused", 30, ("Collector:TrackerScriptFile", "/nonexistent/e.js"));

        var response = await factory.CreateClient().GetAsync("/assets/e.js");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("not built", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
