using Confluent.Kafka;
using Ecrm.Common.Hosting;
using Microsoft.Extensions.Options;

namespace Ecrm.DialogueEngine.Pipeline;

/// <summary>
/// A service as last scraped. <see cref="Status"/>: ok, unreachable (with <see cref="Error"/>) or
/// "not configured". <see cref="Totals"/> are counters since the service started, <see cref="PerSecond"/>
/// their rates since the previous sample (null on the first one or after a restart), <see cref="Levels"/> gauges.
/// Keys: requests, serverErrors (5xx), clientErrors (4xx); the collector's accepted, rejected and
/// spoolBytes; the engine's folded, transitions and batchFailures.fold|archive|triggers.
/// </summary>
public sealed record ServiceHealth(
    string Status, string? Error, Dictionary<string, double> Totals, Dictionary<string, double?> PerSecond, Dictionary<string, double> Levels);

/// <summary>One sample of the history: total lag, and every rate as "service.key".</summary>
public sealed record PipelinePoint(DateTimeOffset At, long Lag, Dictionary<string, double?> PerSecond, double? SpoolBytes);

public sealed record PipelineReport(
    DateTimeOffset At, double? SampleSeconds, IReadOnlyList<PartitionLag> Lag, string? LagError,
    Dictionary<string, ServiceHealth> Services, IReadOnlyList<PipelinePoint> History);

