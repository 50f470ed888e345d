using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.TestHost;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>The console's files at /console: served without a key, and nothing outside their folder.</summary>
public sealed class ConsoleHostingTests : IAsyncLifetime
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("ecrm-console-");
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_root.FullName, "wwwroot", "console"));
        await File.WriteAllTextAsync(Path.Combine(folder.FullName, "index.html"), "<!doctype html><title>Ecrm Console</title>");
        await File.WriteAllTextAsync(Path.Combine(folder.FullName, "app.js"), "export {};");
        await File.WriteAllTextAsync(Path.Combine(_root.FullName, "wwwroot", "secret.txt"), "not for the console");
        _app = Host(_root.FullName);
        await _app.StartAsync();
        _client = _app.GetTestClient();
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        _root.Delete(recursive: true);
    }

    [Theory]
    [InlineData("/console")]
    [InlineData("/console/")]
    [InlineData("/console/index.html")]
    public async Task ConsolePageIsServedWithoutAKeyAndWithAStrictContentSecurityPolicy(string path)
    {
        using var response = await _client.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains("Ecrm Console", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("no-cache", response.Headers.CacheControl!.ToString());
    }

    [Fact]
    public async Task ConsoleScriptIsServedAsJavaScript()
    {
        using var response = await _client.GetAsync("/console/app.js");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/javascript", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Theory]
    [InlineData("/console/..%2Fsecret.txt")]
    [InlineData("/console/%2E%2E/secret.txt")]
    [InlineData("/console/missing.js")]
    public async Task FilesOutsideTheConsoleOrMissingAreNotFound(string path)
    {
        using var response = await _client.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.DoesNotContain("not for the console", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConsoleNotBuiltGets404SayingHowToBuildIt()
    {
        var empty = Directory.CreateTempSubdirectory("ecrm-console-empty-");
        await using var app = Host(empty.FullName);
        await app.StartAsync();

        using var response = await app.GetTestClient().GetAsync("/console");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("npm run build", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        empty.Delete(recursive: true);
    }

    private static WebApplication Host(string contentRoot)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = contentRoot, EnvironmentName = "Production" });
        builder.WebHost.UseTestServer();
        builder.Services.AddProblemDetails();
        var app = builder.Build();
        app.MapConsole();
        return app;
    }
}
