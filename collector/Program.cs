using Ecrm.Collector;
using Ecrm.Collector.Email;
using Ecrm.Collector.Ingestion;
using Ecrm.Common.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddCollectorServices();

var app = builder.Build();
app.UseSourceCors();
app.UseRateLimiter();
app.MapReadiness();
app.MapPrometheusMetrics();
app.MapTrackingApi();
app.MapCompatibleClientsApi();
app.MapEmailApi();
app.MapTrackerScript();
app.Run();

/// <summary>The collector's entry point, named so tests can host it.</summary>
public partial class Program;
