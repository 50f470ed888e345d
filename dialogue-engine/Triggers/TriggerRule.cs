using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using System.Xml;
using Ecrm.Common.Catalog;
using Ecrm.DialogueEngine.Segments;

namespace Ecrm.DialogueEngine.Triggers;

/// <summary>Which transitions a rule reacts to. Null parts match anything; topic "*" is every topic.</summary>
public sealed record TriggerWhen
{
    public string? Topic { get; init; }
    public int? FromStage { get; init; }
    public int? ToStage { get; init; }
    public string? Channel { get; init; }
}

/// <summary>Wait <see cref="Within"/> (ISO-8601 duration) and fire only if the dialogue has not reached <see cref="ToStage"/> by then.</summary>
public sealed record TriggerUnless
{
    public int? ToStage { get; init; }
    public string? Within { get; init; }
}

/// <summary>A condition on one of the customer's identify traits (Redis), compared at firing time.</summary>
public sealed record TriggerTrait
{
    public string? Name { get; init; }
    public string? Op { get; init; }
    public JsonElement Value { get; init; }
}

public sealed record TriggerLimit
{
    /// <summary>At most one firing per customer and topic in this many days.</summary>
    public int? PerCustomerTopicDays { get; init; }

    /// <summary>At most this many firings of the rule per minute; the rest wait for the next minute.</summary>
    public int? PerMinute { get; init; }

    /// <summary>"HH:mm-HH:mm" in the customer's time zone (trait <c>timezone</c>, IANA; UTC without it): firings wait until it ends.</summary>
    public string? QuietHours { get; init; }
}

/// <summary>
/// What a firing does. <c>webhook</c>: a signed POST to <see cref="Url"/>. <c>kafka</c>: the same JSON
/// to <see cref="Topic"/>. <c>email</c> and <c>sms</c>: a signed POST to a provider's
/// <see cref="Url"/> with a tracked link (and, for email, an open pixel) minted by the collector.
/// </summary>
public sealed record TriggerAction
{
    public string? Type { get; init; }
    public string? Url { get; init; }
    public string? Secret { get; init; }
    public string? Topic { get; init; }

    /// <summary>email/sms: where the tracked link leads.</summary>
    public string? TargetUrl { get; init; }

    /// <summary>email/sms: the campaign the link's opens and clicks count for (default <c>trigger-&lt;rule id&gt;</c>).</summary>
    public string? Campaign { get; init; }

    /// <summary>email/sms: the stage a click on the link records in the transition's topic (none: the catalog's campaign rules decide).</summary>
    public int? LinkStage { get; init; }

    public string? Template { get; init; }
    public Dictionary<string, string>? Fields { get; init; }
}

public sealed record TriggerRule
{
    public string? Id { get; init; }
    public string? Name { get; init; }

    // set, not init: the source-generated reader assigns every init property, defaults included.
    public bool Enabled { get; set; } = true;
    public TriggerWhen? When { get; init; }
    public TriggerUnless? Unless { get; init; }
    public string? Segment { get; init; }
    public List<TriggerTrait>? Traits { get; init; }
    public TriggerLimit? Limit { get; init; }
    public TriggerAction? Action { get; init; }

    [JsonIgnore]
    public TimeSpan? Wait => Unless?.Within is { } within ? XmlConvert.ToTimeSpan(within) : null;

    public bool Matches(string topic, int fromStage, int toStage, string channel) =>
        When is { } when
        && (when.Topic is null or "*" || when.Topic == topic)
        && (when.FromStage is null || when.FromStage == fromStage)
        && (when.ToStage is null || when.ToStage == toStage)
        && (when.Channel is null || string.Equals(when.Channel, channel, StringComparison.OrdinalIgnoreCase));

    /// <summary>Whether a transition of the rule's topic reaches the stage that cancels its wait.</summary>
    public bool Cancels(string topic, int toStage) =>
        Unless?.ToStage is { } stage && toStage >= stage && (When?.Topic is null or "*" || When.Topic == topic);
}

/// <summary>Validation of a rule; every message starts with the field it is about.</summary>
public static partial class TriggerValidation
{
    public const int MaxTraits = 20;
    private static readonly string[] Ops = ["eq", "ne", "gt", "gte", "lt", "lte", "contains", "exists"];
    private static readonly string[] Channels = ["web", "email", "mobile", "server"];
    private static readonly TimeSpan MaxWait = TimeSpan.FromDays(90);

