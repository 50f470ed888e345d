using System.Globalization;

namespace Ecrm.Common.Hosting;

/// <summary>One sample of a Prometheus text exposition: metric name, labels, value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>
/// Reads what <see cref="PrometheusMetrics"/> writes (the Prometheus text format): samples only,
/// comments and malformed lines skipped, so a scrape of another version of a service still reads.
/// </summary>
public static class PrometheusText
{
    public static List<PrometheusSample> Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            string name;
            string rest;
            if (brace >= 0 && (space < 0 || brace < space))
            {
                var close = ReadLabels(line, brace + 1, labels);
                if (close < 0)
                {
                    continue;
                }

                name = line[..brace];
                rest = line[(close + 1)..];
            }
            else if (space > 0)
            {
                name = line[..space];
                rest = line[space..];
            }
            else
            {
                continue;
            }

            // A timestamp may follow the value.
            var value = rest.Trim().Split(' ', 2)[0];
            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
                || (value is "+Inf" or "-Inf" or "NaN" && double.TryParse(value.Replace("Inf", "Infinity", StringComparison.Ordinal), NumberStyles.Float, CultureInfo.InvariantCulture, out number)))
            {
                samples.Add(new PrometheusSample(name, labels, number));
            }
        }

        return samples;
    }

    /// <summary>The sum of a metric's samples whose labels pass the filter (all of them without one); null when it has none.</summary>
    public static double? Sum(IEnumerable<PrometheusSample> samples, string name, Func<IReadOnlyDictionary<string, string>, bool>? filter = null)
    {
        double? sum = null;
        foreach (var sample in samples)
        {
            if (sample.Name == name && (filter is null || filter(sample.Labels)))
            {
                sum = (sum ?? 0) + sample.Value;
            }
        }

        return sum;
    }

    /// <summary>Reads name="value" pairs up to the closing brace; returns its index, or -1.</summary>
    private static int ReadLabels(string line, int i, Dictionary<string, string> labels)
    {
        while (i < line.Length)
        {
            while (i < line.Length && line[i] is ' ' or ',')
            {
                i++;
            }

            if (i < line.Length && line[i] == '}')
            {
                return i;
            }

            var eq = line.IndexOf('=', i);
            if (eq < 0 || eq + 1 >= line.Length || line[eq + 1] != '"')
            {
                return -1;
            }

            var key = line[i..eq].Trim();
            var value = new System.Text.StringBuilder();
            i = eq + 2;
            for (; i < line.Length && line[i] != '"'; i++)
            {
                if (line[i] == '\\' && i + 1 < line.Length)
                {
                    i++;
                    value.Append(line[i] == 'n' ? '\n' : line[i]);
                }
                else
                {
                    value.Append(line[i]);
                }
            }

            if (i >= line.Length)
            {
                return -1;
            }

            labels[key] = value.ToString();
            i++;
        }

        return -1;
    }
}
