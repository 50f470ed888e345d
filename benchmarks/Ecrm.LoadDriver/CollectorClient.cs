using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ecrm.Common.Events;

namespace Ecrm.LoadDriver;

/// <summary>Posts batches to the collector as a Segment client would, retrying what was not acknowledged.</summary>
public sealed class CollectorClient : IDisposable
{
    private readonly HttpClient _http;

    public CollectorClient(Uri collector, string writeKey)
    {
        _http = new HttpClient { BaseAddress = collector, Timeout = TimeSpan.FromSeconds(60) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(writeKey + ":")));
    }

    /// <summary>Sends one batch until the collector acknowledges it; a 4xx is a bug in the batch and throws.</summary>
    public async Task SendAsync(IReadOnlyList<EventEnvelope> events, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new EventBatch { Batch = [.. events], SentAt = DateTimeOffset.UtcNow }, EcrmJsonContext.Default.EventBatch);
        var delay = TimeSpan.FromMilliseconds(200);
        for (var attempt = 1; ; attempt++)
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            try
            {
                using var response = await _http.PostAsync("v1/batch", content, cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }

                if ((int)response.StatusCode < 500 && response.StatusCode != HttpStatusCode.TooManyRequests)
                {
                    throw new InvalidOperationException($"collector refused a batch: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
                }
            }
            catch (HttpRequestException) when (attempt < 10)
            {
                // The collector may be starting or restarting; the batch is retried whole with the same message ids.
            }

            if (attempt >= 10)
            {
                throw new InvalidOperationException($"collector did not acknowledge a batch after {attempt} attempts");
            }

            await Task.Delay(delay, cancellationToken);
            delay *= 2;
        }
    }

    public void Dispose() => _http.Dispose();
}