    public static bool IsValidId(string? id) => id is not null && IdPattern().IsMatch(id);

    public static List<string> Validate(TriggerRule rule, StageScale stages, TopicCatalog catalog, OutboundPolicy outbound)
    {
        var errors = new List<string>();
        if (!IsValidId(rule.Id))
        {
            errors.Add("id: required, 1-64 letters, digits, '_' or '-'");
        }

        if (rule.Name is { Length: > 200 })
        {
            errors.Add("name: at most 200 characters");
        }

        if (rule.When is not { } when)
        {
            errors.Add("when: required, an object");
        }
        else
        {
            if (when.Topic is not null and not "*" && catalog.FindTopic(when.Topic) is null)
            {
                errors.Add("when.topic: a topic of the catalog, or \"*\" for every topic");
            }

            CheckStage(errors, "when.fromStage", when.FromStage, stages, allowZero: true);
            CheckStage(errors, "when.toStage", when.ToStage, stages, allowZero: false);
            if (when is { FromStage: { } from, ToStage: { } to } && from >= to)
            {
                errors.Add("when.toStage: deeper than when.fromStage");
            }

            if (when.Channel is not null && !Channels.Contains(when.Channel))
            {
                errors.Add("when.channel: one of web, email, mobile, server (or null for any)");
            }
        }

        if (rule.Unless is { } unless)
        {
            CheckStage(errors, "unless.toStage", unless.ToStage ?? -1, stages, allowZero: false);
            if (unless.ToStage is { } cancel && rule.When?.ToStage is { } toStage && cancel <= toStage)
            {
                errors.Add("unless.toStage: deeper than when.toStage");
            }

            if (!TryDuration(unless.Within, out var within) || within <= TimeSpan.Zero || within > MaxWait)
            {
                errors.Add("unless.within: an ISO-8601 duration from PT1S to P90D, such as PT2H");
            }
        }

        if (rule.Segment is not null && !SegmentStore.IsValidId(rule.Segment))
        {
            errors.Add("segment: a saved segment id (letters, digits, '_', '-')");
        }

        var traits = rule.Traits ?? [];
        if (traits.Count > MaxTraits)
        {
            errors.Add($"traits: at most {MaxTraits}");
        }

        for (var i = 0; i < traits.Count; i++)
        {
            var t = traits[i];
            if (t?.Name is not { } name || !TraitName().IsMatch(name))
            {
                errors.Add($"traits[{i}].name: 1-64 letters, digits, '_', '-' or '.'");
            }
            else if (!Ops.Contains(t.Op))
            {
                errors.Add($"traits[{i}].op: one of {string.Join(", ", Ops)}");
            }
            else if (t.Op is "gt" or "gte" or "lt" or "lte" && (t.Value.ValueKind != JsonValueKind.Number || !double.IsFinite(t.Value.GetDouble())))
            {
                errors.Add($"traits[{i}].value: a number for {t.Op}");
            }
            else if (t.Op != "exists" && t.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False))
            {
                errors.Add($"traits[{i}].value: a string, number or boolean");
            }
        }

        if (rule.Limit is { } limit)
        {
            if (limit.PerCustomerTopicDays is < 1 or > 3650)
            {
                errors.Add("limit.perCustomerTopicDays: from 1 to 3650");
            }

            if (limit.PerMinute is < 1 or > 1_000_000)
            {
                errors.Add("limit.perMinute: from 1 to 1000000");
            }

            if (limit.QuietHours is { } quiet && QuietHours.Parse(quiet) is null)
            {
                errors.Add("limit.quietHours: \"HH:mm-HH:mm\", such as \"22:00-08:00\"");
            }
        }

