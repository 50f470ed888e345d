-- The recommender's read of a customer's live state, in one round trip. Every key it reads carries the
-- customer's hash tag (the dialogue keys are built from their prefix here), so it runs in one Redis
-- Cluster slot. Returns {'', 2} when the caller may read only an anonymous visitor's own id (refuseKnown)
-- and this id is a known customer's, checked before following the owner so an old user id aliased away
-- is refused too; {owner} when the id belongs to another customer (the caller asks again for that one);
-- {'', 1} when the customer is suppressed (nothing else is read); otherwise {'', 0, served field/value
-- pairs, topic, {stage, status}, topic, ...}, the topics most recently active first. Of each dialogue
-- only the stage and status are read: the rules need no more, and reading whole dialogue hashes cost
-- 5 KB of the 34.6 KB a request allocated (BENCHMARKS.md, recommender).
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
