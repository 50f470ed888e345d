using System.Net.Http.Headers;
using System.Text;

namespace Ecrm.Testing;

/// <summary>
/// The three services as real processes on free loopback ports, wired to the test run's back ends.
/// Each stack gets its own Kafka topic, consumer group, ClickHouse database and (on a single Redis) Redis database.
/// </summary>
public sealed class EcrmServices : IAsyncDisposable
{
    public const string WriteKey = "wk-integration";
    public const string ApiKey = "ak-integration";
    public const string AdminKey = "adm-integration";

    private readonly Dictionary<string, string> _environment;
    private readonly Dictionary<string, ServerProcess> _services = [];
    private readonly Dictionary<string, Uri> _urls = [];
    private readonly Dictionary<string, Uri> _managementUrls = [];

    public EcrmServices(KafkaFixture kafka, IRedisBackend redis, ClickHouseFixture clickHouse)
    {
        var id = Guid.NewGuid().ToString("N")[..12];
        Topic = kafka.CreateTopic("events");
        kafka.Cluster.CreateTopic(Topic + ".dlq", 1, 3);
        kafka.Cluster.CreateTopic(Topic + ".transitions", 3, 3);
        RedisConfiguration = redis.IsolatedConfiguration();
        ClickHouseDatabase = $"it_{id}";
        ConsumerGroup = $"engine-{id}";
        _environment = new Dictionary<string, string>
        {
            ["Kafka__BootstrapServers"] = kafka.BootstrapServers,
            ["Kafka__EventsTopic"] = Topic,
            ["Kafka__ConsumerGroup"] = ConsumerGroup,
            ["Kafka__TransitionsTopic"] = Topic + ".transitions",
            ["Kafka__ArchiveConsumerGroup"] = $"archive-{id}",
            ["Triggers__ConsumerGroup"] = $"triggers-{id}",
            ["Kafka__DeadLetterTopic"] = Topic + ".dlq",
            ["Collector__SpoolDirectory"] = Directory.CreateTempSubdirectory("ecrm-spool-").FullName,
            ["Redis__Configuration"] = RedisConfiguration,
            ["ClickHouse__Url"] = clickHouse.Url,
            ["ClickHouse__Database"] = ClickHouseDatabase,
            ["Auth__WriteKeys__0"] = WriteKey,
            ["Auth__ApiKeys__0"] = ApiKey,
            ["Auth__AdminKeys__0"] = AdminKey,
            ["Email__SigningKeys__0"] = "integration-email-signing-key-0123456789",
            // The tests' webhook receivers listen on loopback, which deliveries may reach only when allow-listed.
            ["Triggers__AllowedHosts__0"] = "127.0.0.1",
            ["Engine__BatchWindowMs"] = "20",
            ["Recommender__CatalogPollMs"] = "200",
            ["Recommender__ModelDirectory"] = Directory.CreateTempSubdirectory("ecrm-models-").FullName,
            ["Engine__CatalogPollMs"] = "200",
            ["Logging__LogLevel__Default"] = "Warning",
        };
    }

    public string Topic { get; }

    public string RedisConfiguration { get; }

    public string ClickHouseDatabase { get; }

    /// <summary>The folding consumer group every engine instance of this stack joins.</summary>
    public string ConsumerGroup { get; }

    public Uri CollectorUrl { get; private set; } = null!;

    public Uri EngineUrl { get; private set; } = null!;

    public Uri RecommenderUrl { get; private set; } = null!;

    private static readonly Dictionary<string, (string Folder, string Assembly)> Services = new()
    {
        ["collector"] = ("collector", "Ecrm.Collector"),
        ["dialogue-engine"] = ("dialogue-engine", "Ecrm.DialogueEngine"),
        ["recommender"] = ("recommender", "Ecrm.Recommender"),
    };

    private static (string Folder, string Assembly) ProgramOf(string service) =>
        Services[service.StartsWith("dialogue-engine", StringComparison.Ordinal) ? "dialogue-engine" : service];

    /// <summary>Overrides a setting (environment variable form, e.g. Collector__AckTimeoutSeconds) before start.</summary>
    public void Set(string name, string value) => _environment[name] = value;

    public async Task StartAsync()
    {
        // Ports chosen up front: the engine is told where the collector's and recommender's metrics are.
        var recommenderUrl = _urls["recommender"] = new Uri($"http://127.0.0.1:{ServerProcess.FreePort()}/");
        var collectorUrl = _urls["collector"] = new Uri($"http://127.0.0.1:{ServerProcess.FreePort()}/");
        _environment.TryAdd("Email__PublicBaseUrl", collectorUrl.ToString());
        CollectorUrl = await StartServiceAsync("collector");
        _environment.TryAdd("Pipeline__CollectorMetricsUrl", new Uri(ManagementUrl("collector"), "metrics").ToString());
        _environment.TryAdd("Pipeline__RecommenderMetricsUrl", new Uri(ManagementUrl("recommender"), "metrics").ToString());
        EngineUrl = await StartServiceAsync("dialogue-engine");
        RecommenderUrl = await StartServiceAsync("recommender");
    }

