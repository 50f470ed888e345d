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
app.UseRouteValuesDecodedOnce();
// A recommendation request is a few hundred bytes (with an exclude list, a few KB); the content catalog says its own.
app.UseRequestBodyLimits(defaultBytes: 16 * 1024);
app.UseRecommenderCors();
app.MapReadiness();
app.MapPrometheusMetrics();
app.MapRecommenderApis();
app.Run();
return 0;

/// <summary>The recommender's entry point, named so tests can host it.</summary>
public partial class Program;
