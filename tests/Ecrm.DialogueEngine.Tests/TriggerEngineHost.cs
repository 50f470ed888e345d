using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Ecrm.Testing;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Ecrm.DialogueEngine.Tests;

/// <summary>
/// The dialogue engine hosted in the test with only the trigger engine running (no folding, no
/// archive consumer), on the real Kafka mock cluster, Redis and ClickHouse. Transitions are produced
/// straight onto a transitions topic of its own. Stop and start it again to restart the engine.
/// </summary>
internal sealed class TriggerEngineHost : IAsyncDisposable
{
    public const string AdminKey = "adm-triggers";
    private readonly KafkaFixture _kafka;
    private readonly Dictionary<string, string> _settings;
    private readonly IProducer<string, byte[]> _producer;
    private WebApplicationFactory<Program>? _factory;

    public TriggerEngineHost(
        KafkaFixture kafka, string redisConfiguration, ClickHouseFixture clickHouse, string database, string? transitionsTopic = null, IReadOnlyDictionary<string, string>? settings = null)
    {
        _kafka = kafka;
        TransitionsTopic = transitionsTopic ?? kafka.CreateTopic("transitions");
        RedisConfiguration = redisConfiguration;
        Database = database;
        _settings = new Dictionary<string, string>
        {
            ["Kafka:BootstrapServers"] = kafka.BootstrapServers,
            ["Kafka:EventsTopic"] = kafka.CreateTopic("events"),
            ["Kafka:TransitionsTopic"] = TransitionsTopic,
            ["Redis:Configuration"] = redisConfiguration,
            ["ClickHouse:Url"] = clickHouse.Url,
            ["ClickHouse:Database"] = database,
            ["Auth:AdminKeys:0"] = AdminKey,
            ["Engine:RunFolding"] = "false",
            ["Engine:RunArchive"] = "false",
            ["Engine:CatalogSeedFile"] = RepoPaths.Combine("dev", "demo", "topic-catalog.json"),
            ["Triggers:ConsumerGroup"] = $"triggers-{Guid.NewGuid():N}",
            ["Triggers:PollMs"] = "50",
            ["Triggers:ArchiveWindowMs"] = "200",
            ["Triggers:RetryBaseMs"] = "200",
            ["Triggers:MaxAttempts"] = "3",
            // The tests' receivers listen on loopback, which deliveries may reach only when allow-listed.
            ["Triggers:AllowedHosts:0"] = "127.0.0.1",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            _settings[key] = value;
        }

        _producer = KafkaClientFactory.CreateDurableProducer(new KafkaOptions { BootstrapServers = kafka.BootstrapServers });
    }

    public string TransitionsTopic { get; }

    public string EventsTopic => _settings["Kafka:EventsTopic"];

    public string RedisConfiguration { get; }

    public string Database { get; }

    public HttpClient Api { get; private set; } = null!;

    public IServiceProvider Services => _factory!.Services;

    public void Start()
    {
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(builder =>
        {
            foreach (var (key, value) in _settings)
            {
                builder.UseSetting(key, value);
            }
        });
        Api = _factory.CreateClient();
        Api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
    }

    /// <summary>A client without a key.</summary>
    public HttpClient CreateClient() => _factory!.CreateClient();

    /// <summary>Stops the engine as a host shutdown does: consumers close, in-flight work ends.</summary>
    public async Task StopAsync()
    {
        Api?.Dispose();
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
            _factory = null;
        }
    }

    public async Task CreateRuleAsync(string json)
    {
        using var response = await Api.PostAsync("api/triggers", new StringContent(json, Encoding.UTF8, "application/json"));
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST api/triggers: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    public async Task<DialogueChange> PublishAsync(string customer, string topic, int from, int to, int episode = 1, DateTimeOffset? at = null, string? messageId = null, string channel = "web")
    {
        var change = new DialogueChange
        {
            Customer = customer,
            Topic = topic,
            FromStage = from,
            ToStage = to,
            Episode = episode,
            Channel = channel,
            MessageId = messageId ?? Guid.NewGuid().ToString(),
            Timestamp = at ?? DateTimeOffset.UtcNow,
            CatalogVersion = 1,
        };
        await PublishAsync(change);
        return change;
    }

    public Task PublishAsync(DialogueChange change) =>
        _producer.ProduceAsync(TransitionsTopic, new Message<string, byte[]>
        {
            Key = change.Customer,
            Value = JsonSerializer.SerializeToUtf8Bytes(change, EcrmJsonContext.Default.DialogueChange),
        });

    /// <summary>Polls a condition until it holds; fails at the deadline.</summary>
    public static Task EventuallyAsync(string what, Func<Task<bool>> condition, TimeSpan? timeout = null) =>
        Poll.UntilAsync(what, condition, timeout);

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _producer.Dispose();
        _ = _kafka;
    }
}
