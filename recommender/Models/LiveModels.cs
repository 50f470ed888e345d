using Microsoft.Extensions.Options;

namespace Ecrm.Recommender.Models;

/// <summary>
/// The models requests are served with, one per kind. Each is immutable; a newer one replaces it with
/// one atomic reference exchange, so a request that already read the old model finishes with it and
/// the next request gets the new one: nothing waits, nothing fails. At start-up the newest file of
/// each kind in <see cref="RecommenderOptions.ModelDirectory"/> is loaded; later, newer files (from
/// the <c>train</c> command or another instance) are picked up by polling.
/// </summary>
public sealed partial class LiveModels(IOptions<RecommenderOptions> options, IHostEnvironment environment, ILogger<LiveModels> logger) : BackgroundService
{
    public const string Extension = ".model";

    /// <summary>Model files kept per kind: the newest few, so a bad model can be rolled back by hand.</summary>
    private const int KeepPerKind = 3;

    private readonly ItemItemModel?[] _models = new ItemItemModel?[Enum.GetValues<ModelKind>().Length];

    public string Directory => Path.GetFullPath(options.Value.ModelDirectory, environment.ContentRootPath);

    /// <summary>The running model of a kind, or null before one was trained or loaded.</summary>
    public ItemItemModel? Get(ModelKind kind) => Volatile.Read(ref _models[(int)kind]);

    /// <summary>Any running model (the kinds in order): each carries the popularity ranking.</summary>
    public ItemItemModel? Any() => _models.Select((_, kind) => Get((ModelKind)kind)).FirstOrDefault(m => m is not null);

    /// <summary>Puts a model in service; returns the one it replaced.</summary>
    public ItemItemModel? Swap(ItemItemModel model)
    {
        var previous = Interlocked.Exchange(ref _models[(int)model.Kind], model);
        LogSwapped(model.Kind, model.Version, previous?.Version ?? "none");
        return previous;
    }

    /// <summary>Saves a model as <c>{version}.model</c> (atomically, see <see cref="ModelFile.Save"/>) and drops the oldest files of its kind.</summary>
    public string Save(ItemItemModel model)
    {
        var directory = System.IO.Directory.CreateDirectory(Directory).FullName;
        var path = Path.Combine(directory, model.Version + Extension);
        ModelFile.Save(model, path);
        foreach (var old in FilesOf(model.Kind).Skip(KeepPerKind))
        {
            File.Delete(old);
        }

        return path;
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Before the first request, so a restarted instance serves its last model at once.
        await Task.Run(LoadNewer, cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.ModelPollSeconds));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            await Task.Run(LoadNewer, stoppingToken);
        }
    }

    /// <summary>Loads, for every kind, the newest model file when it is newer than the running model.</summary>
    private void LoadNewer()
    {
        foreach (var kind in Enum.GetValues<ModelKind>())
        {
            var newest = FilesOf(kind).FirstOrDefault();
            var running = Get(kind);
            if (newest is null || (running is not null && string.CompareOrdinal(Path.GetFileNameWithoutExtension(newest), running.Version) <= 0))
            {
                continue;
            }

            try
            {
                Swap(ModelFile.Load(newest));
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                LogLoadFailed(e, newest);
            }
        }
    }

    /// <summary>The model files of a kind, newest first: versions start with the kind and the UTC training time.</summary>
    private IEnumerable<string> FilesOf(ModelKind kind)
    {
        var directory = Directory;
        return System.IO.Directory.Exists(directory)
            ? System.IO.Directory.EnumerateFiles(directory, $"{kind.ToString().ToLowerInvariant()}-*{Extension}")
                .OrderByDescending(Path.GetFileName, StringComparer.Ordinal)
            : [];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Serving {Kind} model {Version} (replaced {Previous})")]
    private partial void LogSwapped(ModelKind kind, string version, string previous);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not load model file {Path}; the running model stays")]
    private partial void LogLoadFailed(Exception exception, string path);
}
