using System.Diagnostics.Metrics;
using System.Text.Json;
using Ecrm.Collector.Ingestion;
using Ecrm.Common.Events;

namespace Ecrm.Collector.Email;

/// <summary>
/// An email click that neither Kafka nor the spool took. The recipient is still sent on to the target:
/// a click is no client's request that could be retried, and refusing the redirect would break the
/// customer's email without saving the click. So the loss is made visible instead: the counter
/// <c>ecrm_collector_email_clicks_lost_total</c> on <c>/metrics</c> (alert on any increase), and an
/// error log carrying the whole event, from which it can be replayed.
/// </summary>
public sealed partial class LostClicks(IMeterFactory meters, ILogger<LostClicks> logger)
{
    private readonly Counter<long> _lost = meters.Create(IngestionPipeline.MeterName)
        .CreateCounter<long>("ecrm.collector.email_clicks_lost", description: "email clicks redirected but not recorded: neither Kafka nor the spool took them");

    public void Record(EventEnvelope click, string campaign, string reason)
    {
        _lost.Add(1);
        LogLost(campaign, click.UserId, click.MessageId, reason, JsonSerializer.Serialize(click, EcrmJsonContext.Default.EventEnvelope));
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Email click lost (campaign {Campaign}, customer {CustomerId}, message {MessageId}): {Reason}; the recipient was redirected; the event was: {Event}")]
    private partial void LogLost(string campaign, string? customerId, string? messageId, string reason, string @event);
}
