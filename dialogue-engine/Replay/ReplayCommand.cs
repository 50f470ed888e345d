namespace Ecrm.DialogueEngine.Replay;

/// <summary>
/// <c>Ecrm.DialogueEngine replay --clear</c>: the engine's settings (appsettings, environment) name
/// the Redis and ClickHouse to use. The flag is required because the customers' Redis state is
/// deleted and rebuilt.
/// </summary>
public static class ReplayCommand
{
    public const string Verb = "replay";

    public static async Task<int> RunAsync(string[] args)
    {
        var options = args.Skip(1).ToArray();
        if (!options.Contains("--clear"))
        {
            await Console.Error.WriteLineAsync(
                "usage: Ecrm.DialogueEngine replay --clear\n" +
                "Deletes the customers' dialogue state in Redis and rebuilds it from the ClickHouse archive.\n" +
                "Stop the live engines first; catalogs are kept.");
            return 2;
        }

        var builder = WebApplication.CreateBuilder(options.Where(o => o != "--clear").ToArray());
        // Only the fold's parts: no consumer group, no web server.
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"{EngineOptions.Section}:{nameof(EngineOptions.RunFolding)}"] = "false",
            [$"{EngineOptions.Section}:{nameof(EngineOptions.RunArchive)}"] = "false",
        });
        builder.AddDialogueEngineServices();
        builder.Services.AddSingleton<ArchiveReplay>();
        await using var app = builder.Build();
        using var cancellation = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancellation.Cancel();
        };

        var (events, elapsed) = await app.Services.GetRequiredService<ArchiveReplay>().RunAsync(cancellation.Token);
        Console.WriteLine($"replayed {events:N0} events in {elapsed.TotalSeconds:F1} s ({events / Math.Max(elapsed.TotalSeconds, 1e-3):N0} events/s)");
        return 0;
    }
}
