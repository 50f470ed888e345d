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
app.MapReadiness();
app.MapPrometheusMetrics();
app.MapDialogueEngineApis();
app.MapConsole();
app.Run();
return 0;

/// <summary>The dialogue engine's entry point, named so tests can host it.</summary>
public partial class Program;
