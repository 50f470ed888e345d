using System.Diagnostics.Metrics;
using Ecrm.Common.Archive;
using Ecrm.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Xunit;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>The archive's client on a real clickhouse-server: what a failure is called, counted and answered.</summary>
[Collection(ArchiveCollection.Name)]
public sealed class ArchiveClientTests(ClickHouseFixture clickHouse) : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeLogger<ArchiveDiagnostics> _log = new();

    private IMeterFactory Meters => _services.GetRequiredService<IMeterFactory>();

    [Theory]
    [InlineData("SELEC 1", 62)]
    [InlineData("SELECT no_such_column FROM system.one FORMAT TSV", 47)]
    [InlineData("SELECT count() FROM no_such_database.events FORMAT TSV", 81)]
    public async Task AWrongStatementIsPermanentLoggedAndCountedUnderItsName(string sql, int code)
    {
        using var errors = new MetricCollector<long>(Meters, ArchiveDiagnostics.MeterName, "ecrm.archive.query_errors");
        using var archive = Client(clickHouse.Url);

        var failure = await Assert.ThrowsAsync<ArchiveException>(() => archive.QueryAsync("broken query", sql, CancellationToken.None));

        Assert.Equal(ArchiveErrorKind.Permanent, failure.Kind);
        Assert.Equal(code, failure.Code);
        Assert.Equal("broken query", failure.Query);
        var counted = Assert.Single(errors.GetMeasurementSnapshot());
        Assert.Equal(1, counted.Value);
        Assert.Equal("broken query", counted.Tags["query"]);
        Assert.Equal("permanent", counted.Tags["kind"]);
        var logged = Assert.Single(_log.Collector.GetSnapshot());
        Assert.Equal(LogLevel.Error, logged.Level);
        Assert.Contains("broken query", logged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AServerThatIsAwayIsTransientAndCountedButNotLoggedAsABug()
    {
        using var errors = new MetricCollector<long>(Meters, ArchiveDiagnostics.MeterName, "ecrm.archive.query_errors");
        using var archive = Client($"http://127.0.0.1:{ServerProcess.FreePort()}");

        var failure = await Assert.ThrowsAsync<ArchiveException>(() => archive.QueryAsync("funnel", "SELECT 1 FORMAT TSV", CancellationToken.None));

        Assert.Equal(ArchiveErrorKind.Transient, failure.Kind);
        Assert.Null(failure.Code);
        Assert.Equal("transient", Assert.Single(errors.GetMeasurementSnapshot()).Tags["kind"]);
        Assert.Empty(_log.Collector.GetSnapshot());
        Assert.False(await archive.PingAsync(CancellationToken.None));
    }

    [Fact]
    public async Task APermanentFailureAnswers500WithAProblemDocumentAndATransientOne503()
    {
        using var archive = Client(clickHouse.Url);
        using var away = Client($"http://127.0.0.1:{ServerProcess.FreePort()}");

        var wrong = await ArchiveAnswers.OkOrUnavailableAsync(() => archive.QueryAsync("segment page", "SELECT nope FROM system.one FORMAT TSV", CancellationToken.None));
        var down = await ArchiveAnswers.OkOrUnavailableAsync(() => away.QueryAsync("segment page", "SELECT 1 FORMAT TSV", CancellationToken.None));
        var fine = await ArchiveAnswers.OkOrUnavailableAsync(() => archive.QueryAsync("one", "SELECT 1 FORMAT TSV", CancellationToken.None));

        var problem = Assert.IsType<Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult>(wrong.Result);
        Assert.Equal(StatusCodes.Status500InternalServerError, problem.StatusCode);
        Assert.Equal("segment page", problem.ProblemDetails.Extensions["query"]);
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, Assert.IsType<Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult>(down.Result).StatusCode);
        Assert.Equal("1\n", Assert.IsType<Microsoft.AspNetCore.Http.HttpResults.Ok<string>>(fine.Result).Value);
    }

    public void Dispose() => _services.Dispose();

    private ArchiveClient Client(string url) => new(new ClickHouseOptions { Url = url, Database = "default" }, new ArchiveDiagnostics(Meters, _log));
}
