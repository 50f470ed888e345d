using Ecrm.Common.Archive;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Archive;

/// <summary>
/// Removes raw events older than <see cref="EngineOptions.RawEventRetentionDays"/> from the archive,
/// once at start-up and then daily. Dialogues (Redis), transitions and identity links are kept: they
/// are the communication history, and far smaller than the raw stream.
/// </summary>
public sealed partial class RawEventRetention(ArchiveClient clickHouse, IOptions<EngineOptions> options, TimeProvider time, ILogger<RawEventRetention> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.RawEventRetentionDays <= 0)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RemoveExpiredAsync(stoppingToken);
            }
            catch (Exception e) when (e is ArchiveException && !stoppingToken.IsCancellationRequested)
            {
                LogFailed(e);
            }

            await Task.Delay(TimeSpan.FromDays(1), stoppingToken);
        }
    }

    /// <summary>Asks ClickHouse to delete the expired raw events (a mutation on every server, which each runs in the background).</summary>
    public async Task RemoveExpiredAsync(CancellationToken cancellationToken)
    {
        var cutoff = time.GetUtcNow().AddDays(-options.Value.RawEventRetentionDays);
        var expired = await EventArchive.CountOlderThanAsync(clickHouse, cutoff, cancellationToken);
        if (expired > 0)
        {
            await EventArchive.DeleteOlderThanAsync(clickHouse, cutoff, cancellationToken);
            LogRemoved(expired, options.Value.RawEventRetentionDays);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Removing {Count} raw events older than {Days} days from the archive")]
    private partial void LogRemoved(long count, int days);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove expired raw events; trying again tomorrow")]
    private partial void LogFailed(Exception exception);
}
