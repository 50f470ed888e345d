using Ecrm.Common.Hosting;
using Ecrm.DialogueEngine;

var builder = WebApplication.CreateBuilder(args);
builder.AddDialogueEngineServices();

var app = builder.Build();
app.MapReadiness();
app.MapDialogueEngineApis();
app.Run();

/// <summary>The dialogue engine's entry point, named so tests can host it.</summary>
public partial class Program;
