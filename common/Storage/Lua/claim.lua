-- Step 1 of linking an id to a customer, in the id's slot: claim the id (from then on the fold
-- redirects its events to @Customer) and read what the merge needs: its dialogues and its dedupe state.
-- Refused (returns {0}) when the id belongs to another customer; when @OnlyOwned is '1' and the id is
-- not the customer's already; or, unless @MergeKnown is '1', when the id is a known customer itself
-- (it has traits, linked ids or was named as a user id).
-- Returns {1, positions, recentIds, dialogues}: positions as HGETALL pairs of the fold state's position
-- fields, the recent id hashes as the fold state keeps them, dialogues as {topic, HGETALL pairs, topic, ...}.
local owner = redis.call('GET', @Owner)
if owner and owner ~= @Customer then return {0} end
if (not owner) and @OnlyOwned == '1' then return {0} end
if (not owner) and @MergeKnown ~= '1' and redis.call('EXISTS', @Traits, @Identities, @KnownUser) > 0 then return {0} end
redis.call('SET', @Owner, @Customer)
local positions = {}
local recentIds = ''
local state = redis.call('HGETALL', @FoldState)
for f = 1, #state, 2 do
  if state[f] == $RecentIdsField then
    recentIds = state[f + 1]
  elseif string.sub(state[f], 1, #$PositionPrefix) == $PositionPrefix then
    positions[#positions + 1] = state[f]
    positions[#positions + 1] = state[f + 1]
  end
end
local dialogues = {}
for _, topic in ipairs(redis.call('ZRANGE', @Topics, 0, -1)) do
  dialogues[#dialogues + 1] = topic
  dialogues[#dialogues + 1] = redis.call('HGETALL', @DialoguePrefix .. topic)
end
return {1, positions, recentIds, dialogues}
