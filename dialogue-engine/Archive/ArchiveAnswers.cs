using Ecrm.Common.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ecrm.DialogueEngine.Archive;

/// <summary>
/// How the APIs that read the ClickHouse archive answer when it is away: 503 with the reason, never
/// a bare 500. One place, so funnels, segments and triggers say it the same way.
/// </summary>
public static class ArchiveAnswers
{
    public static bool IsArchiveAway(Exception exception) => exception is HttpRequestException or ClickHouseException or TaskCanceledException;

    public static ProblemHttpResult Unavailable() =>
        TypedResults.Problem(detail: "the ClickHouse archive is not answering; try again shortly", statusCode: StatusCodes.Status503ServiceUnavailable);

    /// <summary>200 with what the query found, or 503 while the archive is away.</summary>
    public static async Task<Results<Ok<T>, ProblemHttpResult>> OkOrUnavailableAsync<T>(Func<Task<T>> query)
    {
        try
        {
            return TypedResults.Ok(await query());
        }
        catch (Exception e) when (IsArchiveAway(e))
        {
            return Unavailable();
        }
    }
}
