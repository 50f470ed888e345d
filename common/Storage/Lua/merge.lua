-- Step 2 of linking, in the customer's slot: merge the claimed id's dialogues into the customer's, once
-- (the fold state's merged field for the id makes a repeat add nothing). The deeper stage wins, the
-- earliest first interaction and stage times win, counts add up, and both scores are decayed to the
-- later last interaction and added. The id's dedupe state comes along: the later applied offset per
-- partition, and its recent ids, so a re-delivery or re-send of its events is still recognised here.
-- @Dialogues is JSON: [[topic, {field: value, ...}], ...]; @Positions JSON {field: offset}; @RecentIds
-- the id's recent id hashes (8 bytes each, oldest first), as the fold state keeps them.
-- Layout names (with a dollar sign) are bound when the script is loaded, as in fold.lua.
-- Returns "topic\tfrom\tto" lines for dialogues whose stage rose.
if redis.call('HSETNX', @FoldState, $MergedPrefix .. @MergedId, '1') == 0 then return '' end
local lastStage = tonumber(@LastStage)
local halfLife = tonumber(@HalfLife)
local out = {}
for _, entry in ipairs(cjson.decode(@Dialogues)) do
  local topic, theirs = entry[1], entry[2]
  local key = @DialoguePrefix .. topic
  local before = tonumber(redis.call('HGET', key, $StageField) or '0')
  local stage = before
  local mine = redis.call('HMGET', key, $ScoreField, $LastField)
  local myLast, theirLast = tonumber(mine[2]), tonumber(theirs[$LastField])
  if theirLast and theirs[$ScoreField] then
    local score = tonumber(theirs[$ScoreField])
    if myLast and mine[1] then
      local at = math.max(myLast, theirLast)
      score = tonumber(mine[1]) * math.pow(0.5, (at - myLast) / halfLife) + score * math.pow(0.5, (at - theirLast) / halfLife)
    end
    redis.call('HSET', key, $ScoreField, string.format('%.6f', score))
  end
  for field, value in pairs(theirs) do
    local reached = string.sub(field, 1, #$StagePrefix) == $StagePrefix and string.sub(field, -#$ReachedAtSuffix) == $ReachedAtSuffix
    if string.sub(field, 1, #$CountPrefix) == $CountPrefix then
      redis.call('HINCRBY', key, field, value)
    elseif field == $StageField then
      if tonumber(value) > stage then stage = tonumber(value) end
    elseif field == $FirstField then
      local own = redis.call('HGET', key, $FirstField)
      if (not own) or tonumber(value) < tonumber(own) then redis.call('HSET', key, $FirstField, value) end
    elseif reached then
      local own = redis.call('HGET', key, field)
      if (not own) or tonumber(value) < tonumber(own) then
        local via = string.sub(field, 1, #field - #$ReachedAtSuffix) .. $ReachedViaSuffix
        redis.call('HSET', key, field, value, via, theirs[via] or '')
      end
    elseif field == $LastField then
      local own = redis.call('HGET', key, $LastField)
      if (not own) or tonumber(value) > tonumber(own) then redis.call('HSET', key, $LastField, value) end
      redis.call('ZADD', @Topics, 'GT', value, topic)
    elseif field == $CatalogVersionField then
      redis.call('HSETNX', key, $CatalogVersionField, value)
    end
  end
  if stage > before then
    local status = $OpenStatus
    if stage >= lastStage then status = $ConvertedStatus end
    redis.call('HSET', key, $StageField, stage, $StatusField, status)
    out[#out + 1] = topic .. '\t' .. before .. '\t' .. stage
  end
end
-- The id's own offsets ("p:3") are kept here as offsets of events that came under that id ("p:3:id");
-- offsets it kept for other ids it had followed stay as they are.
for field, offset in pairs(cjson.decode(@Positions)) do
  if string.match(field, '^' .. $PositionPrefix .. '%d+$') then field = field .. ':' .. @MergedId end
  local own = tonumber(redis.call('HGET', @FoldState, field) or '-1')
  if tonumber(offset) > own then redis.call('HSET', @FoldState, field, offset) end
end
-- The id's recent ids go before the customer's (older, as far as the customer is concerned), the oldest
-- dropped beyond the limit.
local recentBytes = 8 * tonumber(@RecentLimit)
local ids = @RecentIds .. (redis.call('HGET', @FoldState, $RecentIdsField) or '')
if #ids > recentBytes then ids = string.sub(ids, -recentBytes) end
if #ids > 0 then redis.call('HSET', @FoldState, $RecentIdsField, ids) end
redis.call('PEXPIRE', @FoldState, @StateRetention)
return table.concat(out, '\n')
