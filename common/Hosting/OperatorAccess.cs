using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Ecrm.Common.Hosting;

/// <summary>Where operators reach a service: a port of its own, kept off the public network.</summary>
public sealed record ManagementOptions
{
    public const string Section = "Management";

    /// <summary>
    /// The local port (one of the service's <c>Urls</c>) on which <c>/metrics</c> and the detailed
    /// <c>/health/ready</c> answer without a key; 0: none, they need an API or admin key everywhere.
    /// </summary>
    [Range(0, 65535)]
    public int Port { get; init; }
}

/// <summary>
/// Who may read the operations endpoints. Per-source counts, error types and consumer lag tell an
/// outsider about the business and its weak spots, and the public port faces every browser, so they
/// answer there only to an API or admin key. The management port is told by the connection's local
/// port, never by the Host header, which the client writes.
/// </summary>
public static class OperatorAccess
{
    public static IServiceCollection AddOperatorAccess(this IServiceCollection services)
    {
        services.AddOptions<ManagementOptions>().BindConfiguration(ManagementOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        return services;
    }

    public static bool IsOperator(HttpContext context)
    {
        var services = context.RequestServices;
        var port = services.GetRequiredService<IOptions<ManagementOptions>>().Value.Port;
        if (port > 0 && context.Connection.LocalPort == port)
        {
            return true;
        }

        return KeyAuthentication.ReadBearer(context.Request) is { } key
            && KeyAuthentication.IsValid(services.GetRequiredService<IOptions<AuthOptions>>().Value, KeyScope.Read, key);
    }
}
