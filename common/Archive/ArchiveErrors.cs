using System.Diagnostics.Metrics;
using System.Net.Sockets;
using ClickHouse.Driver;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ecrm.Common.Archive;

/// <summary>Whether trying the same statement again can help.</summary>
public enum ArchiveErrorKind
{
    /// <summary>ClickHouse away, slow, overloaded or restarting: retry.</summary>
    Transient,

    /// <summary>The statement itself is wrong (syntax, an unknown column or function, a type mismatch): a bug, retrying repeats it.</summary>
    Permanent,
}

/// <summary>An archive statement that failed, named, with whether retrying can help.</summary>
public sealed class ArchiveException(string query, ArchiveErrorKind kind, int? code, string message, Exception inner)
    : Exception($"archive query '{query}' failed ({(kind == ArchiveErrorKind.Permanent ? "permanent" : "transient")}{(code is { } c ? $", ClickHouse code {c}" : "")}): {message}", inner)
{
    public string Query { get; } = query;

    public ArchiveErrorKind Kind { get; } = kind;

    /// <summary>ClickHouse's exception code, when the server answered.</summary>
    public int? Code { get; } = code;

    public bool IsTransient => Kind == ArchiveErrorKind.Transient;
}

/// <summary>
/// Sorts ClickHouse failures into transient and permanent, logs the permanent ones with the query's
/// name, and counts both in <c>ecrm.archive.query_errors{query,kind}</c>.
/// </summary>
public sealed partial class ArchiveDiagnostics
{
    public const string MeterName = "Ecrm.Archive";

    // ClickHouse's codes for a statement that is wrong in itself (ErrorCodes.cpp): retrying cannot help.
    private static readonly HashSet<int> PermanentCodes =
    [
        1, // UNSUPPORTED_METHOD
        6, // CANNOT_PARSE_TEXT
        10, // NOT_FOUND_COLUMN_IN_BLOCK
        16, // NO_SUCH_COLUMN_IN_TABLE
        20, // NUMBER_OF_COLUMNS_DOESNT_MATCH
        26, // CANNOT_PARSE_QUOTED_STRING
        27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
        36, // BAD_ARGUMENTS
        41, // CANNOT_PARSE_DATETIME
        42, // NUMBER_OF_ARGUMENTS_DOESNT_MATCH
        43, // ILLEGAL_TYPE_OF_ARGUMENT
        44, // ILLEGAL_COLUMN
        46, // UNKNOWN_FUNCTION
        47, // UNKNOWN_IDENTIFIER
        48, // NOT_IMPLEMENTED
        49, // LOGICAL_ERROR
        50, // UNKNOWN_TYPE
        53, // TYPE_MISMATCH
        60, // UNKNOWN_TABLE
        62, // SYNTAX_ERROR
        63, // UNKNOWN_AGGREGATE_FUNCTION
        69, // ARGUMENT_OUT_OF_BOUND
        70, // CANNOT_CONVERT_TYPE
        72, // CANNOT_PARSE_NUMBER
        73, // UNKNOWN_FORMAT
        81, // UNKNOWN_DATABASE
        115, // UNKNOWN_SETTING
        117, // INCORRECT_DATA
        128, // TOO_LARGE_ARRAY_SIZE
        167, // TOO_DEEP_AST
        168, // TOO_BIG_AST
        170, // BAD_GET
        179, // MULTIPLE_EXPRESSIONS_FOR_ALIAS
        184, // ILLEGAL_AGGREGATION
        190, // SIZES_OF_ARRAYS_DOESNT_MATCH
        208, // SIZES_OF_NESTED_COLUMNS_ARE_INCONSISTENT
        215, // NOT_AN_AGGREGATE
        288, // DISTRIBUTED_IN_JOIN_SUBQUERY_DENIED
        352, // AMBIGUOUS_COLUMN_NAME
    ];

    private readonly Counter<long>? _errors;
    private readonly ILogger _logger;

    public ArchiveDiagnostics(IMeterFactory? meters, ILogger<ArchiveDiagnostics>? logger)
    {
        _errors = meters?.Create(MeterName).CreateCounter<long>("ecrm.archive.query_errors", description: "Archive statements that failed, by query name and kind (transient: retried; permanent: a bug in the statement)");
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>No metrics, no log: for tools and tests.</summary>
    public static ArchiveDiagnostics None { get; } = new(null, null);

    /// <summary>The failure as an <see cref="ArchiveException"/>, or null when it is not ClickHouse's (the caller's own cancellation).</summary>
    internal ArchiveException? Classify(string query, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            return null;
        }

        var (kind, code) = exception switch
        {
            ClickHouseServerException server => (server.ErrorCode is var c && PermanentCodes.Contains(c) ? ArchiveErrorKind.Permanent : ArchiveErrorKind.Transient, (int?)server.ErrorCode),
            HttpRequestException or TimeoutException or OperationCanceledException or IOException or SocketException => (ArchiveErrorKind.Transient, null),
            _ => ((ArchiveErrorKind?)null, (int?)null),
        };
        if (kind is not { } known)
        {
            return null;
        }

        _errors?.Add(1, new KeyValuePair<string, object?>("query", query), new KeyValuePair<string, object?>("kind", known == ArchiveErrorKind.Permanent ? "permanent" : "transient"));
        if (known == ArchiveErrorKind.Permanent)
        {
            LogPermanent(exception, query, code ?? 0);
        }

        return new ArchiveException(query, known, code, Shorten(exception.Message), exception);
    }

    private static string Shorten(string text) => text.Length <= 500 ? text.Trim() : text[..500] + "...";

    [LoggerMessage(Level = LogLevel.Error, Message = "Archive query {Query} is wrong (ClickHouse code {Code}): a bug, not an outage")]
    private partial void LogPermanent(Exception exception, string query, int code);
}
