using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using Ecrm.Recommender.Content;
using Ecrm.Recommender.Feedback;
using Ecrm.Recommender.Models;
using Ecrm.Recommender.Recommending;
using Ecrm.Recommender.Training;

namespace Ecrm.Recommender;

public static class RecommenderExtensions
{
    public static WebApplicationBuilder AddRecommenderServices(this WebApplicationBuilder builder)
    {
        builder.AddKeyAuthentication();
        builder.Services.AddPrometheusMetrics();
        builder.AddRedis();
        // ClickHouse is for training and CTR only: serving goes on without it, so it is no readiness dependency.
        builder.AddClickHouse(readiness: false);
        builder.Services.AddOptions<RecommenderOptions>().BindConfiguration(RecommenderOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(options => options.SerializerOptions.TypeInfoResolverChain.Insert(0, RecommenderJsonContext.Default));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<VersionedDocuments>();
        builder.Services.AddSingleton<DialogueReader>();
        builder.Services.AddSingleton<ContentHolder>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ContentHolder>());
        builder.Services.AddSingleton<TopicCatalogView>();
        builder.Services.AddHostedService(services => services.GetRequiredService<TopicCatalogView>());
        builder.Services.AddSingleton<LiveModels>();
        builder.Services.AddHostedService(services => services.GetRequiredService<LiveModels>());
        builder.Services.AddSingleton<CustomerSignalReader>();
        builder.Services.AddSingleton<BlendedRecommender>();
        builder.Services.AddSingleton<ArchiveInteractions>();
        builder.Services.AddSingleton<ModelTraining>();
        builder.Services.AddHostedService<TrainingJob>();
        builder.Services.AddSingleton<CtrReader>();
        return builder;
    }

    public static IEndpointRouteBuilder MapRecommenderApis(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapRecommendationsApi();
        endpoints.MapBrowserRecommendationsApi();
        endpoints.MapStatsApi();
        return endpoints;
    }
}
