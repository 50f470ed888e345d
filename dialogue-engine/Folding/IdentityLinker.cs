using System.Text.Json;
using Ecrm.Common.Catalog;
using Ecrm.Common.Storage;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Folding;

public enum LinkOutcome
{
    Linked,
    AlreadyLinked,

    /// <summary>The id already belongs to another customer; two known customers are never merged silently.</summary>
    Refused,
}

/// <summary>
/// Links an id (an anonymous visitor's, or the earlier id of an alias) to a customer and merges its
/// dialogues into the customer's: the deeper stage wins, the earliest first-reached times and
/// first interaction win, counts add up. The two ids live in different Redis Cluster slots, so the
/// merge is three scripts, each atomic and each safe to repeat: (1) in the id's slot, claim it for
/// the customer (from then on the fold redirects its events) and read its dialogues; (2) in the
/// customer's slot, merge them once (a marker makes a repeat add nothing); (3) in the id's slot,
/// delete what was merged. A crash between steps is repaired by the re-delivered identify event.
/// </summary>
public sealed class IdentityLinker(IConnectionMultiplexer redis, IOptions<EngineOptions> options)
{
    // KEYS[1] owner of the id, KEYS[2] the id's topic index, KEYS[3], KEYS[4] and KEYS[5] the id's
    // traits, linked ids and known-user marker: an id that has any was identified, a known customer.
    // ARGV[1] the customer, ARGV[2] the id's dialogue key prefix, ARGV[3] '1' when known customers may
    // merge, ARGV[4] '1' when the id may only be re-claimed by the customer that owns it already.
    // Returns {status, topic, field, value, field, value, ..., '', topic, ...}: status 0 refused, 1 claimed.
    private const string ClaimScript =
        """
        local owner = redis.call('GET', KEYS[1])
        if owner and owner ~= ARGV[1] then return {0} end
        if (not owner) and ARGV[4] == '1' then return {0} end
        if (not owner) and ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[3], KEYS[4], KEYS[5]) > 0 then return {0} end
        redis.call('SET', KEYS[1], ARGV[1])
        local out = {1}
        for _, topic in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
          out[#out + 1] = topic
          for _, v in ipairs(redis.call('HGETALL', ARGV[2] .. topic)) do out[#out + 1] = v end
          out[#out + 1] = ''
        end
        return out
        """;

    // KEYS[1] merge marker, KEYS[2] the customer's topic index. ARGV[1] the customer's dialogue key prefix,
    // ARGV[2] last stage, ARGV[3] marker TTL (s), ARGV[4] score half-life (ms), then per topic: topic,
    // field count n, n fields and values. Both scores are decayed to the later last interaction and added.
    // Returns "topic\tfrom\tto" lines for dialogues whose stage rose.
    private const string MergeScript =
        """
        if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[3]) == false then return '' end
        local lastStage = tonumber(ARGV[2])
        local out = {}
        local halfLife = tonumber(ARGV[4])
        local i = 5
        while i <= #ARGV do
          local topic = ARGV[i]
          local n = tonumber(ARGV[i + 1])
          local key = ARGV[1] .. topic
          local before = tonumber(redis.call('HGET', key, 'stage') or '0')
          local stage = before
          local theirs = {}
          for j = i + 2, i + 1 + 2 * n, 2 do theirs[ARGV[j]] = ARGV[j + 1] end
          local mine = redis.call('HMGET', key, 'score', 'last')
          local myLast, theirLast = tonumber(mine[2]), tonumber(theirs['last'])
          if theirLast and theirs['score'] then
            local score = tonumber(theirs['score'])
            if myLast and mine[1] then
              local at = math.max(myLast, theirLast)
              score = tonumber(mine[1]) * math.pow(0.5, (at - myLast) / halfLife) + score * math.pow(0.5, (at - theirLast) / halfLife)
            end
            redis.call('HSET', key, 'score', string.format('%.6f', score))
          end
          for field, value in pairs(theirs) do
            local reached = string.match(field, '^s(%d+):at$')
            if string.sub(field, 1, 2) == 'n:' then
              redis.call('HINCRBY', key, field, value)
            elseif field == 'stage' then
              if tonumber(value) > stage then stage = tonumber(value) end
            elseif field == 'first' then
              local mine = redis.call('HGET', key, 'first')
              if (not mine) or tonumber(value) < tonumber(mine) then redis.call('HSET', key, 'first', value) end
            elseif reached then
              local mine = redis.call('HGET', key, field)
              if (not mine) or tonumber(value) < tonumber(mine) then
                redis.call('HSET', key, field, value, 's' .. reached .. ':ch', theirs['s' .. reached .. ':ch'] or '')
              end
            elseif field == 'last' then
              local mine = redis.call('HGET', key, 'last')
              if (not mine) or tonumber(value) > tonumber(mine) then redis.call('HSET', key, 'last', value) end
              redis.call('ZADD', KEYS[2], 'GT', value, topic)
            elseif field == 'catver' then
              redis.call('HSETNX', key, 'catver', value)
            end
          end
          if stage > before then
            local status = 'open'
            if stage >= lastStage then status = 'converted' end
            redis.call('HSET', key, 'stage', stage, 'status', status)
            out[#out + 1] = topic .. '\t' .. before .. '\t' .. stage
          end
          i = i + 2 + 2 * n
        end
        return table.concat(out, '\n')
        """;

