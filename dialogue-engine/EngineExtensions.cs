using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Archive;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Consuming;
using Ecrm.DialogueEngine.Customers;
using Ecrm.DialogueEngine.Folding;
using Ecrm.DialogueEngine.Funnels;
using Ecrm.DialogueEngine.Pipeline;
using Ecrm.DialogueEngine.Segments;
using Ecrm.DialogueEngine.Triggers;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine;

public static class EngineExtensions
{
    public static WebApplicationBuilder AddDialogueEngineServices(this WebApplicationBuilder builder)
    {
        builder.AddKeyAuthentication();
        builder.Services.AddPrometheusMetrics();
        builder.AddKafkaReadiness();
        // Fail fast while Redis is away: a fold queued in the client's backlog would run on a restarted Redis
        // before FoldWatermarks could check what it lost.
        builder.AddRedis(failFast: true);
        builder.AddClickHouse();
        builder.Services.AddOptions<EngineOptions>().BindConfiguration(EngineOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<VersionedDocuments>();
        builder.Services.AddSingleton<DialogueReader>();
        builder.Services.AddSingleton(services => new DialogueStore(services.GetRequiredService<IConnectionMultiplexer>(), services.GetRequiredService<IOptions<EngineOptions>>().Value.Dedupe));
        builder.Services.AddSingleton<DialogueFolder>();
        builder.Services.AddSingleton<FoldWatermarks>();
        builder.Services.AddSingleton<TransitionPublisher>();
        builder.Services.AddSingleton<IdentityLinker>();
        builder.Services.AddSingleton<BatchFolder>();
        builder.Services.AddSingleton<CustomerProfile>();
        builder.Services.AddSingleton<FunnelQueries>();
        builder.Services.AddSingleton<TrendQueries>();
        builder.Services.AddSingleton<SegmentStore>();
        builder.Services.AddHostedService<ErasureWorker>();
        builder.Services.AddHostedService<SegmentMaterializer>();
        builder.Services.AddHostedService<OverviewSnapshots>();
        builder.Services.AddSingleton<RawEventRetention>();
        builder.Services.AddHostedService(services => services.GetRequiredService<RawEventRetention>());
        builder.Services.AddSingleton<CatalogHolder>();
        builder.Services.AddHostedService(services => services.GetRequiredService<CatalogHolder>());
        var engine = builder.Configuration.GetSection(EngineOptions.Section).Get<EngineOptions>() ?? new EngineOptions();
        if (engine.RunFolding)
        {
            builder.Services.AddHostedService<EventConsumer>();
        }

        if (engine.RunArchive)
        {
            builder.Services.AddHostedService<ArchiveConsumer>();
        }

        builder.AddTriggers();
        builder.AddPipelineHealth();
        return builder;
    }

    public static IEndpointRouteBuilder MapDialogueEngineApis(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapCatalogApi();
        endpoints.MapCustomerApi();
        endpoints.MapCustomerErasureApi();
        endpoints.MapFunnelApi();
        endpoints.MapSegmentApi();
        endpoints.MapTriggerApi();
        endpoints.MapPipelineApi();
        return endpoints;
    }
}
