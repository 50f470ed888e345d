using Ecrm.Common.Hosting;
using Ecrm.Recommender;
using Ecrm.Recommender.Recommending;

var builder = WebApplication.CreateBuilder(args);
builder.AddRecommenderServices();

var app = builder.Build();
app.UseRecommenderCors();
app.MapReadiness();
app.MapRecommenderApis();
app.Run();

/// <summary>The recommender's entry point, named so tests can host it.</summary>
public partial class Program;
