using System.Threading.RateLimiting;
using Ecrm.Collector.Email;
using Ecrm.Collector.Ingestion;
using Ecrm.Collector.Spooling;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector;

public static class CollectorExtensions
{
    /// <summary>The concurrency limit on ingestion endpoints, so overload cannot grow memory without bound.</summary>
    public const string IngestionLimit = "ingestion";

    /// <summary>The most any request body may be; each endpoint holds its own to less.</summary>
    public const long KestrelMaxRequestBodyBytes = 8 * 1024 * 1024;

    public static WebApplicationBuilder AddCollectorServices(this WebApplicationBuilder builder)
    {
        builder.AddKeyAuthentication();
        builder.Services.AddPrometheusMetrics();
        builder.AddKafkaReadiness();
        builder.Services.AddOptions<CollectorOptions>().BindConfiguration(CollectorOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<EventStamper>();
        builder.Services.AddSingleton<EventEnricher>();
        builder.Services.AddSingleton<SourceRegistry>();
        builder.Services.AddSingleton<IngestionPipeline>();
        builder.Services.AddSingleton<ClientMetrics>();
        builder.Services.AddSingleton<DurableEventLog>();
        builder.Services.AddHostedService(services => services.GetRequiredService<DurableEventLog>());
        builder.Services.AddOptions<EmailOptions>().BindConfiguration(EmailOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<EmailTokens>();
        builder.Services.AddSingleton<LostClicks>();
        builder.Services.AddSingleton<EventProducer>();
        builder.Services.AddHostedService(services => services.GetRequiredService<EventProducer>());
        builder.Services.AddProblemDetails();
        builder.Services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(IngestionLimit, context => RateLimitPartition.GetConcurrencyLimiter("ingestion", _ => new ConcurrencyLimiterOptions
            {
                PermitLimit = context.RequestServices.GetRequiredService<IOptions<CollectorOptions>>().Value.MaxConcurrentRequests,
                QueueLimit = 0,
            }));
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                rejected.HttpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                rejected.HttpContext.Response.Headers.RetryAfter = "1";
                await rejected.HttpContext.Response.WriteAsJsonAsync(
                    new Microsoft.AspNetCore.Mvc.ProblemDetails { Status = 503, Detail = "the collector is at its limit of concurrent requests; retry shortly" }, cancellationToken);
            };
        });
        builder.Services.ConfigureHttpJsonOptions(options =>
        {
            options.SerializerOptions.TypeInfoResolverChain.Insert(0, EcrmJsonContext.Default);
            options.SerializerOptions.TypeInfoResolverChain.Insert(1, EmailJsonContext.Default);
        });
        // Requests above the batch limit get a 413 from the endpoint with a reason; Kestrel's own cap sits above it.
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = KestrelMaxRequestBodyBytes);
        return builder;
    }
}
