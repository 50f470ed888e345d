namespace Ecrm.DialogueEngine.Triggers;

public static class TriggerExtensions
{
    /// <summary>The trigger engine: rules and jobs in Redis, its consumer group, the due-job worker and the firings archiver (when <c>Triggers:Run</c>).</summary>
    public static WebApplicationBuilder AddTriggers(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<TriggerOptions>().BindConfiguration(TriggerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<OutboundPolicy>();
        // Deliveries go where rules say, so only to addresses the policy allows; minting goes to the
        // collector the operator configured, usually on the internal network.
        builder.Services.AddHttpClient(TriggerActions.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(services => services.GetRequiredService<OutboundPolicy>().CreateHandler());
        builder.Services.AddHttpClient(TriggerActions.CollectorClientName);
        builder.Services.AddSingleton<TriggerStore>();
        builder.Services.AddSingleton<TriggerErasure>();
        builder.Services.AddSingleton<TriggerJobs>();
        builder.Services.AddSingleton<TriggerKafkaProducer>();
        builder.Services.AddSingleton<TriggerActions>();
        builder.Services.AddSingleton<TriggerWorker>();
        var settings = builder.Configuration.GetSection(TriggerOptions.Section).Get<TriggerOptions>() ?? new TriggerOptions();
        if (settings.Run)
        {
            builder.Services.AddHostedService(services => services.GetRequiredService<TriggerWorker>());
            builder.Services.AddHostedService<TriggerConsumer>();
            builder.Services.AddHostedService<FiringArchiver>();
        }

        return builder;
    }
}
