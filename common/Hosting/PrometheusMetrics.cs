using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Ecrm.Common.Hosting;

/// <summary>
/// <c>GET /metrics</c> in the Prometheus text format, from System.Diagnostics.Metrics: every Ecrm
/// meter (<c>Ecrm.*</c>), ASP.NET Core's request durations and the runtime's own (<c>System.Runtime</c>:
/// GC collections per generation and total pause time, allocated bytes, CPU time, thread pool queue
/// length and lock contentions, what a latency tail is explained with). Counters are summed, histograms kept
/// in fixed buckets, gauges observed at scrape time. It carries no customer data and, like the
/// health endpoints, needs no key: expose it on the operators' network only.
/// </summary>
public sealed class PrometheusMetrics : IDisposable
{
    private static readonly double[] SecondsBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] MillisecondsBuckets = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(Instrument Instrument, string Labels), Series> _series = new();
    private readonly Lock _observing = new();
    private long _observation;

    public PrometheusMetrics()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name.StartsWith("Ecrm", StringComparison.Ordinal) || instrument.Meter.Name is "Microsoft.AspNetCore.Hosting" or "System.Runtime")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    public string Render()
    {
        ObserveNow();
        var text = new StringBuilder();
        foreach (var group in _series.GroupBy(s => s.Key.Instrument).OrderBy(g => Name(g.Key), StringComparer.Ordinal))
        {
            var instrument = group.Key;
            var name = Name(instrument);
            var kind = instrument switch
            {
                Counter<long> or Counter<int> or Counter<double> or ObservableCounter<long> or ObservableCounter<double> => "counter",
                Histogram<long> or Histogram<int> or Histogram<double> => "histogram",
                _ => "gauge",
            };
            if (kind == "counter")
            {
                name += "_total";
            }

            text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {instrument.Description ?? instrument.Name}\n# TYPE {name} {kind}\n");
            foreach (var ((_, labels), series) in group.OrderBy(s => s.Key.Labels, StringComparer.Ordinal))
            {
                lock (series)
                {
                    if (kind != "histogram")
                    {
                        text.Append(CultureInfo.InvariantCulture, $"{name}{Braces(labels)} {Number(series.Value)}\n");
                        continue;
                    }

                    var cumulative = 0L;
                    for (var b = 0; b < series.Bounds!.Length; b++)
                    {
                        cumulative += series.Buckets![b];
                        text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{Braces(Join(labels, $"le=\"{Number(series.Bounds[b])}\""))} {cumulative}\n");
                    }

                    text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{Braces(Join(labels, "le=\"+Inf\""))} {series.Count}\n");
                    text.Append(CultureInfo.InvariantCulture, $"{name}_sum{Braces(labels)} {Number(series.Value)}\n{name}_count{Braces(labels)} {series.Count}\n");
                }
            }
        }

        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>
    /// Observable instruments report now; their series hold the latest value, and a series they no
    /// longer report is dropped. A gauge's label set is what exists now (a consumer's lag per partition
    /// it owns): kept, a partition handed to another engine went on showing its last lag here, as if
    /// both engines held it.
    /// </summary>
    private void ObserveNow()
    {
        lock (_observing)
        {
            var observation = ++_observation;
            _listener.RecordObservableInstruments();
            foreach (var (key, series) in _series)
            {
                if (key.Instrument.IsObservable && series.Observation != observation)
                {
                    _series.TryRemove(key, out _);
                }
            }
        }
    }

    private void Record<T>(Instrument instrument, T measurement, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        var value = Convert.ToDouble(measurement, CultureInfo.InvariantCulture);
        var series = _series.GetOrAdd((instrument, Labels(tags)), key => new Series(key.Instrument));
        lock (series)
        {
            switch (instrument)
            {
                case Histogram<long> or Histogram<int> or Histogram<double>:
                    series.Count++;
                    series.Value += value;
                    var bucket = Array.FindIndex(series.Bounds!, bound => value <= bound);
                    if (bucket >= 0)
                    {
                        series.Buckets![bucket]++;
                    }

                    break;
                case Counter<long> or Counter<int> or Counter<double> or UpDownCounter<long> or UpDownCounter<int> or UpDownCounter<double>:
                    series.Value += value;
                    break;
                default:
                    // Observable instruments report their current total or level.
                    series.Value = value;
                    // Observable instruments report only inside ObserveNow, under its lock.
                    series.Observation = _observation;
                    break;
            }
        }
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0)
        {
            return "";
        }

        var pairs = new List<string>(tags.Length);
        foreach (var (key, value) in tags)
        {
            var text = Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";
            pairs.Add($"{Sanitize(key)}=\"{text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)}\"");
        }

        pairs.Sort(StringComparer.Ordinal);
        return string.Join(',', pairs);
    }

    private static string Name(Instrument instrument)
    {
        var name = Sanitize(instrument.Name);
        return instrument.Unit switch
        {
            "s" => name + "_seconds",
            "ms" => name + "_milliseconds",
            "By" => name + "_bytes",
            _ => name,
        };
    }

    private static string Sanitize(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) ? c : '_');
        }

        return builder.ToString();
    }

    private static string Join(string labels, string extra) => labels.Length == 0 ? extra : labels + "," + extra;

    private static string Braces(string labels) => labels.Length == 0 ? "" : "{" + labels + "}";

    private static string Number(double value) => value.ToString("G17", CultureInfo.InvariantCulture);

    private sealed class Series(Instrument instrument)
    {
        public double[]? Bounds { get; } = instrument is Histogram<long> or Histogram<int> or Histogram<double>
            ? instrument.Unit == "ms" ? MillisecondsBuckets : SecondsBuckets
            : null;

        public long[]? Buckets { get; } = instrument is Histogram<long> or Histogram<int> or Histogram<double> ? new long[SecondsBuckets.Length] : null;

        public long Count { get; set; }

        public double Value { get; set; }

        /// <summary>For an observable instrument, the observation that last reported this series.</summary>
        public long Observation { get; set; }
    }
}

public static class PrometheusMetricsExtensions
{
    public static IServiceCollection AddPrometheusMetrics(this IServiceCollection services) => services.AddSingleton<PrometheusMetrics>();

    public static IEndpointRouteBuilder MapPrometheusMetrics(this IEndpointRouteBuilder endpoints)
    {
        // Created now, so it listens from start-up rather than from the first scrape.
        endpoints.ServiceProvider.GetRequiredService<PrometheusMetrics>();
        endpoints.MapGet("/metrics", (PrometheusMetrics metrics, HttpContext context) => OperatorAccess.IsOperator(context)
            ? Results.Text(metrics.Render(), "text/plain; version=0.0.4; charset=utf-8")
            : Results.Problem("the metrics answer on the management port (Management:Port), or to an API or admin key as 'Authorization: Bearer <key>'", statusCode: StatusCodes.Status401Unauthorized));
        return endpoints;
    }
}
