using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Archive;
using Ecrm.Common.Kafka;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.Common.Hosting;

/// <summary>
/// <c>GET /health/ready</c>: 200 when every dependency (kafka, redis, clickhouse) is up, 503 otherwise;
/// the entry of each, with its error, only for operators (<see cref="OperatorAccess"/>): a load
/// balancer needs the status code, an outsider should not learn which back end is failing and why.
/// <c>GET /health/live</c>: the process answers.
/// </summary>
public static class Readiness
{
    public const string Tag = "ready";

    public static IEndpointRouteBuilder MapReadiness(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(Tag),
            ResponseWriter = WriteReportAsync,
        });
        endpoints.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        return endpoints;
    }

    private static Task WriteReportAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("status", report.Status.ToString());
            if (!OperatorAccess.IsOperator(context))
            {
                writer.WriteEndObject();
                writer.Flush();
                return context.Response.Body.WriteAsync(stream.ToArray()).AsTask();
            }

            writer.WriteStartObject("dependencies");
            foreach (var (name, entry) in report.Entries)
            {
                writer.WriteStartObject(name);
                writer.WriteString("status", entry.Status.ToString());
                writer.WriteNumber("ms", Math.Round(entry.Duration.TotalMilliseconds, 1));
                if (entry.Description is not null)
                {
                    writer.WriteString("detail", entry.Description);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return context.Response.Body.WriteAsync(stream.ToArray()).AsTask();
    }
}

public sealed class RedisHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var latency = await redis.GetDatabase().PingAsync();
            return HealthCheckResult.Healthy($"ping {latency.TotalMilliseconds:F1} ms");
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy(e.Message);
        }
    }
}

public sealed class ClickHouseHealthCheck(ArchiveClient clickHouse) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        await clickHouse.PingAsync(cancellationToken) ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("ping failed");
}

/// <summary>Asks the cluster for the events topic's metadata: brokers reachable and the topic has leaders.</summary>
public sealed class KafkaHealthCheck : IHealthCheck, IDisposable
{
    private readonly IAdminClient _admin;
    private readonly string _topic;

    public KafkaHealthCheck(IOptions<KafkaOptions> options)
    {
        _topic = options.Value.EventsTopic;
        // Its log stays quiet: the check's answer says what is wrong, and the services' own clients log the outage.
        _admin = KafkaClientFactory.CreateAdminClient(options.Value, socketTimeoutMs: 3000);
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.Run(() =>
        {
            try
            {
                var metadata = _admin.GetMetadata(_topic, TimeSpan.FromSeconds(3));
                var topic = metadata.Topics.FirstOrDefault();
                if (topic is null || topic.Error.IsError)
                {
                    return HealthCheckResult.Unhealthy($"topic {_topic}: {topic?.Error.Reason ?? "missing"}");
                }

                var leaderless = topic.Partitions.Count(p => p.Leader < 0);
                return leaderless == 0
                    ? HealthCheckResult.Healthy($"{metadata.Brokers.Count} brokers, {topic.Partitions.Count} partitions")
                    : HealthCheckResult.Unhealthy($"{leaderless} partitions of {_topic} have no leader");
            }
            catch (KafkaException e)
            {
                return HealthCheckResult.Unhealthy(e.Error.Reason);
            }
        }, cancellationToken);

    public void Dispose() => _admin.Dispose();
}
