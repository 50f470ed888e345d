using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Ecrm.Recommender.Models;

namespace Ecrm.Recommender.Offline;

/// <summary>
/// The recommender's command-line verbs: `evaluate`, `recommend-offline` and `generate`. The service
/// starts when the first argument is none of them.
/// </summary>
internal static class OfflineCommands
{
    private static readonly ModelKind[] EvaluatedKinds = [ModelKind.Popularity, ModelKind.Sar, ModelKind.Ease];

    public static bool Handles(string[] args) => args is ["evaluate" or "recommend-offline" or "generate", ..];

    public static Task<int> RunAsync(string[] args) =>
        new RootCommand("Ecrm recommender: offline training, evaluation and test data.")
        {
            EvaluateCommand(),
            RecommendOfflineCommand(),
            GenerateCommand(),
        }.Parse(args).InvokeAsync();

    private static Command EvaluateCommand()
    {
        var interactions = new Option<FileInfo>("--interactions") { Description = "`user item weight timestamp` lines (tab, comma or space separated; MovieLens u.data as is)", Required = true }.AcceptExistingOnly();
        var seed = new Option<int>("--seed") { Description = "seed of the per-user split", DefaultValueFactory = _ => 42 };
        var k = TopK();
        var ratio = new Option<double>("--ratio") { Description = "share of each user's items for training", DefaultValueFactory = _ => 0.75 };
        var models = new Option<ModelKind[]>("--models") { Description = "models to evaluate", DefaultValueFactory = _ => EvaluatedKinds, AllowMultipleArgumentsPerToken = true };
        var settings = new ModelSettings();
        var command = new Command("evaluate", "Split each user's interactions 75/25 with a seed (Microsoft Recommenders' stratified split), train on the first part, and print Precision, Recall, nDCG and MAP at k on the second for each model.")
        {
            interactions, seed, k, ratio, models,
        };
        settings.AddTo(command);
        command.SetAction((parsed, cancellationToken) => Task.FromResult(Evaluate(parsed, cancellationToken)));
        return command;

        int Evaluate(ParseResult parsed, CancellationToken cancellationToken)
        {
            var file = parsed.GetValue(interactions)!;
            var all = Timed($"reading {file.Name}", () => InteractionFile.Read(file.FullName));
            Console.WriteLine($"{all.Count:N0} interactions of {all.Select(i => i.User).Distinct().Count():N0} users and {all.Select(i => i.Item).Distinct().Count():N0} items from {file.Name}");
            var (train, test) = StratifiedSplit.Split(all, parsed.GetValue(ratio), parsed.GetValue(seed));
            Console.WriteLine($"split per user, seed {parsed.GetValue(seed)}: {train.Count:N0} train, {test.Count:N0} test interactions");
            Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}");
            Console.WriteLine();

            var topK = parsed.GetValue(k);
            var rows = new List<string>();
            foreach (var kind in parsed.GetValue(models)!)
            {
                var options = settings.For(kind, parsed);
                Console.Error.WriteLine($"{kind}: {Describe(options)}");
                var result = OfflineEvaluation.Evaluate(options, train, test, topK, new ConsoleProgress(kind.ToString()), cancellationToken);
                var s = result.Scores;
                rows.Add($"| {Describe(options)} | {s.Precision:F4} | {s.Recall:F4} | {s.Ndcg:F4} | {s.MapAtK:F4} | {s.Map:F4} | {result.TrainingTime.TotalSeconds:F2} | {result.RecommendingTime.TotalSeconds:F2} |");
                Console.Error.WriteLine($"{kind}: trained in {result.TrainingTime.TotalSeconds:F2} s, {s.Users:N0} test users scored in {result.RecommendingTime.TotalSeconds:F2} s");
            }

            Console.WriteLine($"| model | Precision@{topK} | Recall@{topK} | nDCG@{topK} | MAP@{topK} | MAP | training s | recommending s |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|");
            rows.ForEach(Console.WriteLine);
            return 0;
        }
    }

    private static Command RecommendOfflineCommand()
    {
        var train = new Option<FileInfo>("--train") { Description = "`user item weight timestamp` lines to train on", Required = true }.AcceptExistingOnly();
        var output = new Option<FileInfo>("--out") { Description = "where to write `user item rank score` lines", Required = true };
        var k = TopK();
        var model = new Option<ModelKind>("--model") { Description = "ease, sar or popularity", DefaultValueFactory = _ => ModelKind.Ease };
        var save = new Option<FileInfo?>("--save-model") { Description = "also save the trained model to this file" };
        var settings = new ModelSettings();
        var command = new Command("recommend-offline", "Train on a file, then write the top k unseen items of every user in it, for scoring by an outside harness.")
        {
            train, output, k, model, save,
        };
        settings.AddTo(command);
        command.SetAction((parsed, cancellationToken) => Task.FromResult(RecommendOffline(parsed, cancellationToken)));
        return command;

        int RecommendOffline(ParseResult parsed, CancellationToken cancellationToken)
        {
            var file = parsed.GetValue(train)!;
            var interactions = Timed($"reading {file.Name}", () => InteractionFile.Read(file.FullName));
            var options = settings.For(parsed.GetValue(model), parsed);
            var progress = new ConsoleProgress(options.Kind.ToString());
            var trained = Timed($"training {Describe(options)} on {interactions.Count:N0} interactions", () => ModelTrainer.Train(interactions, options, progress, cancellationToken));
            if (parsed.GetValue(save) is { } saveTo)
            {
                Timed($"saving model {trained.Version} to {saveTo.Name}", () => ModelFile.Save(trained, saveTo.FullName));
            }

            var users = trained.Users;
            var topK = parsed.GetValue(k);
            var recommended = Timed($"recommending for {users.Count:N0} users", () => OfflineEvaluation.RecommendAll(trained, users, topK, progress, cancellationToken));
            using var writer = new StreamWriter(parsed.GetValue(output)!.FullName);
            for (var user = 0; user < users.Count; user++)
            {
                for (var rank = 0; rank < recommended[user].Count; rank++)
                {
                    var (item, score) = recommended[user][rank];
                    writer.Write($"{users[user]}\t{item}\t{rank + 1}\t{score.ToString("G7", CultureInfo.InvariantCulture)}\n");
                }
            }

            return 0;
        }
    }

    private static Command GenerateCommand()
    {
        var output = new Option<FileInfo>("--out") { Description = "where to write `user item weight timestamp` lines", Required = true };
        var defaults = new SyntheticOptions();
        var users = new Option<int>("--users") { DefaultValueFactory = _ => defaults.Users };
        var items = new Option<int>("--items") { DefaultValueFactory = _ => defaults.Items };
        var mean = new Option<int>("--mean-per-user") { Description = "mean interactions per user", DefaultValueFactory = _ => defaults.MeanPerUser };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => defaults.Seed };
        var command = new Command("generate", "Write a deterministic synthetic interaction set with latent user tastes and dialogue-stage weights (1 to 4); by default shaped like MovieLens-100k.")
        {
            output, users, items, mean, seed,
        };
        command.SetAction(parsed =>
        {
            var options = defaults with
            {
                Users = parsed.GetValue(users),
                Items = parsed.GetValue(items),
                MeanPerUser = parsed.GetValue(mean),
                Seed = parsed.GetValue(seed),
            };
            var path = parsed.GetValue(output)!.FullName;
            InteractionFile.Write(path, SyntheticInteractions.Generate(options));
            Console.Error.WriteLine($"wrote {File.ReadLines(path).Count():N0} interactions to {path}");
            return 0;
        });
        return command;
    }

    private static Option<int> TopK() => new("--k") { Description = "recommendations per user", DefaultValueFactory = _ => 10 };

    private static string Describe(ModelOptions options) => options.Kind switch
    {
        ModelKind.Ease => $"EASE λ={options.EaseLambda:G}",
        ModelKind.Sar => $"SAR {options.Similarity.ToString().ToLowerInvariant()}, half-life {(options.HalfLife is { } h ? $"{h.TotalDays:G} d" : "none")}",
        _ => "popularity",
    };

    private static T Timed<T>(string what, Func<T> work)
    {
        var clock = Stopwatch.StartNew();
        var result = work();
        Console.Error.WriteLine($"{what}: {clock.Elapsed.TotalSeconds:F2} s");
        return result;
    }

    private static void Timed(string what, Action work) => Timed(what, () =>
    {
        work();
        return 0;
    });

    /// <summary>The model settings both training commands take; each kind's own default where not given.</summary>
    private sealed class ModelSettings
    {
        private readonly Option<double?> _lambda = new("--ease-lambda") { Description = $"EASE's L2 regularisation (default {ModelOptions.For(ModelKind.Ease).EaseLambda:G})" };
        private readonly Option<SarSimilarity?> _similarity = new("--sar-similarity") { Description = "jaccard, lift or cooccurrence (default jaccard)" };
        private readonly Option<double?> _halfLife = new("--half-life-days") { Description = "half-life of interaction weights in days, 0 for none (default: 30 for SAR, none for EASE)" };

        public void AddTo(Command command)
        {
            command.Options.Add(_lambda);
            command.Options.Add(_similarity);
            command.Options.Add(_halfLife);
        }

        public ModelOptions For(ModelKind kind, ParseResult parsed)
        {
            var options = ModelOptions.For(kind);
            return options with
            {
                EaseLambda = parsed.GetValue(_lambda) ?? options.EaseLambda,
                Similarity = parsed.GetValue(_similarity) ?? options.Similarity,
                HalfLife = parsed.GetValue(_halfLife) is { } days ? days > 0 ? TimeSpan.FromDays(days) : null : options.HalfLife,
            };
        }
    }

    /// <summary>Progress on standard error, a line per tenth of each phase with the time since the start; safe to report from several threads.</summary>
    private sealed class ConsoleProgress(string model) : IProgress<TrainingProgress>
    {
        private readonly Lock _lock = new();
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private string _phase = "";
        private int _tenths = -1;

        public void Report(TrainingProgress value)
        {
            var tenths = (int)(value.Fraction * 10);
            lock (_lock)
            {
                if (value.Phase == _phase && tenths <= _tenths)
                {
                    return;
                }

                (_phase, _tenths) = (value.Phase, tenths);
                Console.Error.WriteLine($"  {model}: {value.Phase} {tenths * 10}% ({_clock.Elapsed.TotalSeconds:F1} s)");
            }
        }
    }
}
