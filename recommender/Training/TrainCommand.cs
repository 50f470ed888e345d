using Ecrm.Recommender.Models;
using Ecrm.Recommender.Offline;

namespace Ecrm.Recommender.Training;

/// <summary>
/// <c>Ecrm.Recommender train [--model ease|sar|popularity]...</c>: one training round from the ClickHouse
/// archive with the service's settings (appsettings, environment, <c>--contentRoot</c>), saved to
/// <c>Recommender:ModelDirectory</c>, where running instances pick it up. Without <c>--model</c> it trains
/// the kinds the configured variants use.
/// </summary>
internal static class TrainCommand
{
    public const string Verb = "train";

    public static async Task<int> RunAsync(string[] args)
    {
        var kinds = new List<ModelKind>();
        var rest = new List<string>();
        for (var i = 1; i < args.Length; i++)
        {
            if (args[i] is "--model" && i + 1 < args.Length && Enum.TryParse<ModelKind>(args[i + 1], ignoreCase: true, out var kind))
            {
                kinds.Add(kind);
                i++;
            }
            else if (args[i] is "--model" or "--help" or "-h")
            {
                await Console.Error.WriteLineAsync(
                    "usage: Ecrm.Recommender train [--model ease|sar|popularity]... [--contentRoot DIR] [--Setting=value]...\n" +
                    "Trains from the ClickHouse archive (ClickHouse:*), saves each model to Recommender:ModelDirectory.");
                return 2;
            }
            else
            {
                rest.Add(args[i]);
            }
        }

        var builder = WebApplication.CreateBuilder([.. rest]);
        builder.AddRecommenderServices();
        await using var app = builder.Build();
        using var cancellation = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancellation.Cancel();
        };

        var training = app.Services.GetRequiredService<ModelTraining>();
        var trained = await training.TrainAsync(kinds.Count > 0 ? kinds : null, kind => new PhaseProgress(kind.ToString()), cancellation.Token);
        if (trained.Count == 0)
        {
            await Console.Error.WriteLineAsync("the archive holds no interactions with a topic yet: nothing trained");
            return 1;
        }

        foreach (var model in trained)
        {
            Console.WriteLine($"{model.Kind}: {model.Version}, {model.Users:N0} customers x {model.Items:N0} topics from {model.Interactions:N0} interactions; " +
                $"read {model.ReadTime.TotalSeconds:F2} s, trained {model.TrainTime.TotalSeconds:F2} s, saved {model.SaveTime.TotalSeconds:F2} s -> {model.Path}");
        }

        return 0;
    }
}
