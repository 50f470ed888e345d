using System.Diagnostics;
using Ecrm.Recommender.Models;
using Microsoft.Extensions.Options;

namespace Ecrm.Recommender.Training;

public sealed record TrainedModel(ModelKind Kind, string Version, int Users, int Items, int Interactions, TimeSpan ReadTime, TimeSpan TrainTime, TimeSpan SaveTime, string Path);

/// <summary>
/// One training round: reads the archive once, trains each model kind the variants use, saves each
/// with its version and swaps it into service. Used by the scheduled job and the <c>train</c> command.
/// </summary>
public sealed partial class ModelTraining(
    ArchiveInteractions archive, LiveModels models, IOptions<RecommenderOptions> options, TimeProvider time, ILogger<ModelTraining> logger) : IDisposable
{
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);

    public IReadOnlyList<ModelKind> Kinds => [.. options.Value.EffectiveVariants().Select(v => v.Model).Distinct()];

    /// <summary>Trains <paramref name="kinds"/> (default: the variants' kinds); with no interactions in the archive, trains nothing.</summary>
    public async Task<IReadOnlyList<TrainedModel>> TrainAsync(IReadOnlyList<ModelKind>? kinds, Func<ModelKind, IProgress<TrainingProgress>?>? progress, CancellationToken cancellationToken)
    {
        await _oneAtATime.WaitAsync(cancellationToken);
        try
        {
            var clock = Stopwatch.StartNew();
            var days = options.Value.TrainingDays;
            var interactions = await archive.ReadAsync(days == 0 ? null : time.GetUtcNow().AddDays(-days), cancellationToken);
            var readTime = clock.Elapsed;
            LogRead(interactions.Count, readTime.TotalSeconds);
            if (interactions.Count == 0)
            {
                return [];
            }

            var trained = new List<TrainedModel>();
            foreach (var kind in kinds ?? Kinds)
            {
                clock.Restart();
                // Training is CPU-bound for seconds (EASE inverts an items-by-items matrix): off the request threads.
                var model = await Task.Run(() => ModelTrainer.Train(interactions, ModelOptions.For(kind), progress?.Invoke(kind), cancellationToken), cancellationToken);
                var trainTime = clock.Elapsed;
                clock.Restart();
                var path = await Task.Run(() => models.Save(model), cancellationToken);
                var saveTime = clock.Elapsed;
                models.Swap(model);
                LogTrained(kind, model.Version, model.UserCount, model.ItemCount, interactions.Count, trainTime.TotalSeconds, saveTime.TotalSeconds);
                trained.Add(new TrainedModel(kind, model.Version, model.UserCount, model.ItemCount, interactions.Count, readTime, trainTime, saveTime, path));
            }

            return trained;
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    public void Dispose() => _oneAtATime.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Read {Interactions} interactions from the archive in {Seconds:F2} s")]
    private partial void LogRead(int interactions, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Trained {Kind} model {Version}: {Users} customers, {Items} topics, {Interactions} interactions, training {TrainSeconds:F2} s, saving {SaveSeconds:F2} s")]
    private partial void LogTrained(ModelKind kind, string version, int users, int items, int interactions, double trainSeconds, double saveSeconds);
}

/// <summary>Trains every <see cref="RecommenderOptions.TrainingIntervalMinutes"/> (off when 0); a failed round is logged and the running models stay.</summary>
public sealed partial class TrainingJob(ModelTraining training, IOptions<RecommenderOptions> options, ILogger<TrainingJob> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var minutes = options.Value.TrainingIntervalMinutes;
        if (minutes == 0)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(minutes));
        do
        {
            try
            {
                var progress = new LoggedProgress(logger);
                await training.TrainAsync(null, kind => progress.For(kind), stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogFailed(e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Scheduled training failed; the running models stay")]
    private partial void LogFailed(Exception exception);

    /// <summary>A log line per quarter of each training phase.</summary>
    private sealed partial class LoggedProgress(ILogger logger)
    {
        public IProgress<TrainingProgress> For(ModelKind kind)
        {
            var last = ("", -1);
            var gate = new Lock();
            return new Progress(value =>
            {
                var quarter = (int)(value.Fraction * 4);
                lock (gate)
                {
                    if (last == (value.Phase, quarter))
                    {
                        return;
                    }

                    last = (value.Phase, quarter);
                }

                LogProgress(logger, kind, value.Phase, quarter * 25);
            });
        }

        [LoggerMessage(Level = LogLevel.Information, Message = "Training {Kind}: {Phase} {Percent}%")]
        private static partial void LogProgress(ILogger logger, ModelKind kind, string phase, int percent);

        private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
        {
            public void Report(TrainingProgress value) => report(value);
        }
    }
}
