-- Step 3 of linking, in the id's slot: delete the dialogues the merge carried over. The id's dedupe
-- state (applied offsets, recent ids, unpublished stage changes) stays until it expires with its last
-- fold's retention: an event of the id re-delivered meanwhile is recognised here, before the fold
-- follows the owner.
for _, topic in ipairs(redis.call('ZRANGE', @Topics, 0, -1)) do
  redis.call('DEL', @DialoguePrefix .. topic, @HistoryPrefix .. topic)
end
redis.call('DEL', @Topics)
return 1
