using Ecrm.Common.Hosting;
using Ecrm.Recommender;
using Ecrm.Recommender.Offline;
using Ecrm.Recommender.Recommending;
using Ecrm.Recommender.Training;

if (OfflineCommands.Handles(args))
{
    return await OfflineCommands.RunAsync(args);
}

if (args is [TrainCommand.Verb, ..])
{
    return await TrainCommand.RunAsync(args);
}

var builder = WebApplication.CreateBuilder(args);
builder.AddRecommenderServices();

var app = builder.Build();
app.UseRecommenderCors();
app.MapReadiness();
app.MapPrometheusMetrics();
app.MapRecommenderApis();
app.Run();
return 0;

/// <summary>The recommender's entry point, named so tests can host it.</summary>
public partial class Program;
