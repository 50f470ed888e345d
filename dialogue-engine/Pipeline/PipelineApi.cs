using Ecrm.Common.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ecrm.DialogueEngine.Pipeline;

/// <summary><c>GET /api/pipeline</c> (read key): Kafka lag, rates, spool and errors of the whole pipeline, for the console's health view.</summary>
public static class PipelineApi
{
    public static IEndpointRouteBuilder MapPipelineApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/api/pipeline", ReadAsync).RequireKey(KeyScope.Read);
        return endpoints;
    }

    public static WebApplicationBuilder AddPipelineHealth(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<PipelineOptions>().BindConfiguration(PipelineOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddHttpClient(PipelineHealth.HttpClientName);
        builder.Services.AddSingleton<KafkaLag>();
        builder.Services.AddSingleton<PipelineHealth>();
        return builder;
    }

    private static async Task<Ok<PipelineReport>> ReadAsync(PipelineHealth health, CancellationToken cancellationToken) =>
        TypedResults.Ok(await health.ReadAsync(cancellationToken));
}
