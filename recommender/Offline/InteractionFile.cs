using System.Globalization;
using Ecrm.Recommender.Models;

namespace Ecrm.Recommender.Offline;

/// <summary>
/// Interaction files: one `user item weight timestamp` per line, separated by tabs, commas or spaces
/// (MovieLens u.data as it is). Weight and timestamp may be left out (1 and the epoch); the timestamp
/// is Unix seconds or ISO 8601. Blank lines, lines starting with '#' and a header line are skipped.
/// </summary>
internal static class InteractionFile
{
    private static readonly char[] Separators = ['\t', ',', ' ', ';'];

    public static List<Interaction> Read(string path)
    {
        var interactions = new List<Interaction>();
        var number = 0;
        var seenData = false;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            var fields = line.Split(Separators, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (fields.Length == 0 || fields[0].StartsWith('#'))
            {
                continue;
            }

            var error = TryParse(fields, out var interaction);
            if (error is null)
            {
                interactions.Add(interaction);
            }
            else if (seenData)
            {
                throw new FormatException($"{path}, line {number}: {error}");
            }

            // The first line that is not data is taken as a header; any later one is an error.
            seenData = true;
        }

        return interactions;
    }

    public static void Write(string path, IEnumerable<Interaction> interactions)
    {
        using var writer = new StreamWriter(path);
        foreach (var (user, item, weight, time) in interactions)
        {
            writer.Write($"{user}\t{item}\t{weight.ToString(CultureInfo.InvariantCulture)}\t{time.ToUnixTimeSeconds()}\n");
        }
    }

    private static string? TryParse(string[] fields, out Interaction interaction)
    {
        interaction = default;
        if (fields.Length is < 2 or > 4)
        {
            return $"expected `user item weight timestamp`, found {fields.Length} fields";
        }

        var weight = 1.0;
        if (fields.Length > 2 && !(double.TryParse(fields[2], NumberStyles.Float, CultureInfo.InvariantCulture, out weight) && double.IsFinite(weight) && weight > 0))
        {
            return $"the weight '{fields[2]}' is not a positive number";
        }

        var time = DateTimeOffset.UnixEpoch;
        if (fields.Length > 3 && !TryParseTime(fields[3], out time))
        {
            return $"the timestamp '{fields[3]}' is neither Unix seconds nor ISO 8601";
        }

        interaction = new Interaction(fields[0], fields[1], weight, time);
        return null;
    }

    private static bool TryParseTime(string text, out DateTimeOffset time)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && double.IsFinite(seconds)
            && seconds >= DateTimeOffset.MinValue.ToUnixTimeSeconds() && seconds <= DateTimeOffset.MaxValue.ToUnixTimeSeconds())
        {
            time = DateTimeOffset.UnixEpoch.AddSeconds(seconds);
            return true;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out time);
    }
}