        ValidateAction(rule, errors, stages, outbound);
        return errors;
    }

    private static void ValidateAction(TriggerRule rule, List<string> errors, StageScale stages, OutboundPolicy outbound)
    {
        if (rule.Action is not { } action)
        {
            errors.Add("action: required, an object");
            return;
        }

        switch (action.Type)
        {
            case "webhook" or "email" or "sms":
                if (outbound.UrlProblem(action.Url) is { } urlProblem)
                {
                    errors.Add($"action.url: {urlProblem}");
                }

                if (action.Secret is not { Length: >= 16 and <= 256 })
                {
                    errors.Add("action.secret: required, 16-256 characters (the receiver verifies X-Ecrm-Signature with it)");
                }

                if (action.Type != "webhook")
                {
                    if (!Uri.TryCreate(action.TargetUrl, UriKind.Absolute, out var target) || target.Scheme is not ("http" or "https"))
                    {
                        errors.Add("action.targetUrl: required, an absolute http or https URL");
                    }

                    if (action.Campaign is { Length: 0 or > 200 })
                    {
                        errors.Add("action.campaign: 1-200 characters");
                    }

                    if (action.LinkStage is { } linkStage)
                    {
                        CheckStage(errors, "action.linkStage", linkStage, stages, allowZero: false);
                    }

                    if (action.Template is { Length: > 200 })
                    {
                        errors.Add("action.template: at most 200 characters");
                    }

                    if (action.Fields is { Count: > 50 } || action.Fields?.Any(f => f.Key.Length > 100 || f.Value?.Length > 2000) == true)
                    {
                        errors.Add("action.fields: at most 50, names up to 100 and values up to 2000 characters");
                    }
                }

                break;
            case "kafka":
                if (action.Topic is null || !KafkaTopic().IsMatch(action.Topic))
                {
                    errors.Add("action.topic: a Kafka topic name (letters, digits, '.', '_', '-')");
                }
                else if (outbound.TopicProblem(action.Topic) is { } topicProblem)
                {
                    errors.Add($"action.topic: {topicProblem}");
                }

                break;
            default:
                errors.Add("action.type: one of webhook, kafka, email, sms");
                break;
        }
    }

    private static void CheckStage(List<string> errors, string field, int? stage, StageScale stages, bool allowZero)
    {
        if (stage is { } s && (s < (allowZero ? 0 : 1) || s > stages.Last))
        {
            errors.Add($"{field}: a stage from {(allowZero ? 0 : 1)} to {stages.Last}");
        }
    }

    private static bool TryDuration(string? text, out TimeSpan duration)
    {
        duration = default;
        if (string.IsNullOrEmpty(text) || !text.StartsWith('P'))
        {
            return false;
        }

        try
        {
            duration = XmlConvert.ToTimeSpan(text);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
        catch (OverflowException)
        {
            return false;
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$")]
    private static partial Regex TraitName();

    [GeneratedRegex("^[A-Za-z0-9._-]{1,249}$")]
    private static partial Regex KafkaTopic();
}

/// <summary>A daily quiet window in local time; it may run past midnight ("22:00-08:00").</summary>
public readonly record struct QuietHours(TimeSpan Start, TimeSpan End)
{
    public static QuietHours? Parse(string text)
    {
        var parts = text.Split('-');
        return parts.Length == 2
            && TimeSpan.TryParseExact(parts[0].Trim(), @"hh\:mm", CultureInfo.InvariantCulture, out var start)
            && TimeSpan.TryParseExact(parts[1].Trim(), @"hh\:mm", CultureInfo.InvariantCulture, out var end)
            && start < TimeSpan.FromDays(1) && end < TimeSpan.FromDays(1) && start != end
                ? new QuietHours(start, end)
                : null;
    }

    /// <summary>When the quiet window holding <paramref name="now"/> ends, or null when <paramref name="now"/> is outside it.</summary>
    public DateTimeOffset? EndOf(DateTimeOffset now, TimeZoneInfo zone)
    {
        var local = TimeZoneInfo.ConvertTime(now, zone);
        var time = local.TimeOfDay;
        var inside = Start < End ? time >= Start && time < End : time >= Start || time < End;
        if (!inside)
        {
            return null;
        }

        var endDate = local.Date;
        if (Start > End && time >= Start)
        {
            endDate = endDate.AddDays(1);
        }

        var endLocal = endDate + End;
        // A local end time skipped by a daylight-saving jump: take the moment just after the jump.
        while (zone.IsInvalidTime(endLocal))
        {
            endLocal = endLocal.AddMinutes(15);
        }

        return new DateTimeOffset(endLocal, zone.GetUtcOffset(endLocal));
    }
}
