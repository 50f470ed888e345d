using System.Text.Json;
using System.Text.RegularExpressions;
using Ecrm.Common.Archive;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Segments;

/// <summary>Saved segments in Redis, and the one place a segment (saved id or inline conditions) becomes SQL.</summary>
public sealed partial class SegmentStore(IConnectionMultiplexer redis, ArchiveClient clickHouse, CatalogHolder catalog, TimeProvider time)
{
    public static bool IsValidId(string id) => IdPattern().IsMatch(id);

    public async Task<IReadOnlyList<SavedSegment>> ListAsync()
    {
        var entries = await redis.GetDatabase().HashGetAllAsync(RedisKeys.Segments);
        return entries.Select(e => JsonSerializer.Deserialize((string)e.Value!, SegmentJsonContext.Default.SavedSegment)!)
            .OrderBy(s => s.Name, StringComparer.OrdinalIgnoreCase).ToList();
    }

    public async Task<SavedSegment?> GetAsync(string id)
    {
        var value = await redis.GetDatabase().HashGetAsync(RedisKeys.Segments, id);
        return value.IsNull ? null : JsonSerializer.Deserialize((string)value!, SegmentJsonContext.Default.SavedSegment);
    }

    public Task SaveAsync(SavedSegment segment) =>
        redis.GetDatabase().HashSetAsync(RedisKeys.Segments, segment.Id, JsonSerializer.Serialize(segment, SegmentJsonContext.Default.SavedSegment));

    public Task<bool> DeleteAsync(string id) => redis.GetDatabase().HashDeleteAsync(RedisKeys.Segments, id);

    /// <summary>Validation errors of conditions against the running catalog.</summary>
    public List<string> Validate(SegmentConditions conditions) => SegmentSql.Validate(conditions, catalog.Catalog);

    /// <summary>The query of matching customers, with their activity columns.</summary>
    public string CustomersSql(SegmentConditions conditions) => SegmentSql.CustomersSql(clickHouse.Database, conditions, catalog.Catalog, time.GetUtcNow());

    /// <summary>
    /// A funnel's <c>segment</c> parameter, a saved segment's id or inline JSON conditions, as a query
    /// of customer ids; or the reason it cannot be used.
    /// </summary>
    public async Task<(string? Sql, string? Error)> CustomersSqlAsync(string? segment, CancellationToken cancellationToken)
    {
        if (segment is null)
        {
            return (null, null);
        }

        SegmentConditions? conditions;
        if (segment.StartsWith('{'))
        {
            try
            {
                conditions = JsonSerializer.Deserialize(segment, SegmentJsonContext.Default.SegmentConditions);
            }
            catch (JsonException e)
            {
                return (null, $"segment: not valid JSON conditions: {e.Message}");
            }
        }
        else if (!IsValidId(segment))
        {
            return (null, "segment: a saved segment id (letters, digits, '_', '-') or JSON conditions");
        }
        else
        {
            conditions = (await GetAsync(segment))?.Conditions;
            if (conditions is null)
            {
                return (null, $"segment: no saved segment '{segment}'");
            }
        }

        if (conditions is null)
        {
            return (null, "segment: conditions are required");
        }

        var errors = Validate(conditions);
        return errors.Count > 0 ? (null, "segment: " + string.Join("; ", errors)) : ($"SELECT customer FROM ({CustomersSql(conditions)})", null);
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex IdPattern();
}