/// <summary>
/// The pipeline's health for the console: Kafka lag per partition of the engine's groups, the
/// engine's own counters (in-process), and the collector's and recommender's <c>/metrics</c>. Sampled
/// when asked, at most once a second however many consoles poll; rates are between the last two
/// samples, and the recent samples are kept as a history for the charts.
/// </summary>
public sealed class PipelineHealth(
    KafkaLag kafkaLag,
    PrometheusMetrics engineMetrics,
    IHttpClientFactory httpClients,
    IOptions<PipelineOptions> options,
    TimeProvider time) : IDisposable
{
    public const string HttpClientName = "pipeline-metrics";
    public const string NotConfigured = "not configured";
    public const string Unreachable = "unreachable";
    private const int HistoryLength = 120;
    private static readonly TimeSpan MinSpacing = TimeSpan.FromSeconds(1);

    /// <summary>Beyond this gap the old samples say nothing about now: the history starts again.</summary>
    private static readonly TimeSpan MaxGap = TimeSpan.FromSeconds(60);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly LinkedList<(Sample Sample, PipelinePoint Point)> _history = new();
    private PipelineReport? _last;

    private sealed record Sample(DateTimeOffset At, IReadOnlyList<PartitionLag> Lag, string? LagError, Dictionary<string, ScrapedService> Services);

    private sealed record ScrapedService(string Status, string? Error, Dictionary<string, double> Totals, Dictionary<string, double> Levels);

    public async Task<PipelineReport> ReadAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var now = time.GetUtcNow();
            if (_last is not null && now - _last.At < MinSpacing)
            {
                return _last;
            }

            var sample = await SampleAsync(now, cancellationToken);
            var previous = _history.Last?.Value.Sample;
            if (previous is not null && sample.At - previous.At > MaxGap)
            {
                _history.Clear();
                previous = null;
            }

            var services = sample.Services.ToDictionary(s => s.Key, s => Health(s.Value, previous?.Services.GetValueOrDefault(s.Key), previous?.At, sample.At), StringComparer.Ordinal);
            var rates = services.SelectMany(s => s.Value.PerSecond.Select(r => (Key: $"{s.Key}.{r.Key}", r.Value))).ToDictionary(r => r.Key, r => r.Value, StringComparer.Ordinal);
            var point = new PipelinePoint(sample.At, sample.Lag.Sum(l => l.Lag), rates, services["collector"].Levels.TryGetValue("spoolBytes", out var spool) ? spool : null);
            _history.AddLast((sample, point));
            while (_history.Count > HistoryLength)
            {
                _history.RemoveFirst();
            }

            _last = new PipelineReport(sample.At, previous is null ? null : (sample.At - previous.At).TotalSeconds, sample.Lag, sample.LagError, services,
                [.. _history.Select(h => h.Point)]);
            return _last;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    private async Task<Sample> SampleAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var lagTask = Task.Run(() =>
        {
            try
            {
                return (Lag: kafkaLag.Read(), Error: (string?)null);
            }
            catch (KafkaException e)
            {
                return ([], $"Kafka: {e.Error.Reason}");
            }
        }, cancellationToken);
        var collector = ScrapeAsync(options.Value.CollectorMetricsUrl, cancellationToken);
        var recommender = ScrapeAsync(options.Value.RecommenderMetricsUrl, cancellationToken);
        var engine = Read(PrometheusText.Parse(engineMetrics.Render()), kafkaLag.Roles);
        var (lag, lagError) = await lagTask;
        return new Sample(now, lag, lagError, new Dictionary<string, ScrapedService>(StringComparer.Ordinal)
        {
            ["engine"] = engine,
            ["collector"] = await collector,
            ["recommender"] = await recommender,
        });
    }

    private async Task<ScrapedService> ScrapeAsync(string url, CancellationToken cancellationToken)
    {
        if (url.Length == 0)
        {
            return new ScrapedService(NotConfigured, null, [], []);
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.Value.ScrapeTimeoutMs);
            var http = httpClients.CreateClient(HttpClientName);
            return Read(PrometheusText.Parse(await http.GetStringAsync(new Uri(url), timeout.Token)), kafkaLag.Roles);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or UriFormatException && !cancellationToken.IsCancellationRequested)
        {
            var reason = e is OperationCanceledException ? $"no answer within {options.Value.ScrapeTimeoutMs} ms" : e.Message;
            return new ScrapedService(Unreachable, $"{url}: {reason}", [], []);
        }
    }

    /// <summary>The figures the console shows, from any Ecrm service's metrics (each has the ones it has).</summary>
    private static ScrapedService Read(List<PrometheusSample> samples, IReadOnlyDictionary<string, string> roles)
    {
        var totals = new Dictionary<string, double>(StringComparer.Ordinal);
        var levels = new Dictionary<string, double>(StringComparer.Ordinal);
        void Total(string key, string name, Func<IReadOnlyDictionary<string, string>, bool>? filter = null)
        {
            if (PrometheusText.Sum(samples, name, filter) is { } value)
            {
                totals[key] = value;
            }
        }

        // The scrapes and health probes themselves are not the service's traffic.
        static bool Traffic(IReadOnlyDictionary<string, string> labels) =>
            !(labels.TryGetValue("http_route", out var route) && (route.StartsWith("/metrics", StringComparison.Ordinal) || route.StartsWith("/health", StringComparison.Ordinal)));
        static bool Status(IReadOnlyDictionary<string, string> labels, char first) =>
            labels.TryGetValue("http_response_status_code", out var code) && code.Length == 3 && code[0] == first;

        const string requests = "http_server_request_duration_seconds_count";
        Total("requests", requests, Traffic);
        Total("serverErrors", requests, l => Traffic(l) && Status(l, '5'));
        Total("clientErrors", requests, l => Traffic(l) && Status(l, '4'));
        Total("accepted", "ecrm_collector_events_accepted_total");
        Total("rejected", "ecrm_collector_events_rejected_total");
        Total("folded", "ecrm_engine_events_folded_total");
        Total("transitions", "ecrm_engine_transitions_total");
        foreach (var group in samples.Where(s => s.Name == "ecrm_consumer_batch_failures_total").Select(s => s.Labels.GetValueOrDefault("group", "")).Distinct(StringComparer.Ordinal))
        {
            Total($"batchFailures.{roles.GetValueOrDefault(group, group)}", "ecrm_consumer_batch_failures_total", l => l.GetValueOrDefault("group") == group);
        }

        if (PrometheusText.Sum(samples, "ecrm_collector_spool_bytes") is { } spool)
        {
            levels["spoolBytes"] = spool;
        }

        return new ScrapedService("ok", null, totals, levels);
    }

    private static ServiceHealth Health(ScrapedService now, ScrapedService? before, DateTimeOffset? beforeAt, DateTimeOffset at)
    {
        var seconds = beforeAt is { } b ? (at - b).TotalSeconds : 0;
        var rates = now.Totals.ToDictionary(t => t.Key, t =>
            before is not null && seconds > 0 && before.Totals.TryGetValue(t.Key, out var was) && t.Value >= was ? (t.Value - was) / seconds : (double?)null,
            StringComparer.Ordinal);
        return new ServiceHealth(now.Status, now.Error, now.Totals, rates, now.Levels);
    }
}
