using System.Globalization;
using Ecrm.Common.Archive;

namespace Ecrm.DialogueEngine.Triggers;

public sealed record ConversionDay(string Date, long Fired, long Converted);

/// <summary>
/// Of a rule's firings in [from, to): how many were followed, within the window, by the customer
/// reaching a deeper stage of the same topic than the one that fired the rule. Per day and in total.
/// </summary>
public sealed record TriggerConversionReport(
    string Trigger, DateTimeOffset From, DateTimeOffset To, string Window, long Fired, long Converted, double? Rate, IReadOnlyList<ConversionDay> Days);

/// <summary>
/// Conversions after firing, from the archive: the rule's firings joined with the stage
/// transitions on customer and topic (<see cref="TriggerArchive.ConversionsAsync"/>). Suppressed firings acted on
/// nobody and are left out.
/// </summary>
public static class TriggerConversions
{
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromDays(7);

    public static async Task<TriggerConversionReport> ReadAsync(
        ArchiveClient clickHouse, string rule, DateTimeOffset from, DateTimeOffset to, TimeSpan window, string windowText, CancellationToken cancellationToken)
    {
        var days = (await TriggerArchive.ConversionsAsync(clickHouse, rule, FiringStatus.Suppressed, from, to, window, cancellationToken))
            .Select(d => new ConversionDay(DateTimeOffset.UnixEpoch.AddDays(d.Day).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), d.Fired, d.Converted))
            .ToList();
        var fired = days.Sum(d => d.Fired);
        var converted = days.Sum(d => d.Converted);
        return new TriggerConversionReport(rule, from, to, windowText, fired, converted, fired == 0 ? null : (double)converted / fired, days);
    }
}
