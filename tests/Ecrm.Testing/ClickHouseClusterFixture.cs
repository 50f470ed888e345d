using Ecrm.Common.Archive;
using Xunit;

namespace Ecrm.Testing;

/// <summary>
/// Two clickhouse-server processes that form the cluster <see cref="Name"/> (dev/clickhouse's config,
/// plus remote_servers.xml in config.d), for the whole test assembly. Each server is also an
/// ordinary single server, so the same servers answer both sides of a single-versus-cluster comparison.
/// </summary>
public sealed class ClickHouseClusterFixture : IAsyncLifetime
{
    public const string Name = "ecrm";
    private readonly List<Server> _servers = [new(), new()];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public IReadOnlyList<string> Urls => [.. _servers.Select(s => s.Url)];

    /// <summary>A client of the cluster on a database of its own (created by whoever ensures the schema), querying through the first server.</summary>
    public ArchiveClient Client(string database) => new(new ClickHouseOptions { Url = _servers[0].Url, Database = database, Cluster = Name, ServerUrls = Urls });

    /// <summary>A plain single-server client of one of the servers, to look at what that shard holds or to use it on its own.</summary>
    public ArchiveClient SingleServerClient(int server, string database) =>
        new(new ClickHouseOptions { Url = _servers[server].Url, Database = database });

    public async Task InitializeAsync()
    {
        var template = await File.ReadAllTextAsync(RepoPaths.Combine("dev", "clickhouse", "config.xml.template"));
        var remoteServers = (await File.ReadAllTextAsync(RepoPaths.Combine("dev", "clickhouse", "remote_servers.xml.template")))
            .Replace("@SHARD1_PORT@", _servers[0].TcpPort.ToString(), StringComparison.Ordinal)
            .Replace("@SHARD2_PORT@", _servers[1].TcpPort.ToString(), StringComparison.Ordinal);
        foreach (var server in _servers)
        {
            Directory.CreateDirectory(Path.Combine(server.Directory, "log"));
            Directory.CreateDirectory(Path.Combine(server.Directory, "tmp"));
            Directory.CreateDirectory(Path.Combine(server.Directory, "config.d"));
            await File.WriteAllTextAsync(Path.Combine(server.Directory, "config.xml"), template
                .Replace("@DATA@", server.Directory, StringComparison.Ordinal)
                .Replace("@HTTP_PORT@", server.HttpPort.ToString(), StringComparison.Ordinal)
                .Replace("@TCP_PORT@", server.TcpPort.ToString(), StringComparison.Ordinal));
            await File.WriteAllTextAsync(Path.Combine(server.Directory, "config.d", "remote_servers.xml"), remoteServers);
            File.Copy(RepoPaths.Combine("dev", "clickhouse", "users.xml"), Path.Combine(server.Directory, "users.xml"));
        }

        await Task.WhenAll(Enumerable.Range(0, _servers.Count).Select(StartServerAsync));
    }

    /// <summary>Kills one server, as in an outage; its data stays for <see cref="StartServerAsync"/>.</summary>
    public void StopServer(int server)
    {
        _servers[server].Process?.Dispose();
        _servers[server].Process = null;
    }

    public async Task StartServerAsync(int server)
    {
        var s = _servers[server];
        s.Process = ServerProcess.Start("clickhouse-server", [$"--config-file={Path.Combine(s.Directory, "config.xml")}"]);
        await s.Process.WaitUntilAsync("clickhouse-server", async () => (await _http.GetAsync($"{s.Url}/ping")).IsSuccessStatusCode, TimeSpan.FromSeconds(60));
    }

    public Task DisposeAsync()
    {
        _http.Dispose();
        foreach (var server in _servers)
        {
            server.Process?.Dispose();
            Directory.Delete(server.Directory, recursive: true);
        }

        return Task.CompletedTask;
    }

    private sealed class Server
    {
        public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("ecrm-clickhouse-cluster-").FullName;

        public int HttpPort { get; } = ServerProcess.FreePort();

        public int TcpPort { get; } = ServerProcess.FreePort();

        public string Url => $"http://127.0.0.1:{HttpPort}";

        public ServerProcess? Process { get; set; }
    }
}
