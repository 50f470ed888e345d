using Ecrm.Collector.Email;
using Ecrm.Collector.Ingestion;
using Ecrm.Collector.Spooling;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;

namespace Ecrm.Collector;

public static class CollectorExtensions
{
    public static WebApplicationBuilder AddCollectorServices(this WebApplicationBuilder builder)
    {
        builder.AddKeyAuthentication();
        builder.AddKafkaReadiness();
        builder.Services.AddOptions<CollectorOptions>().BindConfiguration(CollectorOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<EventStamper>();
        builder.Services.AddSingleton<EventEnricher>();
        builder.Services.AddSingleton<SourceRegistry>();
        builder.Services.AddSingleton<IngestionPipeline>();
        builder.Services.AddSingleton<DurableEventLog>();
        builder.Services.AddHostedService(services => services.GetRequiredService<DurableEventLog>());
        builder.Services.AddOptions<EmailOptions>().BindConfiguration(EmailOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<EmailTokens>();
        builder.Services.AddSingleton<EventProducer>();
        builder.Services.AddHostedService(services => services.GetRequiredService<EventProducer>());
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(options =>
        {
            options.SerializerOptions.TypeInfoResolverChain.Insert(0, EcrmJsonContext.Default);
            options.SerializerOptions.TypeInfoResolverChain.Insert(1, EmailJsonContext.Default);
        });
        // Requests above the batch limit get a 413 from the endpoint with a reason; Kestrel's own cap sits above it.
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = 8 * 1024 * 1024);
        return builder;
    }
}
