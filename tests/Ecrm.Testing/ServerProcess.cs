using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Ecrm.Testing;

/// <summary>
/// A real server process started by the test run. A missing binary or a server that does not come up
/// fails the test with the server's own output: nothing is skipped.
/// </summary>
public sealed class ServerProcess : IDisposable
{
    /// <summary>
    /// Every server not yet disposed. When the test host exits they are killed: a fixture that is never
    /// disposed (a run cancelled, a set-up that threw) must not leave services behind, as orphans
    /// polling Kafka and loading the machine for whatever runs next.
    /// </summary>
    private static readonly ConcurrentDictionary<ServerProcess, byte> NotDisposed = new();

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    static ServerProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        // Signals only, no waiting: the test platform ends the host soon after the run.
        foreach (var server in NotDisposed.Keys)
        {
            try
            {
                server._process.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already gone.
            }
        }
    };

    private ServerProcess(Process process) => _process = process;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public static ServerProcess Start(string fileName, IEnumerable<string> arguments, IDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var resolved = Resolve(fileName);
        var start = new ProcessStartInfo(resolved)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepoPaths.Root,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {resolved}");
        var server = new ServerProcess(process);
        NotDisposed.TryAdd(server, 0);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    /// <summary>Polls until the probe succeeds; fails with the server's output otherwise.</summary>
    public async Task WaitUntilAsync(string what, Func<Task<bool>> probe, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await probe())
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or SocketException or IOException or TaskCanceledException)
            {
                // Not listening yet.
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{what} exited with code {_process.ExitCode}:\n{Output}");
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{what} did not come up within {timeout.TotalSeconds:F0} s:\n{Output}");
    }

    /// <summary>Waits for the process to end on its own and its output to be read; returns its exit code, and kills it at the timeout.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new TimeoutException($"{_process.StartInfo.FileName} did not end within {timeout.TotalSeconds:F0} s:\n{Output}");
        }

        // The asynchronous output readers finish after the process; this wait drains them.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: no chance to flush or clean up, as in a crash.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    public void Dispose()
    {
        NotDisposed.TryRemove(this, out _);
        Kill();
        _process.Dispose();
    }

    /// <summary>
    /// A port for a server to listen on, below the kernel's ephemeral range (32768 and up on Linux).
    /// Asking the kernel for port 0 hands out an ephemeral port, which is only free until the next
    /// outgoing connection or port-0 listener (the Kafka mock brokers, every client socket) takes it:
    /// a service started seconds later then failed with "address already in use" (CI, 2026-12-03).
    /// Below the range only our own choices compete; those are never handed out twice in one run, and
    /// the bind check skips any another process holds.
    /// </summary>
    public static int FreePort()
    {
        const int lowest = 20_000, aboveHighest = 32_768;
        for (var attempt = 0; attempt < 1_000; attempt++)
        {
            var port = Random.Shared.Next(lowest, aboveHighest);
            if (!HandedOutPorts.TryAdd(port, 0))
            {
                continue;
            }

            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // Held by another process: try another.
            }
        }

        throw new InvalidOperationException($"no free port in {lowest}-{aboveHighest - 1} after 1,000 attempts");
    }

    private static readonly ConcurrentDictionary<int, byte> HandedOutPorts = new();

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            // Keep the tail: enough to explain a failure without holding a whole run's logs.
            if (_output.Length > 200_000)
            {
                _output.Remove(0, 100_000);
            }

            _output.AppendLine(line);
        }
    }

    private static string Resolve(string fileName)
    {
        if (Path.IsPathRooted(fileName))
        {
            return File.Exists(fileName) ? fileName : throw new FileNotFoundException($"{fileName} is not installed; ./test.sh installs it", fileName);
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/usr/bin", "/sbin"]))
        {
            var candidate = Path.Combine(dir, fileName);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"{fileName} is not on PATH; ./test.sh installs it", fileName);
    }
}
