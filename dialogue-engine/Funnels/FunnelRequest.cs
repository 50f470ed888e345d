using System.Globalization;
using System.Text.RegularExpressions;
using Ecrm.Common.Archive;
using Ecrm.Common.Events;

namespace Ecrm.DialogueEngine.Funnels;

/// <summary>A validated funnel question: what it asks of the archive, and the segment (a saved id or its JSON) it is limited to.</summary>
public sealed partial record FunnelRequest : FunnelQuery
{
    public FunnelRequest(FunnelQuery query, string? segment = null)
        : base(query) => Segment = segment;

    public string? Segment { get; init; }

    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(3 * 366);

    /// <summary>The window as the API writes it back: "7d", "12h", or "none".</summary>
    public string WindowText => Window is not { } window ? "none"
        : window.TotalDays == Math.Floor(window.TotalDays) ? $"{window.TotalDays:F0}d"
        : window.TotalHours == Math.Floor(window.TotalHours) ? $"{window.TotalHours:F0}h"
        : $"{window.TotalSeconds:F0}s";

    /// <summary>Reads the query string; every error names the parameter.</summary>
    public static FunnelRequest? Parse(IQueryCollection query, DateTimeOffset now, List<string> errors)
    {
        var to = ParseDate(query, "to", errors)?.AddDays(1) ?? now.UtcDateTime.Date.AddDays(1);
        var from = ParseDate(query, "from", errors) ?? to.AddDays(-30);
        if (from >= to)
        {
            errors.Add("from: must be on or before to");
        }
        else if (to - from > MaxRange)
        {
            errors.Add("from, to: the range is at most 3 years");
        }

        var window = ParseWindow(query["window"].ToString(), errors);
        string? channel = null;
        if (query["channel"].ToString() is { Length: > 0 } channelText)
        {
            if (ChannelNames.TryParse(channelText, out var parsed))
            {
                channel = ChannelNames.Of(parsed);
            }
            else
            {
                errors.Add($"channel: '{Shorten(channelText)}' is not one of web, email, mobile, server");
            }
        }

        var order = FunnelOrder.Dialogue;
        switch (query["order"].ToString())
        {
            case "" or "dialogue":
                break;
            case "strict":
                order = FunnelOrder.Strict;
                break;
            case var other:
                errors.Add($"order: '{Shorten(other)}' is not one of dialogue, strict");
                break;
        }

        var (breakdown, trait) = ParseBreakdown(query["breakdown"].ToString(), errors);
        var segment = query["segment"].ToString() is { Length: > 0 } s ? s : null;
        return errors.Count > 0 ? null : new FunnelRequest(new FunnelQuery(new DateTimeOffset(from, TimeSpan.Zero), new DateTimeOffset(to, TimeSpan.Zero), window, channel, order, breakdown, trait), segment);
    }

    private static DateTime? ParseDate(IQueryCollection query, string name, List<string> errors)
    {
        var text = query[name].ToString();
        if (text.Length == 0)
        {
            return null;
        }

        if (DateTime.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var date)
            && date.Year is >= 2000 and <= 2100)
        {
            return date;
        }

        errors.Add($"{name}: '{Shorten(text)}' is not a date like 2026-11-01");
        return null;
    }

    /// <summary>"7d", "12h", "30m" or seconds; empty or "none" for no window.</summary>
    public static TimeSpan? ParseWindow(string text, List<string> errors)
    {
        if (text is "" or "none")
        {
            return null;
        }

        var match = WindowPattern().Match(text);
        if (!match.Success || !long.TryParse(match.Groups[1].ValueSpan, CultureInfo.InvariantCulture, out var amount) || amount <= 0)
        {
            errors.Add($"window: '{Shorten(text)}' is not a duration like 7d, 12h, 30m or a number of seconds");
            return null;
        }

        var window = match.Groups[2].Value switch
        {
            "d" => TimeSpan.FromDays(Math.Min(amount, 10_000)),
            "h" => TimeSpan.FromHours(Math.Min(amount, 240_000)),
            "m" => TimeSpan.FromMinutes(Math.Min(amount, 14_400_000)),
            _ => TimeSpan.FromSeconds(Math.Min(amount, 864_000_000)),
        };
        if (window > TimeSpan.FromDays(366))
        {
            errors.Add("window: at most 366 days");
            return null;
        }

        return window;
    }

    private static (BreakdownKind, string?) ParseBreakdown(string text, List<string> errors)
    {
        switch (text)
        {
            case "":
                return (BreakdownKind.None, null);
            case "channel":
                return (BreakdownKind.Channel, null);
            case "firstChannel":
                return (BreakdownKind.FirstChannel, null);
            case "cohortWeek":
                return (BreakdownKind.CohortWeek, null);
        }

        if (text.StartsWith("trait:", StringComparison.Ordinal) && SegmentSql.TraitNamePattern().IsMatch(text[6..]))
        {
            return (BreakdownKind.Trait, text[6..]);
        }

        errors.Add($"breakdown: '{Shorten(text)}' is not one of channel, firstChannel, cohortWeek, trait:<name> (letters, digits, '_', '-', '.')");
        return (BreakdownKind.None, null);
    }

    /// <summary>A caller's value quoted back in an error, cut to a readable length.</summary>
    public static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "...";

    [GeneratedRegex("^([0-9]{1,12})([dhm]?)$")]
    private static partial Regex WindowPattern();

}
