-- Folds one customer's events of a batch into the customer's dialogues, in batch order, in one call.
-- Per-call values are named parameters (DialogueStore.FoldParameters); the layout's names (written with a dollar
-- sign) are bound when the script is loaded (DialogueStore.LayoutNames), so the layout is spelled once, in
-- DialogueFields and FoldStateFields, and costs no argument per call.
--
-- Each event is an array: {messageId, partition, offset, time (unix ms), channel, namesUser (0/1),
-- recordKnown (0/1), topic, stage, topic, stage, ...}; @IdHashes holds the events' message id hashes,
-- 8 bytes each, in the same order. An event folds at most once:
--   * re-delivered by Kafka: its offset is at or below the last offset applied from its partition,
--     which the customer's fold state keeps (partition -1, a replay from the archive, has none). Events
--     that came under another id (@Source, set when the fold follows that id's owner here) keep their
--     offsets apart, per id and partition: within a batch they arrive beside the customer's own, out of
--     offset order with them, and each id's events are in offset order among themselves;
--   * re-sent by a client or the collector's spool (a new offset): its id hash is among the customer's
--     latest @RecentLimit, kept in one field of the fold state.
-- The fold state expires @StateRetention ms after the customer's last fold. That is the bound on dedupe
-- memory per customer: a field per partition, @RecentLimit × 8 bytes, and the unpublished changes.
-- A repeated event whose stage changes were not yet published hands them back for publishing again.
--
-- recordKnown marks an unverified identify or alias naming this customer: whether the customer was
-- known (named as a user id, or holding linked ids) when the event came is kept with its fold, so the
-- identity merge after the batch's folds, and its repeat after a crash, decide on that and not on what
-- later events of the batch made of the customer.
-- Returns {kind, owner, redirected, changes, dead, known}:
--   kind 'R': the id belongs to the returned owner now; 'redirected' lists (comma-separated) the indexes of the
--     events to fold there. Nothing of them was written here.
--   kind 'F': folded. 'changes' holds one line per stage change, "index\ttopic\tfrom\tto\tepisode\tcatalog".
--   'known' holds "index\t0|1" lines, one per recordKnown event.
--   'dead' holds "index\treason" lines: events that cannot be applied (a value out of range, a corrupt
--   dialogue). They write nothing but their dedupe state, so a re-delivery does not retry them.
--
-- Each redis.call costs Redis a few microseconds, so every key is read once (HMGET) and written once (HSET).
local events = cjson.decode(@Events)
local idHashes = @IdHashes
local lastStage = tonumber(@LastStage)
local dormancy = tonumber(@Dormancy)
local halfLife = tonumber(@HalfLife)
local grace = tonumber(@Grace)
local catalogVersion = @CatalogVersion
local recentBytes = 8 * tonumber(@RecentLimit)

-- HSET of field/value pairs, in slices: unpack is bounded by Lua's C stack.
local function hset(key, pairsList)
  for k = 1, #pairsList, 400 do
    redis.call('HSET', key, unpack(pairsList, k, math.min(k + 399, #pairsList)))
  end
end

local source = @Source
local positionSuffix = ''
if source ~= '' then positionSuffix = ':' .. source end

-- The fold state this call needs, in one read: the recent id hashes, and the applied offset of each
-- partition the events came from.
local wanted = {$RecentIdsField}
local positionAt = {}
for i = 1, #events do
  local partition = events[i][2]
  if partition >= 0 and positionAt[partition] == nil then
    wanted[#wanted + 1] = $PositionPrefix .. partition .. positionSuffix
    positionAt[partition] = #wanted
  end
end
local foldState = redis.call('HMGET', @FoldState, unpack(wanted))
local recentIds = foldState[1] or ''
local applied = {}
for partition, at in pairs(positionAt) do applied[partition] = tonumber(foldState[at] or '-1') or -1 end

-- Whether an 8-byte hash is one of the recent ids (a match must start on an entry's boundary).
local function isRecent(hash)
  local from = 1
  while true do
    local at = string.find(recentIds, hash, from, true)
    if not at then return false end
    if at % 8 == 1 then return true end
    from = at + 1
  end
end

local changes = {}
local function addPending(index, pending)
  local version = ''
  for line in string.gmatch(pending, '[^\n]+') do
    if version == '' then version = string.sub(line, 2) else changes[#changes + 1] = index .. '\t' .. line .. '\t' .. version end
  end
end

-- 1. What is new here. The customer's own dedupe state comes before its owner: an event folded before
-- its id was merged is in the customer's dialogue already (the merge carried it), so its re-delivery
-- must not fold again there.
local fresh = {}
local seen = {}
local known = {}
local knownOf = {}
local stateWrites = {}
local namedUser = false
for i = 1, #events do
  local e = events[i]
  local id, partition, offset = e[1], e[2], e[3]
  if seen[id] then
    -- The same message twice in this call: its first occurrence stands for both.
    if e[7] == 1 and knownOf[id] then known[#known + 1] = i .. '\t' .. knownOf[id] end
  elseif (partition >= 0 and offset <= applied[partition]) or isRecent(string.sub(idHashes, 8 * i - 7, 8 * i)) then
    seen[id] = true
    local pending = redis.call('HGET', @FoldState, $PendingPrefix .. id)
    if pending then addPending(i, pending) end
    if e[7] == 1 then
      local wasKnown = redis.call('HGET', @FoldState, $KnownPrefix .. id)
      if wasKnown then
        knownOf[id] = wasKnown
        known[#known + 1] = i .. '\t' .. wasKnown
      end
    end
  else
    seen[id] = true
    fresh[#fresh + 1] = i
    if e[7] == 1 and source == '' then
      local wasKnown = '0'
      if namedUser or redis.call('EXISTS', @KnownUser, @Identities) > 0 then wasKnown = '1' end
      stateWrites[#stateWrites + 1] = $KnownPrefix .. id
      stateWrites[#stateWrites + 1] = wasKnown
      knownOf[id] = wasKnown
      known[#known + 1] = i .. '\t' .. wasKnown
    end
    if e[6] == 1 and source == '' then namedUser = true end
  end
end
-- NX: a customer named before changes nothing, and nothing goes to the AOF.
if namedUser then redis.call('SET', @KnownUser, '1', 'NX') end

if #fresh > 0 then
  local owner = redis.call('GET', @Owner)
  if owner then
    if #stateWrites > 0 then
      hset(@FoldState, stateWrites)
      redis.call('PEXPIRE', @FoldState, @StateRetention)
    end
    return {'R', owner, table.concat(fresh, ','), table.concat(changes, '\n'), '', table.concat(known, '\n')}
  end
end

-- 2. Fold what is new.
local fields = {$StageField, $StatusField, $FirstField, $LastField, $EpisodeField, $ScoreField, $StagePrefix .. lastStage .. $ReachedAtSuffix}
local numeric = {true, false, true, true, true, true, true, true, true}
local dead = {}
local addedIds = {}
local positionsChanged = {}

-- Reads a dialogue's state (the fields above, then the stage's time and the channel's count), or
-- returns nil and why it cannot be folded into.
local function readState(topic, stage, channel)
  local key = @DialoguePrefix .. topic
  local ok, d = pcall(redis.call, 'HMGET', key, fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7],
    $StagePrefix .. stage .. $ReachedAtSuffix, $CountPrefix .. channel)
  if not ok then return nil, 'the dialogue ' .. topic .. ' is not a hash' end
  for k = 1, 9 do
    if d[k] and numeric[k] and not tonumber(d[k]) then
      return nil, 'the dialogue ' .. topic .. ' is corrupt: ' .. (fields[k] or 'a stage time or count') .. ' is "' .. d[k] .. '"'
    end
  end
  return d
end

for _, i in ipairs(fresh) do
  local e = events[i]
  local id, partition, offset, ts, channel = e[1], e[2], e[3], e[4], e[5]
  local reason = nil
  local states = {}
  if type(ts) ~= 'number' or ts < 0 or ts > 253402300799999 then
    reason = 'its time ' .. tostring(ts) .. ' is out of range'
  elseif type(channel) ~= 'string' or channel == '' then
    reason = 'it has no channel'
  else
    for j = 8, #e, 2 do
      local topic, stage = e[j], e[j + 1]
      if type(stage) ~= 'number' or stage < 1 or stage > lastStage or stage % 1 ~= 0 then
        reason = 'its stage ' .. tostring(stage) .. ' of ' .. tostring(topic) .. ' is outside 1..' .. lastStage
        break
      end
      local d, why = readState(topic, stage, channel)
      if not d then reason = why break end
      states[#states + 1] = {topic, stage, d}
    end
  end

  if reason then
    dead[#dead + 1] = i .. '\t' .. reason
  else
    local out = {}
    local tsText = string.format('%.0f', ts)
    for _, state in ipairs(states) do
      local topic, stage, d = state[1], state[2], state[3]
      local key = @DialoguePrefix .. topic
      local current = tonumber(d[1] or '0')
      local first = tonumber(d[3])
      local last = tonumber(d[4])
      local episode = tonumber(d[5] or '1')
      local score = tonumber(d[6] or '0')
      local reachedAt = tonumber(d[8])
      local count = tonumber(d[9] or '0')
      local writes = {}
      -- An interaction after a long silence, or after the purchase and its grace period, opens a new
      -- episode; the finished one moves to the dialogue's history, of which the latest 20 are kept.
      if last and ts > last and (ts - last >= dormancy or (d[2] == $ConvertedStatus and ts > tonumber(d[7] or last) + grace)) then
        local all = redis.call('HGETALL', key)
        local finished = {}
        for f = 1, #all, 2 do finished[all[f]] = all[f + 1] end
        finished[$EpisodeField] = tostring(episode)
        redis.call('RPUSH', @HistoryPrefix .. topic, cjson.encode(finished))
        redis.call('LTRIM', @HistoryPrefix .. topic, -20, -1)
        redis.call('DEL', key)
        episode = episode + 1
        current, first, last, score, reachedAt, count = 0, nil, nil, 0, nil, 0
        writes[#writes + 1] = $EpisodeField
        writes[#writes + 1] = episode
      end
      writes[#writes + 1] = $CountPrefix .. channel
      writes[#writes + 1] = string.format('%.0f', count + 1)
      -- A late event from before this episode began belongs to an earlier one: it is counted, but it
      -- moves neither this episode's stage nor its times.
      if not (episode > 1 and first and ts < first) then
        if (not first) or ts < first then
          writes[#writes + 1] = $FirstField
          writes[#writes + 1] = tsText
        end
        -- The score is kept as of the last interaction; a late one adds its weight decayed to then.
        if (not last) or ts > last then
          if last then score = score * math.pow(0.5, (ts - last) / halfLife) end
          score = score + stage
          writes[#writes + 1] = $LastField
          writes[#writes + 1] = tsText
        else
          score = score + stage * math.pow(0.5, (last - ts) / halfLife)
        end
        writes[#writes + 1] = $ScoreField
        writes[#writes + 1] = string.format('%.6f', score)
        -- Each stage keeps when it was first reached and how, even when a late event reaches it after a
        -- deeper stage: the history fills in, the current stage never goes back.
        if (not reachedAt) or ts < reachedAt then
          writes[#writes + 1] = $StagePrefix .. stage .. $ReachedAtSuffix
          writes[#writes + 1] = tsText
          writes[#writes + 1] = $StagePrefix .. stage .. $ReachedViaSuffix
          writes[#writes + 1] = channel
        end
        if stage > current then
          local status = $OpenStatus
          if stage >= lastStage then status = $ConvertedStatus end
          writes[#writes + 1] = $StageField
          writes[#writes + 1] = stage
          writes[#writes + 1] = $CatalogVersionField
          writes[#writes + 1] = catalogVersion
          writes[#writes + 1] = $StatusField
          writes[#writes + 1] = status
          out[#out + 1] = topic .. '\t' .. current .. '\t' .. stage .. '\t' .. episode
        end
      end
      redis.call('HSET', key, unpack(writes))
      redis.call('ZADD', @Topics, 'GT', tsText, topic)
    end
    if #out > 0 then
      -- Kept until the changes are published (DialogueStore.MarkPublishedAsync), for a repeat to hand back.
      stateWrites[#stateWrites + 1] = $PendingPrefix .. id
      stateWrites[#stateWrites + 1] = 'F' .. catalogVersion .. '\n' .. table.concat(out, '\n')
      for _, line in ipairs(out) do changes[#changes + 1] = i .. '\t' .. line .. '\t' .. catalogVersion end
    end
  end

  if partition >= 0 and offset > applied[partition] then
    applied[partition] = offset
    positionsChanged[partition] = true
  end
  addedIds[#addedIds + 1] = string.sub(idHashes, 8 * i - 7, 8 * i)
end

-- 3. The dedupe state, written once: the last offset per partition, the latest ids (oldest first, the
-- oldest dropped beyond the limit), and the state's expiry.
for partition, _ in pairs(positionsChanged) do
  stateWrites[#stateWrites + 1] = $PositionPrefix .. partition .. positionSuffix
  stateWrites[#stateWrites + 1] = string.format('%.0f', applied[partition])
end
if #addedIds > 0 then
  local ids = recentIds .. table.concat(addedIds)
  if #ids > recentBytes then ids = string.sub(ids, -recentBytes) end
  stateWrites[#stateWrites + 1] = $RecentIdsField
  stateWrites[#stateWrites + 1] = ids
end
if #stateWrites > 0 then
  hset(@FoldState, stateWrites)
  redis.call('PEXPIRE', @FoldState, @StateRetention)
end
return {'F', '', '', table.concat(changes, '\n'), table.concat(dead, '\n'), table.concat(known, '\n')}