    // KEYS[1] the id's topic index. ARGV[1] the id's dialogue key prefix, ARGV[2] its history key prefix.
    private const string ForgetScript =
        """
        for _, topic in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do redis.call('DEL', ARGV[1] .. topic, ARGV[2] .. topic) end
        redis.call('DEL', KEYS[1])
        return 1
        """;

    private readonly TimeSpan _markerTtl = TimeSpan.FromDays(options.Value.DedupeWindowDays);

    /// <summary>
    /// Links <paramref name="id"/> to <paramref name="customer"/> and merges its dialogues. Returns the
    /// stage changes the merge made. An <paramref name="unverified"/> link (a browser naming a user id it
    /// has not proved) never claims a known id, and with <paramref name="customerIsKnown"/> it links only
    /// what the customer owns already, so that a repeated identify stays idempotent.
    /// </summary>
    public async Task<(LinkOutcome Outcome, IReadOnlyList<StageTransition> Transitions)> LinkAsync(
        string id, string customer, TopicCatalog catalog, bool unverified = false, bool customerIsKnown = false)
    {
        if (id == customer)
        {
            return (LinkOutcome.AlreadyLinked, []);
        }

        var database = redis.GetDatabase();
        var idPrefix = RedisKeys.DialoguePrefix(id);
        var claimed = (RedisResult[])(await database.ScriptEvaluateAsync(ClaimScript,
            [RedisKeys.Owner(id), RedisKeys.CustomerTopics(id), RedisKeys.Traits(id), RedisKeys.Identities(id), RedisKeys.KnownUser(id)],
            [customer, idPrefix, catalog.Settings.MergeKnownCustomers && !unverified ? "1" : "0", unverified && customerIsKnown ? "1" : "0"]))!;
        if ((int)claimed[0] == 0)
        {
            return (LinkOutcome.Refused, []);
        }

        var arguments = new List<RedisValue>
        {
            RedisKeys.DialoguePrefix(customer), catalog.Stages.Last, (long)_markerTtl.TotalSeconds, (long)catalog.Settings.ScoreHalfLife.TotalMilliseconds,
        };
        var topics = 0;
        for (var i = 1; i < claimed.Length;)
        {
            var topic = (string)claimed[i++]!;
            var fields = new List<RedisValue>();
            while ((string)claimed[i]! != "")
            {
                fields.Add((RedisValue)claimed[i++]);
            }

            i++;
            arguments.Add(topic);
            arguments.Add(fields.Count / 2);
            arguments.AddRange(fields);
            topics++;
        }

        await database.SetAddAsync(RedisKeys.Identities(customer), id);
        var merged = topics == 0 ? "" : (string)(await database.ScriptEvaluateAsync(MergeScript,
            [RedisKeys.Merged(customer, id), RedisKeys.CustomerTopics(customer)], [.. arguments]))!;
        await database.ScriptEvaluateAsync(ForgetScript, [RedisKeys.CustomerTopics(id)], [idPrefix, RedisKeys.DialogueHistoryPrefix(id)]);

        var transitions = merged.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .Select(parts => new StageTransition(customer, parts[0], int.Parse(parts[1]), int.Parse(parts[2]), catalog.Version))
            .ToList();
        return (topics == 0 ? LinkOutcome.AlreadyLinked : LinkOutcome.Linked, transitions);
    }

    /// <summary>
    /// Keeps identify traits in the customer's profile, one field per trait, values as JSON, except the
    /// <paramref name="withheld"/> ones. Returns how many traits were withheld.
    /// </summary>
    public async Task<int> SaveTraitsAsync(string customer, JsonElement traits, IReadOnlySet<string>? withheld = null)
    {
        if (traits.ValueKind != JsonValueKind.Object)
        {
            return 0;
        }

        var entries = new List<HashEntry>();
        var skipped = 0;
        foreach (var trait in traits.EnumerateObject())
        {
            if (withheld?.Contains(trait.Name) == true)
            {
                skipped++;
                continue;
            }

            entries.Add(new HashEntry(trait.Name, trait.Value.GetRawText()));
        }

        if (entries.Count > 0)
        {
            await redis.GetDatabase().HashSetAsync(RedisKeys.Traits(customer), [.. entries]);
        }

        return skipped;
    }

    /// <summary>
    /// Which of the ids are known customers: named as a userId, or holding linked ids. (Traits alone do
    /// not count: an anonymous visitor's own opt-out is a trait.) Read in one pipelined round trip.
    /// </summary>
    public async Task<HashSet<string>> KnownCustomersAsync(IReadOnlyCollection<string> ids)
    {
        var known = new HashSet<string>(StringComparer.Ordinal);
        if (ids.Count == 0)
        {
            return known;
        }

        var batch = redis.GetDatabase().CreateBatch();
        var checks = ids.Select(id => (Id: id, Count: batch.KeyExistsAsync([RedisKeys.KnownUser(id), RedisKeys.Identities(id)]))).ToList();
        batch.Execute();
        foreach (var (id, count) in checks)
        {
            if (await count > 0)
            {
                known.Add(id);
            }
        }

        return known;
    }
}
