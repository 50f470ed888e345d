using Ecrm.Common.Hosting;
using Ecrm.Common.Storage;
using Ecrm.Recommender.Content;
using Ecrm.Recommender.Recommending;

namespace Ecrm.Recommender;

public static class RecommenderExtensions
{
    public static WebApplicationBuilder AddRecommenderServices(this WebApplicationBuilder builder)
    {
        builder.AddKeyAuthentication();
        builder.AddRedis();
        builder.Services.AddOptions<RecommenderOptions>().BindConfiguration(RecommenderOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<VersionedDocuments>();
        builder.Services.AddSingleton<DialogueReader>();
        builder.Services.AddSingleton<ContentHolder>();
        builder.Services.AddHostedService(services => services.GetRequiredService<ContentHolder>());
        builder.Services.AddSingleton<TopicCatalogView>();
        builder.Services.AddHostedService(services => services.GetRequiredService<TopicCatalogView>());
        builder.Services.AddSingleton<StageNextRecommender>();
        return builder;
    }

    public static IEndpointRouteBuilder MapRecommenderApis(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapRecommendationsApi();
        endpoints.MapBrowserRecommendationsApi();
        return endpoints;
    }
}
