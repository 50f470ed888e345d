using Ecrm.Common.Hosting;
using Ecrm.Recommender;

var builder = WebApplication.CreateBuilder(args);
builder.AddRecommenderServices();

var app = builder.Build();
app.MapReadiness();
app.MapRecommenderApis();
app.Run();

/// <summary>The recommender's entry point, named so tests can host it.</summary>
public partial class Program;
