using System.Text.Json;
using Ecrm.Common.Archive;
using Ecrm.Common.Hosting;
using Ecrm.DialogueEngine.Catalog;
using Ecrm.DialogueEngine.Funnels;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ecrm.DialogueEngine.Triggers;

public sealed record TriggerStats(long PendingJobs, int DeadLetters);

/// <summary>
/// <c>/api/triggers</c> (admin key): create, list, read, replace and delete trigger rules; a rule's
/// firings (from the ClickHouse archive); the dead letters and their replay.
/// </summary>
public static class TriggerApi
{
    private const int MaxBodyBytes = 64 * 1024;
    private const string Redacted = "***";

    public static IEndpointRouteBuilder MapTriggerApi(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/api/triggers").RequireKey(KeyScope.Admin);
        group.MapGet("/", ListAsync);
        group.MapPost("/", CreateAsync);
        group.MapGet("/stats", StatsAsync);
        group.MapGet("/dead-letters", DeadLettersAsync);
        group.MapPost("/dead-letters/{firingId}/replay", ReplayAsync);
        group.MapGet("/{id}", GetAsync);
        group.MapPut("/{id}", ReplaceAsync);
        group.MapDelete("/{id}", DeleteAsync);
        group.MapGet("/{id}/firings", FiringsAsync);
        group.MapGet("/{id}/conversions", ConversionsAsync);
        return endpoints;
    }

    private static async Task<Ok<TriggerList>> ListAsync(TriggerStore store) =>
        TypedResults.Ok(new TriggerList([.. (await store.AllAsync()).Values.OrderBy(r => r.Id, StringComparer.Ordinal).Select(Redact)]));

    private static async Task<Results<Created<TriggerRule>, ProblemHttpResult>> CreateAsync(
        HttpRequest http, TriggerStore store, CatalogHolder catalog, OutboundPolicy outbound, CancellationToken cancellationToken)
    {
        var (rule, error) = await ReadRuleAsync(http, null, catalog, outbound, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        return await store.CreateAsync(rule!)
            ? TypedResults.Created($"/api/triggers/{rule!.Id}", Redact(rule))
            : Problem(StatusCodes.Status409Conflict, $"id: a trigger '{rule!.Id}' exists; PUT /api/triggers/{rule.Id} replaces it");
    }

    private static async Task<Results<Ok<TriggerRule>, ProblemHttpResult>> GetAsync(string id, TriggerStore store) =>
        TriggerValidation.IsValidId(id) && await store.GetAsync(id) is { } rule ? TypedResults.Ok(Redact(rule)) : NotFound();

    private static async Task<Results<Ok<TriggerRule>, ProblemHttpResult>> ReplaceAsync(
        string id, HttpRequest http, TriggerStore store, CatalogHolder catalog, OutboundPolicy outbound, CancellationToken cancellationToken)
    {
        if (!TriggerValidation.IsValidId(id))
        {
            return Problem(StatusCodes.Status400BadRequest, "id: 1-64 letters, digits, '_' or '-'");
        }

        var existing = await store.GetAsync(id);
        var (rule, error) = await ReadRuleAsync(http, (id, existing), catalog, outbound, cancellationToken);
        if (error is not null)
        {
            return error;
        }

        await store.SaveAsync(rule!);
        return TypedResults.Ok(Redact(rule!));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string id, TriggerStore store) =>
        TriggerValidation.IsValidId(id) && await store.DeleteAsync(id) ? TypedResults.NoContent() : NotFound();

    private static async Task<Results<Ok<FiringList>, ProblemHttpResult>> FiringsAsync(
        string id, int? limit, string? status, TriggerStore store, ArchiveClient clickHouse, CancellationToken cancellationToken)
    {
        if (!TriggerValidation.IsValidId(id) || await store.GetAsync(id) is null)
        {
            return NotFound();
        }

        if (limit is < 1 or > 10_000)
        {
            return Problem(StatusCodes.Status400BadRequest, "limit: from 1 to 10000");
        }

        if (status is not (null or FiringStatus.Fired or FiringStatus.Suppressed or FiringStatus.Retrying or FiringStatus.Delivered or FiringStatus.Dead))
        {
            return Problem(StatusCodes.Status400BadRequest, "status: one of fired, suppressed, retrying, delivered, dead");
        }

        try
        {
            var byStatus = await TriggerArchive.CountByStatusAsync(clickHouse, id, cancellationToken);
            var firings = (await TriggerArchive.ListAsync(clickHouse, id, status, limit ?? 100, cancellationToken))
                .Select(f => new FiringView(f.FiringId, f.Customer, f.Topic, f.Episode, f.FromStage, f.ToStage, f.Channel, f.Status, f.Attempts, f.Error, f.TransitionAt, f.FiredAt, f.UpdatedAt))
                .ToList();
            return TypedResults.Ok(new FiringList(firings, byStatus.Values.Sum(), byStatus));
        }
        catch (Exception e) when (ArchiveAnswers.For(e) is { } answer)
        {
            return answer;
        }
    }

    /// <summary>?from=&amp;to= (days, as the funnels take them) and ?window= (default 7d): how many firings were followed by a deeper stage in time.</summary>
    private static async Task<Results<Ok<TriggerConversionReport>, ProblemHttpResult>> ConversionsAsync(
        string id, HttpRequest http, TriggerStore store, ArchiveClient clickHouse, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!TriggerValidation.IsValidId(id) || await store.GetAsync(id) is null)
        {
            return NotFound();
        }

        var errors = new List<string>();
        var unknown = http.Query.Keys.Where(k => k is not ("from" or "to" or "window")).ToList();
        if (unknown.Count > 0)
        {
            errors.Add($"{FunnelRequest.Shorten(unknown[0])}: not a parameter here (from, to, window)");
        }

        if (FunnelRequest.Parse(http.Query, time.GetUtcNow(), errors) is not { } range || errors.Count > 0)
        {
            return BadRequest(errors);
        }

        var window = range.Window ?? TriggerConversions.DefaultWindow;
        var windowText = (range with { Window = window }).WindowText;
        return await ArchiveAnswers.OkOrUnavailableAsync(() => TriggerConversions.ReadAsync(clickHouse, id, range.From, range.To, window, windowText, cancellationToken));
    }