    /// <summary>
    /// One more dialogue engine in the same consumer groups, on a port of its own: the instances split
    /// the partitions. Returns its service name (for <see cref="Kill"/>, <see cref="Logs"/>, <see cref="Url"/>).
    /// </summary>
    public async Task<string> StartExtraEngineAsync()
    {
        var name = $"dialogue-engine-{_services.Keys.Count(k => k.StartsWith("dialogue-engine", StringComparison.Ordinal)) + 1}";
        await StartServiceAsync(name);
        return name;
    }

    /// <summary>Where a started service listens.</summary>
    public Uri Url(string service) => _urls[service];

    /// <summary>A service's management port (<c>Management:Port</c>), where <c>/metrics</c> answers without a key; chosen before the service starts.</summary>
    public Uri ManagementUrl(string service)
    {
        if (!_managementUrls.TryGetValue(service, out var url))
        {
            url = _managementUrls[service] = new Uri($"http://127.0.0.1:{ServerProcess.FreePort()}/");
        }

        return url;
    }

    /// <summary>Publishes the demo topic catalog (engine) and content catalog (recommender), as run.sh does.</summary>
    public async Task PublishDemoCatalogsAsync()
    {
        using var engine = Client(EngineUrl, AdminKey);
        using var recommender = Client(RecommenderUrl, AdminKey);
        await PutAsync(engine, "api/catalog", RepoPaths.Combine("dev", "demo", "topic-catalog.json"));
        await PutAsync(recommender, "v1/items", RepoPaths.Combine("dev", "demo", "content-catalog.json"));
    }

    private static async Task PutAsync(HttpClient client, string path, string file)
    {
        using var content = new StringContent(await File.ReadAllTextAsync(file), Encoding.UTF8, "application/json");
        using var response = await client.PutAsync(path, content);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>An HTTP client for a service: Basic write key for the collector, Bearer keys for the rest.</summary>
    public static HttpClient Client(Uri service, string? bearerKey = null)
    {
        var client = new HttpClient { BaseAddress = service, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = bearerKey is null
            ? new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(WriteKey + ":")))
            : new AuthenticationHeaderValue("Bearer", bearerKey);
        return client;
    }

    /// <summary>SIGKILL one service, as in a crash.</summary>
    public void Kill(string service) => _services[service].Kill();

    /// <summary>Starts a killed service again with the same settings (and the same spool folder).</summary>
    public async Task RestartAsync(string service)
    {
        _services[service].Dispose();
        await StartServiceAsync(service);
    }

    /// <summary>Runs a command of the repository (a built dll) with the stack's settings (and any <paramref name="overrides"/>), to its end.</summary>
    public async Task<(int ExitCode, string Output)> RunCommandAsync(
        string folder, string assembly, IEnumerable<string> arguments, TimeSpan timeout, IReadOnlyDictionary<string, string>? overrides = null)
    {
        var dll = RepoPaths.Combine(folder, "bin", RepoPaths.Configuration, "net10.0", assembly + ".dll");
        var environment = new Dictionary<string, string>(_environment);
        foreach (var (name, value) in overrides ?? new Dictionary<string, string>())
        {
            environment[name] = value;
        }

        using var process = ServerProcess.Start("dotnet", [dll, .. arguments], environment);
        var exitCode = await process.WaitForExitAsync(timeout);
        return (exitCode, process.Output);
    }

    public string Logs(string service) => _services.TryGetValue(service, out var process) ? process.Output : "";

    public ValueTask DisposeAsync()
    {
        foreach (var service in _services.Values)
        {
            service.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Starts a service, on the port it had before when it is a restart.</summary>
    private async Task<Uri> StartServiceAsync(string name)
    {
        var (folder, assembly) = ProgramOf(name);
        var dll = RepoPaths.Combine(folder, "bin", RepoPaths.Configuration, "net10.0", assembly + ".dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"{dll} is not built; build the solution first", dll);
        }

        if (!_urls.TryGetValue(name, out var url))
        {
            url = _urls[name] = new Uri($"http://127.0.0.1:{ServerProcess.FreePort()}/");
        }

        var management = ManagementUrl(name);
        var environment = new Dictionary<string, string>(_environment)
        {
            ["Urls"] = url.ToString().TrimEnd('/') + ";" + management.ToString().TrimEnd('/'),
            ["Management__Port"] = management.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var process = ServerProcess.Start("dotnet", [dll, "--contentRoot", RepoPaths.Combine(folder)], environment);
        _services[name] = process;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await process.WaitUntilAsync(name, async () => (await http.GetAsync(new Uri(url, "health/ready"))).IsSuccessStatusCode, TimeSpan.FromSeconds(60));
        return url;
    }
}
