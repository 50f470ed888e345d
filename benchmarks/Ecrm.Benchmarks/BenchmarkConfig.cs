using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;

namespace Ecrm.Benchmarks;

/// <summary>
/// One job for every class, so <c>--filter '*'</c> runs the whole suite in a few minutes on two cores:
/// 3 warm-up and 8 measured iterations of about 250 ms each, in one launched process per benchmark.
/// <c>--quick</c> is a smoke run (one short iteration each): it shows that everything runs, not how fast.
/// Reports go out as GitHub markdown (for BENCHMARKS.md), CSV and JSON.
/// </summary>
internal static class BenchmarkConfig
{
    public static IConfig Create(bool quick)
    {
        var job = quick
            ? Job.Dry.WithId("Quick")
            : Job.Default.WithId("Ecrm").WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(8)
                .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250));
        return DefaultConfig.Instance
            .AddJob(job.AsDefault())
            .AddExporter(JsonExporter.Full); // DefaultConfig already writes GitHub markdown, CSV and HTML
    }
}
