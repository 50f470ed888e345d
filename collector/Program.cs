using Ecrm.Collector;
using Ecrm.Collector.Email;
using Ecrm.Collector.Ingestion;
using Ecrm.Common.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddCollectorServices();

var app = builder.Build();
app.UseSourceCors();
app.UseRateLimiter();
// Ingestion endpoints read their bodies against the batch and event limits themselves (gzip included);
// everything else is held to what it names, under Kestrel's own cap.
app.UseRequestBodyLimits(defaultBytes: CollectorExtensions.KestrelMaxRequestBodyBytes);
app.MapReadiness();
app.MapPrometheusMetrics();
app.MapTrackingApi();
app.MapCompatibleClientsApi();
app.MapEmailApi();
app.MapTrackerScript();
app.Run();

/// <summary>The collector's entry point, named so tests can host it.</summary>
public partial class Program;