    private static async Task<Ok<DeadLetterList>> DeadLettersAsync(string? rule, TriggerStore store) =>
        TypedResults.Ok(new DeadLetterList(await store.DeadLettersAsync(rule)));

    private static async Task<Results<Accepted<ReplayResult>, ProblemHttpResult>> ReplayAsync(string firingId, TriggerStore store, TriggerJobs jobs, TriggerWorker worker)
    {
        if (firingId.Length > 64 || await store.DeadLetterAsync(firingId) is not { } dead)
        {
            return Problem(StatusCodes.Status404NotFound, "no dead letter by that firing id");
        }

        var queued = await jobs.ReplayAsync(dead);
        await store.RemoveDeadLetterAsync(firingId);
        worker.Wake();
        return TypedResults.Accepted($"/api/triggers/{dead.Rule}/firings", new ReplayResult(firingId, queued));
    }

    private static async Task<Ok<TriggerStats>> StatsAsync(TriggerStore store, TriggerJobs jobs) =>
        TypedResults.Ok(new TriggerStats(await jobs.PendingAsync(), (await store.DeadLettersAsync(null)).Count));

    /// <summary>Reads and validates a rule; on PUT the path gives the id, and an omitted or redacted secret keeps the stored one.</summary>
    private static async Task<(TriggerRule? Rule, ProblemHttpResult? Error)> ReadRuleAsync(
        HttpRequest http, (string Id, TriggerRule? Existing)? replacing, CatalogHolder catalog, OutboundPolicy outbound, CancellationToken cancellationToken)
    {
        var bytes = await RequestBody.ReadAsync(http, MaxBodyBytes, cancellationToken);
        if (bytes is null)
        {
            return (null, Problem(StatusCodes.Status413PayloadTooLarge, $"the body is over {MaxBodyBytes} bytes"));
        }

        TriggerRule? rule;
        try
        {
            rule = JsonSerializer.Deserialize(bytes, TriggerJsonContext.Default.TriggerRule);
        }
        catch (JsonException e)
        {
            var field = e.Path is { Length: > 2 } path ? path[2..] : "body";
            return (null, BadRequest([$"{field}: not valid here ({e.Message.Split(" Path:")[0]})"]));
        }

        if (rule is null)
        {
            return (null, BadRequest(["body: a JSON object"]));
        }

        if (replacing is { } put)
        {
            if (rule.Id is not null && rule.Id != put.Id)
            {
                return (null, BadRequest(["id: differs from the id in the path"]));
            }

            rule = rule with { Id = put.Id };
            if (rule.Action is { Secret: null or Redacted } action && put.Existing?.Action?.Secret is { } kept)
            {
                rule = rule with { Action = action with { Secret = kept } };
            }
        }

        var errors = TriggerValidation.Validate(rule, catalog.Catalog.Stages, catalog.Catalog, outbound);
        return errors.Count > 0 ? (null, BadRequest(errors)) : (rule, null);
    }

    private static TriggerRule Redact(TriggerRule rule) =>
        rule.Action is { Secret: not null } action ? rule with { Action = action with { Secret = Redacted } } : rule;


    private static ProblemHttpResult BadRequest(IReadOnlyList<string> errors) =>
        TypedResults.Problem(detail: string.Join("; ", errors), statusCode: StatusCodes.Status400BadRequest,
            extensions: new Dictionary<string, object?> { ["errors"] = errors });

    private static ProblemHttpResult NotFound() => Problem(StatusCodes.Status404NotFound, "no trigger by that id");

    private static ProblemHttpResult Problem(int status, string detail) => TypedResults.Problem(detail: detail, statusCode: status);
}
