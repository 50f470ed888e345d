using Ecrm.Common.Archive;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Funnels;

/// <summary>
/// Takes a snapshot of the dialogue history for the all-topics overview every <see cref="EngineOptions.OverviewSnapshotMinutes"/>
/// (<see cref="DialogueSummary"/>). A failed round logs and waits for the next one; the overview stays right without a
/// snapshot, only slower.
/// </summary>
public sealed partial class OverviewSnapshots(ArchiveClient clickHouse, IOptions<EngineOptions> options, ILogger<OverviewSnapshots> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.OverviewSnapshotMinutes <= 0)
        {
            return;
        }

        var interval = TimeSpan.FromMinutes(options.Value.OverviewSnapshotMinutes);
        // The archive consumer creates the tables at start; the first snapshot waits a moment for them.
        await Task.Delay(TimeSpan.FromSeconds(30), stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var started = DateTime.UtcNow;
                var snapshot = await DialogueSummary.BuildAsync(clickHouse, stoppingToken);
                LogTaken(snapshot.Table, (DateTime.UtcNow - started).TotalSeconds);
            }
            catch (ArchiveException e) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(e);
            }

            await Task.Delay(interval, stoppingToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Overview snapshot {Table} taken in {Seconds:F1} s")]
    private partial void LogTaken(string table, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not take the overview snapshot; trying again at the next interval")]
    private partial void LogFailed(Exception exception);
}
