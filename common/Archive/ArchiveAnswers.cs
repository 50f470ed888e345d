using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ecrm.Common.Archive;

/// <summary>
/// How the APIs that read the archive answer when a read fails: 503 with the reason while ClickHouse is
/// away (retry shortly), 500 with a problem document when the statement itself is wrong (our bug: it is
/// logged and counted under the query's name, see <see cref="ArchiveDiagnostics"/>), never a bare 500.
/// One place, so funnels, segments, triggers and the recommender say it the same way.
/// </summary>
public static class ArchiveAnswers
{
    /// <summary>ClickHouse is away, slow or restarting: retrying can help.</summary>
    public static bool IsArchiveAway(Exception exception) => exception is ArchiveException { IsTransient: true } or HttpRequestException or TaskCanceledException;

    public static ProblemHttpResult Unavailable() =>
        TypedResults.Problem(detail: "the ClickHouse archive is not answering; try again shortly", statusCode: StatusCodes.Status503ServiceUnavailable);

    public static ProblemHttpResult Failed(ArchiveException exception) =>
        TypedResults.Problem(
            title: "An archive query failed",
            detail: $"the archive query '{exception.Query}' is wrong (ClickHouse code {exception.Code}); this is a bug in Ecrm, and it was logged",
            statusCode: StatusCodes.Status500InternalServerError,
            extensions: new Dictionary<string, object?> { ["query"] = exception.Query, ["clickHouseCode"] = exception.Code });

    /// <summary>The answer for a failed read: <see cref="Unavailable"/> or <see cref="Failed"/>; null for a failure that is not the archive's.</summary>
    public static ProblemHttpResult? For(Exception exception) => exception switch
    {
        ArchiveException { IsTransient: false } permanent => Failed(permanent),
        _ when IsArchiveAway(exception) => Unavailable(),
        _ => null,
    };

    /// <summary>200 with what the query found, 503 while the archive is away, 500 when the query is wrong.</summary>
    public static async Task<Results<Ok<T>, ProblemHttpResult>> OkOrUnavailableAsync<T>(Func<Task<T>> query)
    {
        try
        {
            return TypedResults.Ok(await query());
        }
        catch (Exception e) when (For(e) is { } answer)
        {
            return answer;
        }
    }
}
