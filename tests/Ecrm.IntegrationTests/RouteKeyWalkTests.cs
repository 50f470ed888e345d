using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Ecrm.Testing;
using Xunit;

namespace Ecrm.IntegrationTests;

/// <summary>
/// Walks every route of the README's route and key table, on the real services, with each kind of
/// caller: no key, the write key (HTTP Basic and in the query, as browsers send it), an API key and an admin key
/// (Bearer). A caller the table allows is never answered 401 or 403 (it may get 400 or 404 for the
/// walk's placeholder ids and empty bodies); one it refuses always is. The services' own route lists
/// are held to the same table by EveryRouteIsInTheReadmeTable in each service's tests.
/// </summary>
[Collection(BackendsCollection.Name)]
public sealed class RouteKeyWalkTests(KafkaFixture kafka, RedisFixture redis, ClickHouseFixture clickHouse) : IAsyncLifetime
{
    private readonly EcrmServices _stack = new(kafka, redis, clickHouse);

    public Task InitializeAsync() => this.InitializeOrDisposeAsync(_stack.StartAsync);

    public Task DisposeAsync() => _stack.DisposeAsync().AsTask();

    [Fact]
    public async Task EveryRouteAnswersEachKindOfCallerAsTheReadmeTableSays()
    {
        var table = RouteKeyTable.Read();
        Assert.NotEmpty(table);
        var mismatches = new List<string>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        foreach (var row in table)
        {
            foreach (var caller in RouteKeyTable.Callers)
            {
                // A browser sends the write key as HTTP Basic, or in the query where it cannot set headers (beacons, pixels).
                var target = Concrete(row.Route) + (caller == Caller.Write ? "?writeKey=" + EcrmServices.WriteKey : "");
                using var request = new HttpRequestMessage(new HttpMethod(row.Method), new Uri(ServiceUrl(row.Service), target));
                request.Headers.Authorization = Authorization(caller);
                if (row.Method is "POST" or "PUT")
                {
                    request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
                }

                using var response = await http.SendAsync(request);
                var refused = response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden;
                if (refused == row.Allows[caller])
                {
                    mismatches.Add($"{row} with {caller}: {(int)response.StatusCode}, the README says {(row.Allows[caller] ? "yes" : "no")}");
                }
            }
        }

        Assert.True(mismatches.Count == 0, string.Join('\n', mismatches));
    }

    private Uri ServiceUrl(string service) => service switch
    {
        "collector" => _stack.CollectorUrl,
        "engine" => _stack.EngineUrl,
        "recommender" => _stack.RecommenderUrl,
        _ => throw new InvalidOperationException($"the README route table names an unknown service '{service}'"),
    };

    /// <summary>The route with a placeholder for each parameter; a parameter named for the write key gets the write key.</summary>
    private static string Concrete(string route) =>
        System.Text.RegularExpressions.Regex.Replace(route, @"\{\**([A-Za-z]+)[^}]*\}", m => m.Groups[1].Value == "writeKey" ? EcrmServices.WriteKey : "walk-" + m.Groups[1].Value)
            .TrimStart('/');

    private static AuthenticationHeaderValue? Authorization(Caller caller) => caller switch
    {
        Caller.Write => new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(EcrmServices.WriteKey + ":"))),
        Caller.Api => new AuthenticationHeaderValue("Bearer", EcrmServices.ApiKey),
        Caller.Admin => new AuthenticationHeaderValue("Bearer", EcrmServices.AdminKey),
        _ => null,
    };
}
