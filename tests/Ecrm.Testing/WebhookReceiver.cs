using System.Diagnostics;
using System.Net;

namespace Ecrm.Testing;

/// <summary>A real HTTP receiver on a loopback port, recording every request, for webhook and provider tests.</summary>
public sealed class WebhookReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly List<Received> _received = [];
    private readonly Task _loop;

    public WebhookReceiver()
    {
        Port = ServerProcess.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public sealed record Received(string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body, long ReceivedAtTimestamp, DateTimeOffset ReceivedAt);

    public int Port { get; }

    public string Url(string path = "hook") => $"http://127.0.0.1:{Port}/{path}";

    /// <summary>The status code every request is answered with (200 unless a test wants failures).</summary>
    public int Status { get; set; } = 200;

    /// <summary>Called as each request arrives (the benchmark notes the time).</summary>
    public Action<Received>? OnReceived { get; set; }

    public IReadOnlyList<Received> All
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
    }

    /// <summary>Polls until at least <paramref name="count"/> requests matching <paramref name="filter"/> arrived; fails at the deadline.</summary>
    public async Task<IReadOnlyList<Received>> WaitForAsync(int count, TimeSpan timeout, Func<Received, bool>? filter = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var matching = All.Where(filter ?? (_ => true)).ToList();
            if (matching.Count >= count)
            {
                return matching;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{matching.Count} of {count} expected requests arrived within {timeout.TotalSeconds:F0} s");
            }

            await Task.Delay(20);
        }
    }

    public void Clear()
    {
        lock (_received)
        {
            _received.Clear();
        }
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                var headers = context.Request.Headers.AllKeys.Where(k => k is not null).ToDictionary(k => k!, k => context.Request.Headers[k]!, StringComparer.OrdinalIgnoreCase);
                var received = new Received(context.Request.Url!.AbsolutePath, headers, body.ToArray(), Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow);
                lock (_received)
                {
                    _received.Add(received);
                }

                OnReceived?.Invoke(received);
                context.Response.StatusCode = Status;
                context.Response.Close();
            });
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}
