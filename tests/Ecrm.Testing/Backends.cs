using System.Net.Sockets;
using Ecrm.Common.Archive;
using Ecrm.Common.Storage;
using Ecrm.DevKafka;
using StackExchange.Redis;
using Xunit;

namespace Ecrm.Testing;

/// <summary>A Redis the services can be pointed at: one server (<see cref="RedisFixture"/>) or a cluster (<see cref="RedisClusterFixture"/>).</summary>
public interface IRedisBackend
{
    /// <summary>The configuration string for database 0.</summary>
    string Configuration { get; }

    ConnectionMultiplexer Connection { get; }

    /// <summary>A configuration for one stack of services, kept apart from the other stacks as far as the back end allows.</summary>
    string IsolatedConfiguration();

    /// <summary>
    /// A new customer id starting with <paramref name="prefix"/> whose keys live on another server than
    /// <paramref name="customer"/>'s, where the back end has more than one (any new id on a single Redis):
    /// so a merge or an erasure that touches both must cross shards.
    /// </summary>
    string NewCustomerApartFrom(string prefix, string customer);
}

/// <summary>A private redis-server on a free loopback port, for the whole test assembly.</summary>
public sealed class RedisFixture : IRedisBackend, IAsyncLifetime
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

    public string NewCustomerApartFrom(string prefix, string customer) => $"{prefix}-{Guid.NewGuid():N}";

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

    /// <summary>
    /// A host crash: SIGKILL, and the append-only file loses its last <paramref name="unsyncedBytes"/> (a killed
    /// process alone loses nothing, its writes are in the kernel's cache; a host that goes down loses what
    /// was not fsynced yet, up to about a second with appendfsync everysec). Then the same server again, as a
    /// supervisor restarts it; it loads the file up to the cut (aof-load-truncated, the default).
    /// </summary>
    public async Task CrashAndStartAsync(int unsyncedBytes)
    {
        _server!.Kill();
        await _server.WaitForExitAsync(TimeSpan.FromSeconds(30));
        _server.Dispose();
        var tail = Directory.EnumerateFiles(_directory, "*.incr.aof", SearchOption.AllDirectories).OrderBy(File.GetLastWriteTimeUtc).LastOrDefault()
            ?? throw new InvalidOperationException($"no append-only file in {_directory}: the fixture was not started WithAppendOnlyFile");
        using (var file = new FileStream(tail, FileMode.Open, FileAccess.Write))
        {
            file.SetLength(Math.Max(0, file.Length - unsyncedBytes));
        }

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

/// <summary>
/// A private 3-primary Redis Cluster on loopback (no replicas), for the whole test assembly: three
/// redis-server processes with <c>--cluster-enabled yes</c>, each with its own directory and
/// cluster-config file, joined by <c>redis-cli --cluster create</c>. Cluster mode has database 0
/// only, so stacks on it share one keyspace: tests keep apart by their own customers, and the
/// global documents (catalogs, segments, trigger rules) are the last stack's.
/// </summary>
public sealed class RedisClusterFixture : IRedisBackend, IAsyncLifetime
{
    private const int Primaries = 3;
    private readonly string _directory = Directory.CreateTempSubdirectory("ecrm-redis-cluster-").FullName;
    private readonly List<ServerProcess> _servers = [];

    public IReadOnlyList<int> Ports { get; } = [.. Enumerable.Range(0, Primaries).Select(_ => ServerProcess.FreePort())];

    public ConnectionMultiplexer Connection { get; private set; } = null!;

    /// <summary>Every node, as an operator would list them; the client discovers the slot map from any of them.</summary>
    public string Configuration => string.Join(',', Ports.Select(port => $"127.0.0.1:{port}"));

    /// <summary>The cluster's one database: a <c>defaultDatabase</c> other than 0 is refused in cluster mode.</summary>
    public string IsolatedConfiguration() => Configuration;

    public string NewCustomerApartFrom(string prefix, string customer)
    {
        var slots = Connection.GetServer(Connection.GetEndPoints()[0]).ClusterConfiguration
            ?? throw new InvalidOperationException("the client sees no cluster configuration");
        string PrimaryOf(string id) => slots.GetBySlot(Connection.HashSlot(RedisKeys.CustomerTopics(id)))!.EndPoint!.ToString()!;
        var primary = PrimaryOf(customer);
        while (true)
        {
            var id = $"{prefix}-{Guid.NewGuid():N}";
            if (PrimaryOf(id) != primary)
            {
                return id;
            }
        }
    }

    public async Task InitializeAsync()
    {
        foreach (var port in Ports)
        {
            var directory = Directory.CreateDirectory(Path.Combine(_directory, port.ToString())).FullName;
            // The cluster bus gets a free port of its own: the default (port + 10000) may be taken or beyond 65535.
            var server = ServerProcess.Start("redis-server",
            [
                "--port", port.ToString(), "--bind", "127.0.0.1", "--dir", directory, "--save", "", "--appendonly", "no",
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", ServerProcess.FreePort().ToString(),
            ]);
            _servers.Add(server);
            await server.WaitUntilAsync($"redis-server (cluster node {port})", async () =>
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return true;
            }, TimeSpan.FromSeconds(20));
        }

        using (var create = ServerProcess.Start("redis-cli",
            ["--cluster", "create", .. Ports.Select(port => $"127.0.0.1:{port}"), "--cluster-replicas", "0", "--cluster-yes"]))
        {
            var exitCode = await create.WaitForExitAsync(TimeSpan.FromSeconds(60));
            if (exitCode != 0)
            {
                throw new InvalidOperationException($"redis-cli --cluster create failed ({exitCode}):\n{create.Output}");
            }
        }

        // The slots are assigned at once, but each node says cluster_state:ok only once the gossip has reached it.
        foreach (var port in Ports)
        {
            await Poll.UntilAsync($"cluster node {port} reports cluster_state:ok", async () =>
            {
                using var info = ServerProcess.Start("redis-cli", ["-p", port.ToString(), "cluster", "info"]);
                return await info.WaitForExitAsync(TimeSpan.FromSeconds(10)) == 0 && info.Output.Contains("cluster_state:ok", StringComparison.Ordinal);
            }, TimeSpan.FromSeconds(30), () => string.Join('\n', _servers.Select(s => s.Output)));
        }

        Connection = RedisConnection.Connect(Configuration);
        // The client must see a cluster, or the tests on this fixture would prove nothing about one.
        var servers = Connection.GetEndPoints().Select(endpoint => Connection.GetServer(endpoint)).ToList();
        if (servers.Count(server => server.ServerType == ServerType.Cluster && !server.IsReplica) != Primaries)
        {
            throw new InvalidOperationException($"the client sees {string.Join(", ", servers.Select(s => $"{s.EndPoint} {s.ServerType}"))}, not {Primaries} cluster primaries");
        }
    }

    public Task DisposeAsync()
    {
        Connection?.Dispose();
        foreach (var server in _servers)
        {
            server.Dispose();
        }

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
    public ArchiveClient Client(string database) => new(new ClickHouseOptions { Url = Url, Database = database });

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
