-- A worker died: drop the concurrency leases it held (members start with its owner prefix, ARGV[1]).
local n = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(m, 1, #ARGV[1]) == ARGV[1] then
    redis.call('ZREM', KEYS[1], m)
    n = n + 1
  end
end
return n
