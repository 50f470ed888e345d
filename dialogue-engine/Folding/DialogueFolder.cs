using Ecrm.Common.Events;
using Ecrm.Common.Storage;
using Ecrm.DialogueEngine.Catalog;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Folding;

/// <summary>A stage change: the dialogue (customer, topic) moved from one stage to a deeper one.</summary>
public sealed record StageTransition(string Customer, string Topic, int FromStage, int ToStage, long CatalogVersion);

/// <summary>What folding one event did, or had already done when the event came before.</summary>
public sealed record FoldOutcome(string Customer, bool AlreadyArchived, IReadOnlyList<StageTransition> Transitions);

/// <summary>
/// Folds events into dialogues with one atomic Lua script per event. The script remembers each
/// message id (with the transitions it caused), so a re-delivered or re-sent event changes nothing
/// and still hands back its transitions for archiving if the archive did not get them the first time.
/// </summary>
public sealed class DialogueFolder(IConnectionMultiplexer redis, IOptions<EngineOptions> options)
{
    private const string Archived = "A";
    private const int MaxRedirects = 4;

    // KEYS[1] message marker, KEYS[2] customer's topic index, KEYS[3] the id's owner (set once merged),
    // KEYS[4..] one dialogue hash per matched topic.
    // ARGV[1] event time (unix ms), ARGV[2] channel, ARGV[3] catalog version, ARGV[4] marker TTL (s),
    // ARGV[5] last stage, then (topic, stage) pairs in the order of KEYS[4..].
    // Returns "R<owner>" when the id now belongs to another customer: the caller folds there instead.
    // The marker is "F<catalog version>" then one "topic\tfrom\tto" line per transition, or "A" once archived.
    private const string FoldScript =
        """
        local owner = redis.call('GET', KEYS[3])
        if owner then return 'R' .. owner end
        local marker = redis.call('GET', KEYS[1])
        if marker then return marker end
        local ts = tonumber(ARGV[1])
        local channel = ARGV[2]
        local lastStage = tonumber(ARGV[5])
        local out = {'F' .. ARGV[3]}
        for i = 4, #KEYS do
          local key = KEYS[i]
          local topic = ARGV[2 * i - 2]
          local stage = tonumber(ARGV[2 * i - 1])
          local current = tonumber(redis.call('HGET', key, 'stage') or '0')
          redis.call('HINCRBY', key, 'n:' .. channel, 1)
          local first = redis.call('HGET', key, 'first')
          if (not first) or ts < tonumber(first) then redis.call('HSET', key, 'first', ARGV[1]) end
          local last = redis.call('HGET', key, 'last')
          if (not last) or ts > tonumber(last) then redis.call('HSET', key, 'last', ARGV[1]) end
          -- Each stage keeps when it was first reached and how, even when a late event reaches it
          -- after a deeper stage: the history fills in, the current stage never goes back.
          local reachedAt = redis.call('HGET', key, 's' .. stage .. ':at')
          if (not reachedAt) or ts < tonumber(reachedAt) then
            redis.call('HSET', key, 's' .. stage .. ':at', ARGV[1], 's' .. stage .. ':ch', channel)
          end
          if stage > current then
            local status = 'open'
            if stage >= lastStage then status = 'converted' end
            redis.call('HSET', key, 'stage', ARGV[2 * i - 1], 'catver', ARGV[3], 'status', status)
            out[#out + 1] = topic .. '\t' .. current .. '\t' .. stage
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
        var keys = new RedisKey[3 + matches.Count];
        var values = new RedisValue[5 + 2 * matches.Count];
        keys[0] = RedisKeys.Message(customer, item.MessageId!);
        keys[1] = RedisKeys.CustomerTopics(customer);
        keys[2] = RedisKeys.Owner(customer);
        values[0] = (item.Timestamp ?? item.ReceivedAt ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds();
        values[1] = ChannelNames.Of(item.Channel ?? Channel.Server);
        values[2] = matcher.Catalog.Version;
        values[3] = (long)_dedupeWindow.TotalSeconds;
        values[4] = matcher.Catalog.Stages.Last;
        for (var i = 0; i < matches.Count; i++)
        {
            keys[3 + i] = RedisKeys.Dialogue(customer, matches[i].Topic);
            values[5 + 2 * i] = matches[i].Topic;
            values[6 + 2 * i] = matches[i].Stage;
        }

        return (string)(await redis.GetDatabase().ScriptEvaluateAsync(FoldScript, keys, values))!;
    }

    /// <summary>Records that the archive holds the event, so a later duplicate is dropped outright.</summary>
    public Task MarkArchivedAsync(string customer, EventEnvelope item) =>
        redis.GetDatabase().StringSetAsync(RedisKeys.Message(customer, item.MessageId!), Archived, _dedupeWindow, When.Exists);

    private static FoldOutcome ParseMarker(string customer, string marker)
    {
        if (marker == Archived)
        {
            return new FoldOutcome(customer, true, []);
        }

        var lines = marker.Split('\n');
        var catalogVersion = long.Parse(lines[0].AsSpan(1));
        var transitions = new List<StageTransition>(lines.Length - 1);
        foreach (var line in lines.AsSpan(1))
        {
            var parts = line.Split('\t');
            transitions.Add(new StageTransition(customer, parts[0], int.Parse(parts[1]), int.Parse(parts[2]), catalogVersion));
        }

        return new FoldOutcome(customer, false, transitions);
    }
}
