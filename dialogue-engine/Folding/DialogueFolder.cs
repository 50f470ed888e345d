using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Folding;

/// <summary>
/// A stage change: the dialogue (customer, topic) moved from one stage to a deeper one, or a new
/// episode opened (from stage 0).
/// </summary>
public sealed record StageTransition(string Customer, string Topic, int FromStage, int ToStage, long CatalogVersion, int Episode = 1);

/// <summary>What folding one event did, or had already done when the event came before.</summary>
public sealed record FoldOutcome(string Customer, bool AlreadyPublished, IReadOnlyList<StageTransition> Transitions);

/// <summary>
/// Folds events into dialogues with one atomic Lua script per event. The script remembers each
/// message id (with the transitions it caused), so a re-delivered or re-sent event changes nothing
/// and still hands back its transitions for publishing if they were not published the first time.
/// </summary>
public sealed class DialogueFolder(IConnectionMultiplexer redis, IOptions<EngineOptions> options)
{
    private const string Published = "A";
    private const int MaxRedirects = 4;

    // KEYS[1] message marker, KEYS[2] customer's topic index, KEYS[3] the id's owner (set once merged),
    // KEYS[4] the id's known-user marker, then per matched topic its dialogue hash and its history list.
    // ARGV[1] event time (unix ms), ARGV[2] channel, ARGV[3] catalog version, ARGV[4] marker TTL (s),
    // ARGV[5] last stage, ARGV[6] dormancy (ms), ARGV[7] score half-life (ms), ARGV[8] the grace after
    // a conversion (ms), ARGV[9] '1' when the event names the id as its userId, then (topic, stage)
    // pairs in the order of the dialogue keys.
    // Returns "R<owner>" when the id now belongs to another customer: the caller folds there instead.
    // The marker comes first: an event folded before its id was merged is in the customer's dialogue
    // already (the merge carried it over), so its re-delivery must not fold again there.
    // The marker is "F<catalog version>" then one "topic\tfrom\tto\tepisode" line per transition, or
    // "A" once they are published.
    private const string FoldScript =
        """
        local marker = redis.call('GET', KEYS[1])
        if marker then return marker end
        if ARGV[9] == '1' then redis.call('SET', KEYS[4], '1') end
        local owner = redis.call('GET', KEYS[3])
        if owner then return 'R' .. owner end
        local ts = tonumber(ARGV[1])
        local channel = ARGV[2]
        local lastStage = tonumber(ARGV[5])
        local dormancy = tonumber(ARGV[6])
        local halfLife = tonumber(ARGV[7])
        local out = {'F' .. ARGV[3]}
        for j = 1, (#KEYS - 4) / 2 do
          local key = KEYS[3 + 2 * j]
          local topic = ARGV[8 + 2 * j]
          local stage = tonumber(ARGV[9 + 2 * j])
          local d = redis.call('HMGET', key, 'stage', 'status', 'first', 'last', 'ep', 'score', 's' .. lastStage .. ':at')
          local current = tonumber(d[1] or '0')
          local first = tonumber(d[3])
          local last = tonumber(d[4])
          local episode = tonumber(d[5] or '1')
          local score = tonumber(d[6] or '0')
          -- An interaction after a long silence, or after the purchase and its grace period, opens a
          -- new episode; the finished one moves to the dialogue's history, of which the latest 20 are kept.
          if last and ts > last and (ts - last >= dormancy or (d[2] == 'converted' and ts > tonumber(d[7] or last) + tonumber(ARGV[8]))) then
            local fields = redis.call('HGETALL', key)
            local finished = {}
            for f = 1, #fields, 2 do finished[fields[f]] = fields[f + 1] end
            finished['ep'] = tostring(episode)
            redis.call('RPUSH', KEYS[4 + 2 * j], cjson.encode(finished))
            redis.call('LTRIM', KEYS[4 + 2 * j], -20, -1)
            redis.call('DEL', key)
            episode = episode + 1
            current, first, last, score = 0, nil, nil, 0
            redis.call('HSET', key, 'ep', episode)
          end
          redis.call('HINCRBY', key, 'n:' .. channel, 1)
          -- A late event from before this episode began belongs to an earlier one: it is counted,
          -- but it moves neither this episode's stage nor its times.
          if not (episode > 1 and first and ts < first) then
            if (not first) or ts < first then redis.call('HSET', key, 'first', ARGV[1]) end
            -- The score is kept as of the last interaction; a late one adds its weight decayed to then.
            if (not last) or ts > last then
              if last then score = score * math.pow(0.5, (ts - last) / halfLife) end
              score = score + stage
              redis.call('HSET', key, 'last', ARGV[1])
            else
              score = score + stage * math.pow(0.5, (last - ts) / halfLife)
            end
            redis.call('HSET', key, 'score', string.format('%.6f', score))
            -- Each stage keeps when it was first reached and how, even when a late event reaches it
            -- after a deeper stage: the history fills in, the current stage never goes back.
            local reachedAt = redis.call('HGET', key, 's' .. stage .. ':at')
            if (not reachedAt) or ts < tonumber(reachedAt) then
              redis.call('HSET', key, 's' .. stage .. ':at', ARGV[1], 's' .. stage .. ':ch', channel)
            end
            if stage > current then
              local status = 'open'
              if stage >= lastStage then status = 'converted' end
              redis.call('HSET', key, 'stage', stage, 'catver', ARGV[3], 'status', status)
              out[#out + 1] = topic .. '\t' .. current .. '\t' .. stage .. '\t' .. episode
            end
          end
          redis.call('ZADD', KEYS[2], 'GT', ARGV[1], topic)
        end
        local result = table.concat(out, '\n')
        redis.call('SET', KEYS[1], result, 'EX', ARGV[4])
        return result
        """;

