using StackExchange.Redis;

namespace Ecrm.DialogueEngine.Triggers;

/// <summary>
/// Every trigger script, each touching keys of one shard only (one hash tag), so each runs atomically
/// on a Redis Cluster too.
/// </summary>
internal static class TriggerScripts
{
    /// <summary>Adds a wait unless the firing already happened or the wait exists (a re-delivered transition keeps the first due time). 1 when added.</summary>
    public static readonly LuaScript Schedule = LuaScript.Prepare(
        """
        if redis.call('EXISTS', @fired) == 1 then return 0 end
        if redis.call('HEXISTS', @jobs, @id) == 1 then return 0 end
        redis.call('HSET', @jobs, @id, @body)
        redis.call('ZADD', @due, @at, @id)
        return 1
        """);

    /// <summary>Removes a wait (its cancel transition arrived first). 1 when there was one.</summary>
    public static readonly LuaScript Cancel = LuaScript.Prepare(
        """
        redis.call('ZREM', @due, @id)
        return redis.call('HDEL', @jobs, @id)
        """);

    /// <summary>Leases up to @limit due jobs: their due time moves to the lease's end, so a crashed worker's jobs come back. Returns id, body pairs.</summary>
    public static readonly LuaScript Claim = LuaScript.Prepare(
        """
        local ids = redis.call('ZRANGEBYSCORE', @due, '-inf', @now, 'LIMIT', 0, @limit)
        local out = {}
        for _, id in ipairs(ids) do
          local body = redis.call('HGET', @jobs, id)
          if body then
            redis.call('ZADD', @due, @leaseUntil, id)
            out[#out + 1] = id
            out[#out + 1] = body
          else
            redis.call('ZREM', @due, id)
          end
        end
        return out
        """);

    /// <summary>
    /// Turns a wait (or an immediate evaluation) into a delivery, once: 'gone' when the wait was
    /// cancelled meanwhile, 'duplicate' when this firing already happened, 'limited' when the rule's
    /// per-customer-and-topic period holds (recorded as suppressed), 'fired' otherwise.
    /// </summary>
    public static readonly LuaScript Commit = LuaScript.Prepare(
        """
        if redis.call('HEXISTS', @jobs, @waitId) == 0 then return 'gone' end
        redis.call('ZREM', @due, @waitId)
        redis.call('HDEL', @jobs, @waitId)
        if redis.call('SET', @fired, @firingId, 'NX', 'EX', @firedTtl) == false then return 'duplicate' end
        if tonumber(@limitTtl) > 0 and redis.call('SET', @limit, @firingId, 'NX', 'EX', @limitTtl) == false then
          redis.call('LPUSH', @outbox, @suppressedRow)
          return 'limited'
        end
        redis.call('HSET', @jobs, @deliveryId, @deliveryBody)
        redis.call('ZADD', @due, @leaseUntil, @deliveryId)
        redis.call('LPUSH', @outbox, @firedRow)
        return 'fired'
        """);

    /// <summary>Puts a job back with a new body and due time, unless it was removed meanwhile. 1 when put back.</summary>
    public static readonly LuaScript Reschedule = LuaScript.Prepare(
        """
        if redis.call('HEXISTS', @jobs, @id) == 0 then return 0 end
        redis.call('HSET', @jobs, @id, @body)
        redis.call('ZADD', @due, @at, @id)
        return 1
        """);

    /// <summary>Ends a job and records its outcome for the archive (an empty row records nothing).</summary>
    public static readonly LuaScript Finish = LuaScript.Prepare(
        """
        redis.call('ZREM', @due, @id)
        local removed = redis.call('HDEL', @jobs, @id)
        if @row ~= '' then redis.call('LPUSH', @outbox, @row) end
        return removed
        """);

    /// <summary>Puts a replayed dead letter back as a delivery, due now; 0 when that delivery is already pending.</summary>
    public static readonly LuaScript Replay = LuaScript.Prepare(
        """
        if redis.call('HEXISTS', @jobs, @id) == 1 then return 0 end
        redis.call('HSET', @jobs, @id, @body)
        redis.call('ZADD', @due, @at, @id)
        return 1
        """);

    /// <summary>Counts a firing in the rule's current minute; returns the count so far.</summary>
    public static readonly LuaScript Rate = LuaScript.Prepare(
        """
        local n = redis.call('INCR', @key)
        if n == 1 then redis.call('EXPIRE', @key, 120) end
        return n
        """);
}
