using Ecrm.Common.Hosting;
using Ecrm.DialogueEngine;
using Ecrm.DialogueEngine.Replay;

if (args is [ReplayCommand.Verb, ..])
{
    return await ReplayCommand.RunAsync(args);
}

var builder = WebApplication.CreateBuilder(args);
builder.AddDialogueEngineServices();

var app = builder.Build();
app.UseRouteValuesDecodedOnce();
// Every engine request is a small JSON document (a segment's conditions, a trigger rule); the catalog says its own.
app.UseRequestBodyLimits(defaultBytes: 64 * 1024);
app.MapReadiness();
app.MapPrometheusMetrics();
app.MapDialogueEngineApis();
app.MapConsole();
app.Run();
return 0;

/// <summary>The dialogue engine's entry point, named so tests can host it.</summary>
public partial class Program;
