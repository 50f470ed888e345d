using System.Text.Json;
using Ecrm.Collector.Ingestion;
using Ecrm.Common.Events;
using Ecrm.Common.Hosting;
using Microsoft.Extensions.Options;

namespace Ecrm.Collector.Email;

public sealed record MintLinkRequest(string? Campaign, string? CustomerId, string? TargetUrl, string? Topic, int? Stage, int? ExpiresInDays);

public sealed record MintedLink(string ClickUrl, string OpenPixelUrl, DateTimeOffset ExpiresAt);

/// <summary>
/// Email opens and clicks: <c>GET /e/o/{token}.gif</c> records an open and answers a 1x1 GIF;
/// <c>GET /e/c/{token}</c> records a click and redirects to the signed target. <c>POST /v1/email/links</c>
/// (admin key) mints both for a campaign, a customer and a target.
/// </summary>
public static class EmailApi
{
    public const string SourceName = "email";

    public static IEndpointRouteBuilder MapEmailApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/e/o/{file}", OpenAsync);
        endpoints.MapGet("/e/c/{token}", ClickAsync);
        endpoints.MapPost("/v1/email/links", MintAsync).RequireKey(KeyScope.Admin).WithBodyLimit(16 * 1024);
        return endpoints;
    }

    private static async Task<IResult> OpenAsync(string file, HttpContext http, EmailTokens tokens, IngestionPipeline pipeline, CancellationToken cancellationToken)
    {
        var token = file.EndsWith(".gif", StringComparison.Ordinal) ? file[..^4] : file;
        if (tokens.Verify(token, EmailTokenPayload.Open, out var reason) is not { } payload)
        {
            return TypedResults.Problem(reason, statusCode: StatusCodes.Status400BadRequest);
        }

        try
        {
            // Opens come through mail clients' image proxies: their address and agent are not the customer's.
            await pipeline.IngestAsync(SourceName, EmailEvent(payload, "Email Opened"), new RequestFacts(null, null, FromBrowser: false), cancellationToken);
        }
        catch (EventLogUnavailableException e)
        {
            return TypedResults.Problem($"the open was not recorded ({e.Message})", statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        return TransparentGif.Answer(http.Response);
    }

    private static async Task<IResult> ClickAsync(string token, HttpContext http, EmailTokens tokens, IngestionPipeline pipeline, LostClicks lostClicks, CancellationToken cancellationToken)
    {
        // No redirect, ever, unless the target came out of a token this collector signed.
        if (tokens.Verify(token, EmailTokenPayload.Click, out var reason) is not { Target: { } target } payload || !IsWebUrl(target))
        {
            return TypedResults.Problem(reason ?? "the link has no valid target", statusCode: StatusCodes.Status400BadRequest);
        }

        var click = EmailEvent(payload, "Email Link Clicked");
        try
        {
            await pipeline.IngestAsync(SourceName, click, RequestFacts.Of(http.Request), cancellationToken);
        }
        catch (EventLogUnavailableException e)
        {
            // The recipient still reaches the page; the loss is counted and logged (see LostClicks).
            lostClicks.Record(click, payload.Campaign, e.Message);
        }

        http.Response.Headers.CacheControl = "no-store";
        return TypedResults.Redirect(target);
    }

    private static IResult MintAsync(MintLinkRequest? request, EmailTokens tokens, IOptions<EmailOptions> options, TimeProvider time)
    {
        // A link minted from the request's Host header would point wherever the caller's request said
        // (a proxy's internal name, or a host an attacker chose): only the configured address is used.
        if (options.Value.PublicBaseUrl is not { Length: > 0 } baseUrl)
        {
            return TypedResults.Problem(
                "Email:PublicBaseUrl is not set: links are minted only for the collector's configured public address",
                statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(request?.Campaign) || request.Campaign.Length > 200)
        {
            errors.Add("campaign: required, at most 200 characters");
        }

        if (string.IsNullOrWhiteSpace(request?.CustomerId) || request.CustomerId.Length > 256)
        {
            errors.Add("customerId: required, at most 256 characters");
        }

        if (request?.TargetUrl is not { } targetUrl || !IsWebUrl(targetUrl))
        {
            errors.Add("targetUrl: required, an absolute http or https URL");
        }

        if (request?.Stage is { } stage && (stage < 1 || stage > 20 || request.Topic is null))
        {
            errors.Add("stage: a 1-based stage, given together with topic");
        }

        if (request?.ExpiresInDays is { } days && (days < 1 || days > 3650))
        {
            errors.Add("expiresInDays: from 1 to 3650");
        }

        if (errors.Count > 0)
        {
            return TypedResults.Problem("the link request is not valid", statusCode: StatusCodes.Status400BadRequest, extensions: new Dictionary<string, object?> { ["errors"] = errors });
        }

        var expiresAt = time.GetUtcNow().AddDays(request!.ExpiresInDays ?? options.Value.LinkTtlDays);
        baseUrl = baseUrl.TrimEnd('/');
        EmailTokenPayload Payload(string kind, string? target) =>
            new(kind, request.Campaign!, request.CustomerId!, request.Topic, request.Stage, target, expiresAt.ToUnixTimeSeconds());
        return TypedResults.Ok(new MintedLink(
            $"{baseUrl}/e/c/{tokens.Sign(Payload(EmailTokenPayload.Click, request.TargetUrl))}",
            $"{baseUrl}/e/o/{tokens.Sign(Payload(EmailTokenPayload.Open, null))}.gif",
            expiresAt));
    }

    private static EventEnvelope EmailEvent(EmailTokenPayload payload, string name)
    {
        var properties = new Dictionary<string, string> { ["campaign"] = payload.Campaign };
        if (payload.Target is not null)
        {
            properties["linkUrl"] = payload.Target;
        }

        return new EventEnvelope
        {
            MessageId = Guid.NewGuid().ToString(),
            Type = EventType.Track,
            Event = name,
            Channel = Channel.Email,
            UserId = payload.Customer,
            Properties = JsonSerializer.SerializeToElement(properties, EcrmJsonContext.Default.DictionaryStringString),
            Context = new EventContext
            {
                Campaign = new CampaignContext { Name = payload.Campaign, Medium = "email" },
                Ecrm = payload is { Topic: { } topic, Stage: { } stage } ? new StageAnnotation { Topic = topic, Stage = JsonSerializer.SerializeToElement(stage, EcrmJsonContext.Default.Int32) } : null,
            },
        };
    }

    private static bool IsWebUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http" && !string.IsNullOrEmpty(uri.Host);
}
