using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Ecrm.Common.Hosting;
using Ecrm.Common.Kafka;
using Ecrm.Common.Storage;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Triggers;

/// <summary>A delivery failed; the job is retried with backoff and then dead-lettered.</summary>
public sealed class TriggerDeliveryException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Carries out a firing's action. Webhook, email and SMS send the same signed JSON; email and SMS add
/// a tracked link (and an open pixel) minted by the collector, so the message's clicks and opens come
/// back as dialogue events.
/// </summary>
public sealed class TriggerActions(
    IHttpClientFactory httpClients,
    IConnectionMultiplexer redis,
    DialogueReader dialogues,
    TriggerKafkaProducer kafka,
    OutboundPolicy outbound,
    IOptions<TriggerOptions> options,
    TimeProvider time)
{
    public const string HttpClientName = "triggers";
    public const string CollectorClientName = "triggers-collector";
    public const string SignatureHeader = "X-Ecrm-Signature";
    public const string TimestampHeader = "X-Ecrm-Timestamp";
    public const string FiringHeader = "X-Ecrm-Firing";
    public const string AttemptHeader = "X-Ecrm-Attempt";

    /// <summary>The customer's traits (identify), after identity resolution; values as JSON.</summary>
    public async Task<Dictionary<string, JsonElement>> ReadTraitsAsync(string customer)
    {
        var resolved = await dialogues.ResolveAsync(customer);
        var entries = await redis.GetDatabase().HashGetAllAsync(RedisKeys.Traits(resolved));
        var traits = new Dictionary<string, JsonElement>(entries.Length, StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            try
            {
                traits[(string)entry.Name!] = JsonDocument.Parse((string)entry.Value!).RootElement.Clone();
            }
            catch (JsonException)
            {
                // A trait that is not JSON is not ours to read; leave it out.
            }
        }

        return traits;
    }

    public async Task<DialogueState?> ReadDialogueAsync(string customer, string topic) =>
        (await dialogues.ReadAsync(customer)).FirstOrDefault(d => d.Topic == topic);

    public async Task DeliverAsync(TriggerRule rule, TriggerJob job, CancellationToken cancellationToken)
    {
        var action = rule.Action!;
        var now = time.GetUtcNow();
        var traits = await ReadTraitsAsync(job.Transition.Customer);
        var dialogue = await ReadDialogueAsync(job.Transition.Customer, job.Transition.Topic);
        TriggerMessage? message = null;
        if (action.Type is "email" or "sms")
        {
            message = await MintMessageAsync(rule, job, traits, cancellationToken);
        }

        var payload = new TriggerPayload(
            job.FiringId!,
            new TriggerPayloadTrigger(rule.Id!, rule.Name, action.Type!),
            new TriggerPayloadCustomer(job.Transition.Customer, traits),
            dialogue,
            job.Transition,
            job.FiredAt ?? now,
            now,
            job.Attempt + 1,
            message);
        var body = JsonSerializer.SerializeToUtf8Bytes(payload, TriggerWireJsonContext.Default.TriggerPayload);
        if (action.Type == "kafka")
        {
            // Checked again at delivery: the topics' names may have been configured since the rule was saved.
            if (outbound.TopicProblem(action.Topic!) is { } topicProblem)
            {
                throw new TriggerDeliveryException(topicProblem);
            }

            await kafka.ProduceAsync(action.Topic!, job.Transition.Customer, body, cancellationToken);
            return;
        }

        await PostSignedAsync(action.Url!, action.Secret!, body, job, now, cancellationToken);
    }

    /// <summary><c>sha256=</c> and the lowercase hex HMAC-SHA256 of the body with the rule's secret.</summary>
    public static string Sign(string secret, ReadOnlySpan<byte> body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    private async Task PostSignedAsync(string url, string secret, byte[] body, TriggerJob job, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Checked again at delivery: the setting may have changed since the rule was saved.
        if (outbound.UrlProblem(url) is { } urlProblem)
        {
            throw new TriggerDeliveryException($"the URL is not allowed: {urlProblem}");
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.Add(SignatureHeader, Sign(secret, body));
        request.Headers.Add(TimestampHeader, now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(FiringHeader, job.FiringId);
        request.Headers.Add(AttemptHeader, (job.Attempt + 1).ToString(CultureInfo.InvariantCulture));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.Value.WebhookTimeoutSeconds));
        HttpResponseMessage response;
        try
        {
            response = await httpClients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // The reason a rule's author reads says what kind of failure it was and never the socket's
            // own message (refused, unreachable, which address): that would map the network behind.
            throw new TriggerDeliveryException(e switch
            {
                OperationCanceledException => $"no answer within {options.Value.WebhookTimeoutSeconds} s",
                HttpRequestException { InnerException: RefusedAddressException refused } => refused.Message,
                HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError } => "the receiver's host name does not resolve",
                HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } => "the TLS handshake with the receiver failed",
                _ => "the receiver could not be reached",
            }, e);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new TriggerDeliveryException($"the receiver answered {(int)response.StatusCode}");
            }
        }
    }

    private async Task<TriggerMessage> MintMessageAsync(TriggerRule rule, TriggerJob job, Dictionary<string, JsonElement> traits, CancellationToken cancellationToken)
    {
        var action = rule.Action!;
        var settings = options.Value;
        if (settings.CollectorUrl.Length == 0 || settings.CollectorAdminKey.Length == 0)
        {
            throw new TriggerDeliveryException("Triggers:CollectorUrl and Triggers:CollectorAdminKey are needed to mint tracked links for email and SMS");
        }

        var campaign = action.Campaign ?? $"trigger-{rule.Id}";
        var mint = new MintLinkBody(campaign, job.Transition.Customer, action.TargetUrl!, action.LinkStage is null ? null : job.Transition.Topic, action.LinkStage);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(settings.CollectorUrl.TrimEnd('/') + "/"), "v1/email/links"))
        {
            Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(mint, TriggerWireJsonContext.Default.MintLinkBody)),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", settings.CollectorAdminKey);
        MintedLinkBody? minted;
        try
        {
            using var response = await httpClients.CreateClient(CollectorClientName).SendAsync(request, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new TriggerDeliveryException($"the collector answered {(int)response.StatusCode} to minting a link: {await response.Content.ReadAsStringAsync(cancellationToken)}");
            }

            minted = JsonSerializer.Deserialize(await response.Content.ReadAsByteArrayAsync(cancellationToken), TriggerJsonContext.Default.MintedLinkBody);
        }
        catch (HttpRequestException e)
        {
            throw new TriggerDeliveryException($"the collector did not answer: {e.Message}", e);
        }

        if (minted is null)
        {
            throw new TriggerDeliveryException("the collector's answer held no link");
        }

        var contact = action.Type == "email" ? "email" : "phone";
        var to = traits.TryGetValue(contact, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        return new TriggerMessage(action.Type!, action.Template, action.Fields, to, campaign, minted.ClickUrl, action.Type == "email" ? minted.OpenPixelUrl : null);
    }
}

/// <summary>One Kafka producer for the kafka action, created on first use and flushed on shutdown.</summary>
public sealed class TriggerKafkaProducer(IOptions<KafkaOptions> options, ILogger<TriggerKafkaProducer> logger) : IDisposable
{
    private readonly Lazy<IProducer<string, byte[]>> _producer = new(() => KafkaClientFactory.CreateDurableProducer(options.Value, logger, config =>
    {
        config.LingerMs = 2;
        config.MessageTimeoutMs = 30_000;
    }));

    public async Task ProduceAsync(string topic, string key, byte[] value, CancellationToken cancellationToken)
    {
        try
        {
            await _producer.Value.ProduceAsync(topic, new Message<string, byte[]> { Key = key, Value = value }, cancellationToken);
        }
        catch (KafkaException e)
        {
            throw new TriggerDeliveryException($"Kafka refused the message: {e.Error.Reason}", e);
        }
    }

    public void Dispose()
    {
        if (_producer.IsValueCreated)
        {
            _producer.Value.Flush(TimeSpan.FromSeconds(5));
            _producer.Value.Dispose();
        }
    }
}
