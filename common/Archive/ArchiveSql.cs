using System.Globalization;
using System.Text;

namespace Ecrm.Common.Archive;

/// <summary>
/// The only way a value enters the archive's SQL. ClickHouse 18.16 takes no query parameters, so values
/// travel as escaped literals; every literal written here is also valid on current releases.
/// </summary>
public static class ArchiveSql
{
    /// <summary>The smallest magnitude of a normal double; 18.16 refuses smaller non-zero literals as a syntax error.</summary>
    private const double SmallestNormal = 2.2250738585072014E-308;

    /// <summary>A single-quoted string literal with backslashes, quotes and control characters escaped.</summary>
    public static string Quote(string value)
    {
        var builder = new StringBuilder(value.Length + 2).Append('\'');
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\': builder.Append(@"\\"); break;
                case '\'': builder.Append(@"\'"); break;
                case '\0': builder.Append(@"\0"); break;
                case '\n': builder.Append(@"\n"); break;
                case '\r': builder.Append(@"\r"); break;
                case '\t': builder.Append(@"\t"); break;
                default: builder.Append(c); break;
            }
        }

        return builder.Append('\'').ToString();
    }

    /// <summary>Quoted literals joined by commas, for an IN list.</summary>
    public static string QuoteAll(IEnumerable<string> values) => string.Join(", ", values.Select(Quote));

    /// <summary>An integer literal.</summary>
    public static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// A floating-point literal. Callers validate first (<see cref="IsStorableNumber"/>): infinity and NaN
    /// have no literal, and a subnormal one is a syntax error on 18.16.
    /// </summary>
    public static string Number(double value)
    {
        if (!IsStorableNumber(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "not a number ClickHouse takes as a literal: validate it first");
        }

        return value.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// A number the archive can store and compare: finite, and zero or at least 2.2e-308 in magnitude.
    /// The API refuses others with this rule, so that no value makes a later query fail.
    /// </summary>
    public static bool IsStorableNumber(double value) => double.IsFinite(value) && (value == 0 || Math.Abs(value) >= SmallestNormal);

    /// <summary>What <see cref="IsStorableNumber"/> asks, for an error message.</summary>
    public const string StorableNumberRule = "a finite number, zero or at least 1e-307 in magnitude";

    /// <summary>
    /// A float read from an event's JSON payload. Events archived before the collector refused
    /// unstorable numbers may hold 1e309 (read as infinity, written out as null): those count as 0.
    /// </summary>
    internal static string PayloadFloat(string payloadColumn, string field)
    {
        var extract = $"visitParamExtractFloat({payloadColumn}, {Quote(field)})";
        return $"if(isFinite({extract}), {extract}, 0)";
    }
}
