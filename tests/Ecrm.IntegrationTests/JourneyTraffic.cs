using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Ecrm.Testing;

namespace Ecrm.IntegrationTests;

/// <summary>
/// Multi-channel traffic for the fault tests, sent the way a well-behaved client sends it: every
/// customer of a run is one journey on the demo catalog's tv-oled-55 topic (two web pages as an
/// anonymous visitor, an identify that links the visitor to the customer, an app screen, a
/// "Product Added" track, then an email open and a click through the collector's signed links). A
/// request that gets no 200 (or 302) is retried until it does: Segment requests with the same
/// message ids, which makes a repeat harmless, email pixels and links as a reader would click again.
/// </summary>
public sealed class JourneyTraffic(Uri collector, string run)
{
    public const string Topic = "tv-oled-55";

    /// <summary>The interactions of one journey per channel, emails aside (their count is in <see cref="Journey"/>).</summary>
    public static readonly IReadOnlyDictionary<string, int> SegmentInteractions = new Dictionary<string, int> { ["web"] = 3, ["mobile"] = 1 };

    private static readonly TimeSpan GiveUpAfter = TimeSpan.FromMinutes(3);
    private readonly ConcurrentQueue<Journey> _journeys = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _lanes = [];
    private int _next;

    /// <summary>One customer's journey: the Segment message ids the collector acknowledged, and the email requests.</summary>
    public sealed class Journey(string customer)
    {
        public string Customer { get; } = customer;

        public string AnonymousId => "anon-" + Customer;

        public List<string> MessageIds { get; } = [];

        /// <summary>Email events answered (open pixel 200, click 302) and requests sent: an unanswered request may or may not have been recorded.</summary>
        public Dictionary<string, (int Acknowledged, int Attempts)> Emails { get; } = new(StringComparer.Ordinal);
    }

    public string Run => run;

    /// <summary>Finished journeys: everything in them was acknowledged.</summary>
    public IReadOnlyCollection<Journey> Journeys => _journeys;

    public int AcknowledgedEvents => _journeys.Sum(j => j.MessageIds.Count + j.Emails.Values.Sum(e => e.Acknowledged));

    /// <summary>Starts <paramref name="lanes"/> clients, each sending one journey after another with <paramref name="pause"/> between.</summary>
    public void Start(int lanes, TimeSpan pause)
    {
        for (var lane = 0; lane < lanes; lane++)
        {
            _lanes.Add(Task.Run(async () =>
            {
                using var segment = EcrmServices.Client(collector);
                using var admin = EcrmServices.Client(collector, EcrmServices.AdminKey);
                using var reader = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(30) };
                while (!_stop.IsCancellationRequested)
                {
                    var journey = new Journey($"fs-{run}-{Interlocked.Increment(ref _next)}");
                    await SendAsync(journey, segment, admin, reader);
                    _journeys.Enqueue(journey);
                    await Task.Delay(pause);
                }
            }));
        }
    }

    /// <summary>Starts no new journey and waits until those under way were acknowledged in full.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_lanes);
    }

    private static async Task SendAsync(Journey journey, HttpClient segment, HttpClient admin, HttpClient reader)
    {
        // A second apart, as a visitor's steps are: with equal times, which channel reached a stage
        // first would depend on the order two ids' partitions were consumed in.
        var at = DateTimeOffset.UtcNow.AddSeconds(-5);
        string Event(string type, string channel, string fields)
        {
            var messageId = Guid.NewGuid().ToString();
            journey.MessageIds.Add(messageId);
            at = at.AddSeconds(1);
            return $$"""{"type":"{{type}}","channel":"{{channel}}","messageId":"{{messageId}}","originalTimestamp":"{{at:O}}",{{fields}}}""";
        }

        string[] events =
        [
            Event("page", "web", $$$"""  "anonymousId":"{{{journey.AnonymousId}}}","context":{"page":{"path":"/tv/oled-55"}}"""),
            Event("page", "web", $$$"""  "anonymousId":"{{{journey.AnonymousId}}}","context":{"page":{"path":"/tv/oled-55/specs"}}"""),
            Event("identify", "web", $$"""  "anonymousId":"{{journey.AnonymousId}}","userId":"{{journey.Customer}}","traits":{"plan":"fault-suite"}"""),
            Event("screen", "mobile", $$"""  "userId":"{{journey.Customer}}","name":"OledDetail" """),
            Event("track", "web", $$"""  "userId":"{{journey.Customer}}","event":"Product Added","properties":{"sku":"oled-55"}"""),
        ];
        var body = "{\"batch\":[" + string.Join(',', events) + "]}";
        await UntilAnsweredAsync(async () =>
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await segment.PostAsync("v1/batch", content);
            return response.StatusCode == HttpStatusCode.OK;
        });

        var link = await RetryAsync<JsonElement>(async () =>
        {
            using var response = await admin.PostAsJsonAsync("v1/email/links", new { campaign = "oled-launch", customerId = journey.Customer, targetUrl = "https://shop.example/tv/oled-55" });
            return response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<JsonElement>() : (JsonElement?)null;
        });
        await EmailAsync(journey, reader, "Email Opened", link.GetProperty("openPixelUrl").GetString()!, HttpStatusCode.OK);
        await EmailAsync(journey, reader, "Email Link Clicked", link.GetProperty("clickUrl").GetString()!, HttpStatusCode.Redirect);
    }

    private static async Task EmailAsync(Journey journey, HttpClient reader, string eventName, string url, HttpStatusCode answered)
    {
        var attempts = 0;
        await UntilAnsweredAsync(async () =>
        {
            attempts++;
            using var response = await reader.GetAsync(url);
            return response.StatusCode == answered;
        });
        journey.Emails[eventName] = (1, attempts);
    }

    private static async Task UntilAnsweredAsync(Func<Task<bool>> request) =>
        await RetryAsync<bool>(async () => await request() ? true : null);

    /// <summary>Retries a request through refused connections, 5xx and 429 answers, as a client library does.</summary>
    private static async Task<T> RetryAsync<T>(Func<Task<T?>> request)
        where T : struct
    {
        var deadline = DateTime.UtcNow + GiveUpAfter;
        while (true)
        {
            try
            {
                if (await request() is { } answer)
                {
                    return answer;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                // The collector is down or restarting.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the collector answered nothing within {GiveUpAfter.TotalMinutes} minutes");
            }

            await Task.Delay(200);
        }
    }
}
