using System.Text.Json;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Triggers;

/// <summary>Trigger rules and dead letters in Redis. Rules are few: every reader takes them all, parsed once per change.</summary>
public sealed class TriggerStore(IConnectionMultiplexer redis)
{
    private volatile Dictionary<string, (string Raw, TriggerRule Rule)> _cache = [];

    public async Task<IReadOnlyDictionary<string, TriggerRule>> AllAsync()
    {
        var entries = await redis.GetDatabase().HashGetAllAsync(TriggerKeys.Rules);
        var previous = _cache;
        var next = new Dictionary<string, (string Raw, TriggerRule Rule)>(entries.Length, StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            string id = entry.Name!, raw = entry.Value!;
            next[id] = previous.TryGetValue(id, out var cached) && cached.Raw == raw ? cached : (raw, Parse(raw));
        }

        _cache = next;
        return next.ToDictionary(e => e.Key, e => e.Value.Rule, StringComparer.Ordinal);
    }

    public async Task<TriggerRule?> GetAsync(string id)
    {
        var value = await redis.GetDatabase().HashGetAsync(TriggerKeys.Rules, id);
        return value.IsNull ? null : Parse(value!);
    }

    public Task SaveAsync(TriggerRule rule) =>
        redis.GetDatabase().HashSetAsync(TriggerKeys.Rules, rule.Id, JsonSerializer.Serialize(rule, TriggerJsonContext.Default.TriggerRule));

    /// <summary>Adds the rule only if its id is free.</summary>
    public Task<bool> CreateAsync(TriggerRule rule) =>
        redis.GetDatabase().HashSetAsync(TriggerKeys.Rules, rule.Id, JsonSerializer.Serialize(rule, TriggerJsonContext.Default.TriggerRule), When.NotExists);

    public Task<bool> DeleteAsync(string id) => redis.GetDatabase().HashDeleteAsync(TriggerKeys.Rules, id);

    public async Task<IReadOnlyList<DeadLetter>> DeadLettersAsync(string? rule)
    {
        var entries = await redis.GetDatabase().HashGetAllAsync(TriggerKeys.DeadLetters);
        return entries.Select(e => JsonSerializer.Deserialize((string)e.Value!, TriggerJsonContext.Default.DeadLetter)!)
            .Where(d => rule is null || d.Rule == rule)
            .OrderByDescending(d => d.DeadAt)
            .ToList();
    }

    public async Task<DeadLetter?> DeadLetterAsync(string firingId)
    {
        var value = await redis.GetDatabase().HashGetAsync(TriggerKeys.DeadLetters, firingId);
        return value.IsNull ? null : JsonSerializer.Deserialize((string)value!, TriggerJsonContext.Default.DeadLetter);
    }

    public Task AddDeadLetterAsync(DeadLetter dead) =>
        redis.GetDatabase().HashSetAsync(TriggerKeys.DeadLetters, dead.FiringId, JsonSerializer.Serialize(dead, TriggerJsonContext.Default.DeadLetter));

    public Task<bool> RemoveDeadLetterAsync(string firingId) => redis.GetDatabase().HashDeleteAsync(TriggerKeys.DeadLetters, firingId);

    private static TriggerRule Parse(string raw) => JsonSerializer.Deserialize(raw, TriggerJsonContext.Default.TriggerRule)!;
}
