using StackExchange.Redis;

namespace Ecrm.Recommender.Recommending;

/// <summary>
/// The recommender's Redis script. Every key it reads carries the customer's hash tag (the dialogue keys
/// are built from their prefix inside the script), so it runs in one Redis Cluster slot.
/// </summary>
internal static class SignalScripts
{
    /// <summary>
    /// A customer's live state in one round trip. Returns <c>{'', 2}</c> when the caller may read only an
    /// anonymous visitor's own id (<c>@refuseKnown</c>) and this id is a known customer's, checked before
    /// following the owner so an old user id aliased away is refused too; <c>{owner}</c> when the id
    /// belongs to another customer (the caller asks again for that one); <c>{'', 1}</c> when the customer is suppressed
    /// (nothing else is read); otherwise <c>{'', 0, served field/value pairs, topic, dialogue field/value
    /// pairs, topic, {stage, status}, topic, ...}</c>, the topics most recently active first. Of each
    /// dialogue only the stage and status are read: the rules need no more, and reading, sending and
    /// parsing whole dialogue hashes (stage times, channels, counts) cost 5 KB of the 34.6 KB a request
    /// allocated (<c>benchmarks/recommender-load.sh</c>, 2026-11-26).
    /// </summary>
    public static readonly LuaScript ReadCustomer = LuaScript.Prepare(
        """
        if @refuseKnown == '1' and redis.call('EXISTS', @knownUser, @identities) > 0 then return {'', 2} end
        if @followOwner == '1' then
          local owner = redis.call('GET', @owner)
          if owner then return {owner} end
        end
        local flags = redis.call('HMGET', @traits, 'suppressed', 'optedOut')
        if flags[1] == 'true' or flags[2] == 'true' then return {'', 1} end
        local out = {'', 0, {}}
        if @readServed == '1' then out[3] = redis.call('HGETALL', @served) end
        local topics = redis.call('ZREVRANGE', @topics, 0, tonumber(@limit) - 1)
        for _, topic in ipairs(topics) do
          local fields = redis.call('HMGET', @dialoguePrefix .. topic, @stageField, @statusField)
          if fields[1] then
            out[#out + 1] = topic
            out[#out + 1] = fields
          end
        end
        return out
        """);
}
