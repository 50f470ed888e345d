using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Ecrm.Testing;

/// <summary>Which kinds of caller a route lets through: no key, a write key (HTTP Basic), an API key, an admin key (Bearer).</summary>
public enum Caller
{
    None,
    Write,
    Api,
    Admin,
}

/// <summary>One row of the README's route and key table.</summary>
public sealed record RouteAccess(string Method, string Route, string Service, IReadOnlyDictionary<Caller, bool> Allows)
{
    public override string ToString() => $"{Method} {Route} ({Service})";
}

/// <summary>
/// The README's "Routes and keys" table (in its Security section): the one statement of who may call
/// what, which the tests hold both the services' route tables and their answers to.
/// </summary>
public static partial class RouteKeyTable
{
    public static readonly Caller[] Callers = [Caller.None, Caller.Write, Caller.Api, Caller.Admin];

    public static IReadOnlyList<RouteAccess> Read()
    {
        var lines = File.ReadAllLines(RepoPaths.Combine("README.md"));
        var start = Array.FindIndex(lines, l => l.StartsWith("| route | service | no key | write key | API key | admin key |", StringComparison.Ordinal));
        if (start < 0)
        {
            throw new InvalidOperationException("README.md has no '| route | service | no key | write key | API key | admin key |' table");
        }

        var rows = new List<RouteAccess>();
        foreach (var line in lines.Skip(start + 2).TakeWhile(l => l.StartsWith('|')))
        {
            var cells = line.Trim('|').Split('|').Select(c => c.Trim()).ToArray();
            var match = RouteCell().Match(cells[0]);
            if (!match.Success || cells.Length != 6)
            {
                throw new InvalidOperationException($"README route table row not understood: {line}");
            }

            var allows = new Dictionary<Caller, bool>();
            for (var i = 0; i < Callers.Length; i++)
            {
                allows[Callers[i]] = cells[2 + i] switch
                {
                    "yes" => true,
                    "no" => false,
                    _ => throw new InvalidOperationException($"README route table: '{cells[2 + i]}' is neither yes nor no in {line}"),
                };
            }

            rows.Add(new RouteAccess(match.Groups[1].Value, match.Groups[2].Value, cells[1], allows));
        }

        return rows;
    }

    public static IReadOnlyList<RouteAccess> Of(string service) => [.. Read().Where(r => r.Service == service)];

    /// <summary>Every (method, route pattern) a running service maps, as the README spells them (a group's root "/api/x/" is "/api/x": routing ignores the slash).</summary>
    public static IReadOnlyList<string> EndpointsOf(IServiceProvider services) =>
    [
        .. services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => $"{m} /{e.RoutePattern.RawText!.Trim('/')}"))
            .Distinct()
            .Order(StringComparer.Ordinal),
    ];

    [GeneratedRegex(@"^`(GET|HEAD|POST|PUT|DELETE|PATCH) (/[^`]*)`$")]
    private static partial Regex RouteCell();
}
