using System.Diagnostics.Metrics;
using Ecrm.Common.Hosting;
using Xunit;

namespace Ecrm.Collector.Tests;

/// <summary>The /metrics renderer: what a series shows after its source stops reporting it.</summary>
public sealed class PrometheusMetricsTests
{
    [Fact]
    public void AGaugeSeriesNoLongerObservedIsDroppedWhileACounterKeepsItsTotal()
    {
        using var metrics = new PrometheusMetrics();
        using var meter = new Meter("Ecrm.Tests." + Guid.NewGuid().ToString("N"));
        var owned = new Dictionary<int, long> { [0] = 5, [1] = 7, [2] = 9 };
        meter.CreateObservableGauge("test.lag", () => owned.Select(p => new Measurement<long>(p.Value, new KeyValuePair<string, object?>("partition", p.Key))).ToList());
        var counter = meter.CreateCounter<long>("test.folded");
        counter.Add(3, new KeyValuePair<string, object?>("partition", 2));

        var before = metrics.Render();
        Assert.Contains("test_lag{partition=\"2\"} 9", before, StringComparison.Ordinal);

        // Partition 2 is handed to another member: its lag is theirs to report from now on.
        owned.Remove(2);
        var after = metrics.Render();
        Assert.DoesNotContain("test_lag{partition=\"2\"}", after, StringComparison.Ordinal);
        Assert.Contains("test_lag{partition=\"1\"} 7", after, StringComparison.Ordinal);
        Assert.Contains("test_folded_total{partition=\"2\"} 3", after, StringComparison.Ordinal);
    }
}
