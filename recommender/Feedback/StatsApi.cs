using Ecrm.Common.Archive;
using Ecrm.Common.Hosting;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ecrm.Recommender.Feedback;

/// <summary><c>GET /v1/stats/ctr?days=30</c> (API key): click-through rate per slot and variant, and per variant.</summary>
public static class StatsApi
{
    public static IEndpointRouteBuilder MapStatsApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/stats/ctr", ReadCtrAsync).RequireKey(KeyScope.Read);
        return endpoints;
    }

    private static async Task<Results<Ok<CtrReport>, ProblemHttpResult>> ReadCtrAsync(int? days, CtrReader reader, TimeProvider time, CancellationToken cancellationToken)
    {
        if (days is < 1 or > 3650)
        {
            return TypedResults.Problem("days must be between 1 and 3650", statusCode: StatusCodes.Status400BadRequest);
        }

        try
        {
            return TypedResults.Ok(await reader.ReadAsync(time.GetUtcNow().AddDays(-(days ?? 30)), cancellationToken));
        }
        catch (Exception e) when (ArchiveAnswers.For(e) is { } answer)
        {
            return answer;
        }
    }
}
