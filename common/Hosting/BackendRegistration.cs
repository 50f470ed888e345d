using System.Diagnostics.Metrics;
using Ecrm.Common.Archive;
using Ecrm.Common.Kafka;
using Ecrm.Common.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.Common.Hosting;

/// <summary>
/// One long-lived client of each kind, its options validated at start-up, and its readiness check.
/// </summary>
public static class BackendRegistration
{
    public static IHostApplicationBuilder AddKeyAuthentication(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOperatorAccess();
        return builder;
    }

    public static IHostApplicationBuilder AddKafkaReadiness(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<KafkaOptions>().BindConfiguration(KafkaOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddHostedService<KafkaLibraryStartupLog>();
        builder.Services.AddSingleton<KafkaHealthCheck>();
        builder.Services.AddHealthChecks().AddCheck<KafkaHealthCheck>("kafka", tags: [Readiness.Tag]);
        return builder;
    }

    public static IHostApplicationBuilder AddRedis(this IHostApplicationBuilder builder, bool failFast = false)
    {
        builder.Services.AddOptions<RedisOptions>().BindConfiguration(RedisOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<IConnectionMultiplexer>(services =>
            RedisConnection.Connect(services.GetRequiredService<IOptions<RedisOptions>>().Value.Configuration, failFast));
        builder.Services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: [Readiness.Tag]);
        return builder;
    }

    /// <summary>The archive's ClickHouse client; <paramref name="readiness"/> false for a service that serves without it (the recommender only trains from it).</summary>
    public static IHostApplicationBuilder AddClickHouse(this IHostApplicationBuilder builder, bool readiness = true)
    {
        builder.Services.AddOptions<ClickHouseOptions>().BindConfiguration(ClickHouseOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(services => new ArchiveDiagnostics(services.GetRequiredService<IMeterFactory>(), services.GetRequiredService<ILogger<ArchiveDiagnostics>>()));
        builder.Services.AddSingleton(services => new ArchiveClient(
            services.GetRequiredService<IOptions<ClickHouseOptions>>().Value,
            services.GetRequiredService<ArchiveDiagnostics>()));
        if (readiness)
        {
            builder.Services.AddHealthChecks().AddCheck<ClickHouseHealthCheck>("clickhouse", tags: [Readiness.Tag]);
        }

        return builder;
    }
}
