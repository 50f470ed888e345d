using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Ecrm.Common.Storage;

/// <summary>
/// A validated in-memory view of a document published in <see cref="VersionedDocuments"/> (a topic or
/// content catalog). Each instance polls the version and swaps in a newer document whole, so readers
/// always see one consistent version; a document that fails validation is refused before it is published.
/// </summary>
public abstract partial class PublishedDocument<T>(
    VersionedDocuments documents,
    string name,
    TimeSpan pollInterval,
    ILogger logger) : BackgroundService
    where T : class
{
    private volatile Loaded _loaded = null!;

    /// <summary>The current document, or the empty one until something is published.</summary>
    public T Current => (_loaded ?? throw new InvalidOperationException($"{name} is read before the service started")).Value;

    public long Version => _loaded?.Version ?? 0;

    /// <summary>A file published at start-up when nothing has been published yet.</summary>
    protected virtual string? SeedFile => null;

    protected abstract T Empty { get; }

    /// <summary>Validates a document; returns the value, or errors that name what is wrong.</summary>
    protected abstract (T? Value, IReadOnlyList<string> Errors) Parse(string document, long version);

    public async Task<(long Version, IReadOnlyList<string> Errors)> PublishAsync(string document)
    {
        var (value, errors) = Parse(document, 0);
        if (value is null)
        {
            return (0, errors);
        }

        var version = await documents.PublishAsync(name, document);
        await RefreshAsync();
        return (version, []);
    }

    public Task<(long Version, string Document)?> ReadDocumentAsync() => documents.ReadCurrentAsync(name);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        _loaded ??= new Loaded(Empty, 0);
        if (SeedFile is { Length: > 0 } seedFile && await documents.CurrentVersionAsync(name) == 0)
        {
            var (version, errors) = await PublishAsync(await File.ReadAllTextAsync(seedFile, cancellationToken));
            if (errors.Count > 0)
            {
                throw new InvalidOperationException($"the {name} seed file {seedFile} is invalid: {string.Join("; ", errors)}");
            }

            LogSeeded(name, seedFile, version);
        }

        await RefreshAsync();
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(pollInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await RefreshAsync();
            }
            catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
            {
                LogRefreshFailed(e, name);
            }
        }
    }

    private async Task RefreshAsync()
    {
        if (await documents.CurrentVersionAsync(name) == Version || await documents.ReadCurrentAsync(name) is not var (version, document))
        {
            return;
        }

        var (value, errors) = Parse(document, version);
        if (value is null)
        {
            // Only validated documents are published, so this means someone wrote Redis by hand.
            LogStoredInvalid(name, version, string.Join("; ", errors));
            return;
        }

        _loaded = new Loaded(value, version);
        LogLoaded(name, version);
    }

    private sealed record Loaded(T Value, long Version);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Name} version {Version} loaded")]
    private partial void LogLoaded(string name, long version);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Name} seeded from {File} as version {Version}")]
    private partial void LogSeeded(string name, string file, long version);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stored {Name} version {Version} is invalid and was not loaded: {Errors}")]
    private partial void LogStoredInvalid(string name, long version, string errors);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not check for a newer {Name}")]
    private partial void LogRefreshFailed(Exception exception, string name);
}
