using System.Net.Sockets;
using Ecrm.Common.Storage;
using Ecrm.DevKafka;
using StackExchange.Redis;
using Xunit;

namespace Ecrm.Testing;

/// <summary>A private redis-server on a free loopback port, for the whole test assembly.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("ecrm-redis-").FullName;
    private readonly bool _appendOnly;
    private ServerProcess? _server;
    private int _nextDatabase;

    public RedisFixture()
        : this(appendOnly: false)
    {
    }

    private RedisFixture(bool appendOnly) => _appendOnly = appendOnly;

    /// <summary>A server persisting as the shipped configuration does (AOF, appendfsync everysec), so it survives <see cref="RestartAsync"/>.</summary>
    public static RedisFixture WithAppendOnlyFile() => new(appendOnly: true);

    public int Port { get; } = ServerProcess.FreePort();

    public ConnectionMultiplexer Connection { get; private set; } = null!;

    /// <summary>The configuration string for database 0; see <see cref="IsolatedConfiguration"/>.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    /// <summary>A configuration on a logical database no other caller got, so global keys (catalogs) do not collide.</summary>
    public string IsolatedConfiguration() => $"{Configuration},defaultDatabase={Interlocked.Increment(ref _nextDatabase) % 16}";

    public async Task InitializeAsync()
    {
        await StartServerAsync();
        Connection = RedisConnection.Connect(Configuration);
    }

    /// <summary>
    /// An operator's restart: SHUTDOWN (which writes and fsyncs the append-only file), then the same
    /// server on the same port and directory, loading what it persisted.
    /// </summary>
    public async Task RestartAsync()
    {
        using (var shutdown = ServerProcess.Start("redis-cli", ["-p", Port.ToString(), "shutdown"]))
        {
            await shutdown.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }

        await _server!.WaitForExitAsync(TimeSpan.FromSeconds(30));
        _server.Dispose();
        await StartServerAsync();
    }

    private async Task StartServerAsync()
    {
        _server = ServerProcess.Start("redis-server", [
            "--port", Port.ToString(), "--bind", "127.0.0.1", "--dir", _directory, "--save", "",
            .. (_appendOnly ? new[] { "--appendonly", "yes", "--appendfsync", "everysec" } : ["--appendonly", "no"])]);
        await _server.WaitUntilAsync("redis-server", async () =>
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", Port);
            return true;
        }, TimeSpan.FromSeconds(20));
    }

    public Task DisposeAsync()
    {
        Connection?.Dispose();
        _server?.Dispose();
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }
}

/// <summary>A private clickhouse-server with the project's own dev config, for the whole test assembly.</summary>
public sealed class ClickHouseFixture : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("ecrm-clickhouse-").FullName;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private ServerProcess? _server;

    public int HttpPort { get; } = ServerProcess.FreePort();

    public string Url => $"http://127.0.0.1:{HttpPort}";

    /// <summary>A client on a database of its own (created by whoever ensures the schema).</summary>
    public ClickHouseClient Client(string database) => new(new HttpClient { Timeout = TimeSpan.FromSeconds(30) }, new ClickHouseOptions { Url = Url, Database = database });

    public async Task<string> QueryAsync(string sql)
    {
        using var response = await _http.PostAsync(Url, new StringContent(sql));
        var body = await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode ? body : throw new InvalidOperationException($"ClickHouse: {body}");
    }

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Path.Combine(_directory, "log"));
        Directory.CreateDirectory(Path.Combine(_directory, "tmp"));
        var config = (await File.ReadAllTextAsync(RepoPaths.Combine("dev", "clickhouse", "config.xml.template")))
            .Replace("@DATA@", _directory, StringComparison.Ordinal)
            .Replace("@HTTP_PORT@", HttpPort.ToString(), StringComparison.Ordinal)
            .Replace("@TCP_PORT@", ServerProcess.FreePort().ToString(), StringComparison.Ordinal);
        await File.WriteAllTextAsync(Path.Combine(_directory, "config.xml"), config);
        File.Copy(RepoPaths.Combine("dev", "clickhouse", "users.xml"), Path.Combine(_directory, "users.xml"));
        await StartServerAsync();
    }

    /// <summary>Kills the server, as in an outage; its data stays for <see cref="StartServerAsync"/>.</summary>
    public void StopServer()
    {
        _server?.Dispose();
        _server = null;
    }

    public async Task StartServerAsync()
    {
        _server = ServerProcess.Start("clickhouse-server", [$"--config-file={Path.Combine(_directory, "config.xml")}"]);
        await _server.WaitUntilAsync("clickhouse-server", async () => (await _http.GetAsync($"{Url}/ping")).IsSuccessStatusCode, TimeSpan.FromSeconds(60));
    }

    public Task DisposeAsync()
    {
        _http.Dispose();
        _server?.Dispose();
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }
}

/// <summary>librdkafka's mock cluster (3 brokers, the real Kafka protocol on loopback), in this process.</summary>
public sealed class KafkaFixture : IDisposable
{
    public MockKafkaCluster Cluster { get; } = new(brokerCount: 3);

    public string BootstrapServers => Cluster.BootstrapServers;

    /// <summary>A topic no other test uses.</summary>
    public string CreateTopic(string prefix, int partitions = 3)
    {
        var topic = $"{prefix}-{Guid.NewGuid():N}";
        Cluster.CreateTopic(topic, partitions, replicationFactor: 3);
        return topic;
    }

    public void Dispose() => Cluster.Dispose();

    /// <summary>Any cluster by its bootstrap list, for helpers that only read from it.</summary>
    public sealed record External(string BootstrapServers);
}
