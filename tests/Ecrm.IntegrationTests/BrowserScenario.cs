using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Ecrm.Testing;
using Xunit.Sdk;

namespace Ecrm.IntegrationTests;

/// <summary>
/// One scenario of sdk-js/test/e2e/real-stack.mjs: the built tracker in headless Chromium (playwright-core)
/// against the stack's real collector and recommender. The browser stays open until <see cref="FinishAsync"/>,
/// so that beacons of closed pages are not cut off while the test looks for them.
/// </summary>
internal sealed class BrowserScenario : IDisposable
{
    private readonly ServerProcess _process;
    private readonly string _done;

    private BrowserScenario(ServerProcess process, string done) => (_process, _done) = (process, done);

    /// <summary>What the scenario reported (ids, rendered items, every request it saw go to the collector).</summary>
    public JsonElement Result { get; private set; }

    public string Output => _process.Output;

    public static Task<BrowserScenario> RunAsync(string scenario, EcrmServices services)
    {
        if (!File.Exists(RepoPaths.Combine("sdk-js", "dist", "ecrm.min.js")))
        {
            throw new XunitException("the tracker is not built: run npm ci && npm run build in sdk-js (./test.sh does)");
        }

        return RunAsync(RepoPaths.Combine("sdk-js", "test", "e2e", "real-stack.mjs"), scenario, services);
    }

    /// <summary>Runs another browser script of sdk-js/test with the same settings (and any <paramref name="extra"/> ones).</summary>
    public static async Task<BrowserScenario> RunAsync(string script, string scenario, EcrmServices services, IReadOnlyDictionary<string, string>? extra = null)
    {
        var done = Path.Combine(Path.GetTempPath(), $"ecrm-browser-{Guid.NewGuid():N}.done");
        var values = new Dictionary<string, string>
        {
            ["collector"] = services.CollectorUrl.ToString().TrimEnd('/'),
            ["recommender"] = services.RecommenderUrl.ToString().TrimEnd('/'),
            ["writeKey"] = EcrmServices.WriteKey,
            ["done"] = done,
        };
        foreach (var (name, value) in extra ?? new Dictionary<string, string>())
        {
            values[name] = value;
        }

        var settings = JsonSerializer.Serialize(values);
        var run = new BrowserScenario(ServerProcess.Start("node", [script, scenario, settings]), done);
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (run.ReadResult() is not { } result)
            {
                if (run._process.HasExited)
                {
                    await run._process.WaitForExitAsync(TimeSpan.FromSeconds(10));
                    if (run.ReadResult() is not null)
                    {
                        break;
                    }

                    throw new XunitException($"the browser scenario '{scenario}' failed:\n{run.Output}");
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new XunitException($"the browser scenario '{scenario}' did not finish within 90 s:\n{run.Output}");
                }

                await Task.Delay(100);
            }

            run.Result = run.ReadResult()!.Value;
            return run;
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    /// <summary>Lets the browser close and waits for the script to end.</summary>
    public async Task FinishAsync()
    {
        await File.WriteAllTextAsync(_done, "");
        await _process.WaitForExitAsync(TimeSpan.FromSeconds(30));
    }

    public void Dispose()
    {
        _process.Dispose();
        File.Delete(_done);
    }

    private JsonElement? ReadResult()
    {
        var line = _process.Output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal));
        return line is null ? null : JsonDocument.Parse(line["RESULT ".Length..]).RootElement.Clone();
    }
}

/// <summary>Reads an events topic to its end on every partition: what the collector acknowledged is all there.</summary>
internal static class EventsTopic
{
    public static List<JsonElement> ReadAll(string bootstrapServers, string topic) =>
        ReadValues(bootstrapServers, topic, TimeSpan.FromSeconds(20)).Select(value => JsonDocument.Parse(value).RootElement.Clone()).ToList();

    /// <summary>Every message value of the topic, from the beginning of each partition to its end.</summary>
    public static List<byte[]> ReadValues(string bootstrapServers, string topic, TimeSpan timeout)
    {
        var cluster = new KafkaOptions { BootstrapServers = bootstrapServers };
        using var admin = KafkaClientFactory.CreateAdminClient(cluster);
        var partitions = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics.Single().Partitions
            .Select(p => new TopicPartitionOffset(topic, p.PartitionId, Offset.Beginning)).ToList();
        // The mock brokers hold a fetch for FetchWaitMaxMs when there is nothing new.
        using var consumer = KafkaClientFactory.CreateReader<string, byte[]>(cluster, tune: config => config.FetchWaitMaxMs = 20);
        consumer.Assign(partitions);
        var values = new List<byte[]>();
        var ended = new HashSet<int>();
        var deadline = DateTime.UtcNow + timeout;
        while (ended.Count < partitions.Count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{topic}: only partitions {string.Join(',', ended)} of {partitions.Count} reached their end within {timeout.TotalSeconds:F0} s ({values.Count} messages read)");
            }

            if (consumer.Consume(TimeSpan.FromMilliseconds(200)) is not { } result)
            {
                continue;
            }

            if (result.IsPartitionEOF)
            {
                ended.Add(result.Partition.Value);
                continue;
            }

            values.Add(result.Message.Value);
        }

        consumer.Close();
        return values;
    }

    /// <summary>Reads the topic again and again until an event matches, or fails with what was there.</summary>
    public static async Task<JsonElement> WaitForAsync(string bootstrapServers, string topic, string what, Func<JsonElement, bool> match)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var events = new List<JsonElement>();
        while (DateTime.UtcNow < deadline)
        {
            events = ReadAll(bootstrapServers, topic);
            if (events.FirstOrDefault(match) is { ValueKind: JsonValueKind.Object } found)
            {
                return found;
            }

            await Task.Delay(200);
        }

        throw new XunitException($"no {what} in {topic}; it holds:\n{string.Join('\n', events.Select(e => e.GetRawText()))}");
    }

    public static string? Str(this JsonElement element, params string[] path)
    {
        foreach (var name in path)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
            {
                return null;
            }
        }

        return element.ValueKind == JsonValueKind.String ? element.GetString() : element.GetRawText();
    }
}
