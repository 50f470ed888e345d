using Ecrm.Common.Catalog;
using Ecrm.Common.Storage;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Catalog;

/// <summary>
/// Holds the running topic catalog. The catalog lives in Redis with a version per change; every
/// engine instance polls the version and swaps in a newer catalog whole, so a fold always sees one
/// consistent catalog and a bad one never replaces a good one (it is refused before it is published).
/// </summary>
public sealed partial class CatalogHolder(
    VersionedDocuments documents,
    IOptions<EngineOptions> options,
    ILogger<CatalogHolder> logger) : BackgroundService
{
    public const string DocumentName = "topics";

    private volatile TopicMatcher _matcher = new(TopicCatalog.Empty);

    public TopicMatcher Matcher => _matcher;

    public TopicCatalog Catalog => _matcher.Catalog;

    /// <summary>Validates and publishes a catalog document; returns its version, or the errors.</summary>
    public async Task<(long Version, IReadOnlyList<string> Errors)> PublishAsync(string document)
    {
        var parsed = TopicCatalog.Parse(System.Text.Encoding.UTF8.GetBytes(document));
        if (parsed.Catalog is null)
        {
            return (0, parsed.Errors);
        }

        var version = await documents.PublishAsync(DocumentName, document);
        await RefreshAsync();
        return (version, []);
    }

    public async Task<(long Version, string Document)?> ReadDocumentAsync() => await documents.ReadCurrentAsync(DocumentName);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await SeedAsync();
        await RefreshAsync();
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.Value.CatalogPollMs));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await RefreshAsync();
            }
            catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
            {
                LogRefreshFailed(e);
            }
        }
    }

    private async Task SeedAsync()
    {
        var seedFile = options.Value.CatalogSeedFile;
        if (string.IsNullOrEmpty(seedFile) || await documents.CurrentVersionAsync(DocumentName) > 0)
        {
            return;
        }

        var (version, errors) = await PublishAsync(await File.ReadAllTextAsync(seedFile));
        if (errors.Count > 0)
        {
            throw new InvalidOperationException($"the catalog seed file {seedFile} is invalid: {string.Join("; ", errors)}");
        }

        LogSeeded(seedFile, version);
    }

    private async Task RefreshAsync()
    {
        if (await documents.CurrentVersionAsync(DocumentName) == _matcher.Catalog.Version)
        {
            return;
        }

        if (await documents.ReadCurrentAsync(DocumentName) is not var (version, document))
        {
            return;
        }

        var parsed = TopicCatalog.Parse(System.Text.Encoding.UTF8.GetBytes(document), version);
        if (parsed.Catalog is null)
        {
            // Only validated documents are published, so this means someone wrote Redis by hand.
            LogStoredCatalogInvalid(version, string.Join("; ", parsed.Errors));
            return;
        }

        _matcher = new TopicMatcher(parsed.Catalog);
        LogLoaded(version, parsed.Catalog.Topics.Count);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Topic catalog version {Version} loaded: {TopicCount} topics")]
    private partial void LogLoaded(long version, int topicCount);

    [LoggerMessage(Level = LogLevel.Information, Message = "Topic catalog seeded from {File} as version {Version}")]
    private partial void LogSeeded(string file, long version);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stored topic catalog version {Version} is invalid and was not loaded: {Errors}")]
    private partial void LogStoredCatalogInvalid(long version, string errors);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not check for a newer topic catalog")]
    private partial void LogRefreshFailed(Exception exception);
}