    private readonly TimeSpan _dedupeWindow = TimeSpan.FromDays(options.Value.DedupeWindowDays);

    public async Task<FoldOutcome> FoldAsync(EventEnvelope item, IReadOnlyList<TopicStage> matches, TopicMatcher matcher)
    {
        var customer = item.CustomerKey!;
        // An id merged into another customer redirects; a chain of aliases is followed a few steps.
        for (var hop = 0; hop < MaxRedirects; hop++)
        {
            var marker = await FoldAsAsync(customer, item, matches, matcher);
            if (!marker.StartsWith('R'))
            {
                return ParseMarker(customer, marker);
            }

            customer = marker[1..];
        }

        throw new InvalidOperationException($"identity redirects of {item.CustomerKey} go deeper than {MaxRedirects}");
    }

    private async Task<string> FoldAsAsync(string customer, EventEnvelope item, IReadOnlyList<TopicStage> matches, TopicMatcher matcher)
    {
        var catalog = matcher.Catalog;
        var keys = new RedisKey[4 + 2 * matches.Count];
        var values = new RedisValue[9 + 2 * matches.Count];
        keys[0] = RedisKeys.Message(customer, item.MessageId!);
        keys[1] = RedisKeys.CustomerTopics(customer);
        keys[2] = RedisKeys.Owner(customer);
        keys[3] = RedisKeys.KnownUser(customer);
        values[0] = item.EffectiveTimestamp.ToUnixTimeMilliseconds();
        values[1] = ChannelNames.Of(item.Channel ?? Channel.Server);
        values[2] = catalog.Version;
        values[3] = (long)_dedupeWindow.TotalSeconds;
        values[4] = catalog.Stages.Last;
        values[5] = (long)catalog.Settings.Dormancy.TotalMilliseconds;
        values[6] = (long)catalog.Settings.ScoreHalfLife.TotalMilliseconds;
        values[7] = (long)catalog.Settings.ConversionGrace.TotalMilliseconds;
        // Only the id the event names as its userId is marked, not the customer a redirect leads to; and
        // only when the name is trusted (a server source, a signed browser). An unproved browser's own
        // events must not make its user "known" before its identify links the visitor: a crash between
        // the fold and the link would then refuse the re-delivered identify, and a sign-up whose events
        // came a batch ahead of its identify would never merge. Such users are known by their linked ids.
        values[8] = customer == item.UserId && !EventFlags.Has(item, EventFlags.UnverifiedIdentity) ? "1" : "0";
        for (var i = 0; i < matches.Count; i++)
        {
            keys[4 + 2 * i] = RedisKeys.Dialogue(customer, matches[i].Topic);
            keys[5 + 2 * i] = RedisKeys.DialogueHistory(customer, matches[i].Topic);
            values[9 + 2 * i] = matches[i].Topic;
            values[10 + 2 * i] = matches[i].Stage;
        }

        return (string)(await redis.GetDatabase().ScriptEvaluateAsync(FoldScript, keys, values))!;
    }

    /// <summary>Records that the event's transitions are published, so a later duplicate is dropped outright.</summary>
    public Task MarkPublishedAsync(string customer, EventEnvelope item) =>
        redis.GetDatabase().StringSetAsync(RedisKeys.Message(customer, item.MessageId!), Published, _dedupeWindow, When.Exists);

    private static FoldOutcome ParseMarker(string customer, string marker)
    {
        if (marker == Published)
        {
            return new FoldOutcome(customer, true, []);
        }

        var lines = marker.Split('\n');
        var catalogVersion = long.Parse(lines[0].AsSpan(1));
        var transitions = new List<StageTransition>(lines.Length - 1);
        foreach (var line in lines.AsSpan(1))
        {
            var parts = line.Split('\t');
            transitions.Add(new StageTransition(customer, parts[0], int.Parse(parts[1]), int.Parse(parts[2]), catalogVersion, int.Parse(parts[3])));
        }

        return new FoldOutcome(customer, false, transitions);
    }
}
