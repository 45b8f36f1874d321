-- Settle a finished request: tokens into the tpm window and the month, the concurrency lease back.
-- KEYS: tpm hash, concurrency zset, month counter. ARGV: tokens, lease id, count tpm?, count month?, month ttl.
local sec = redis.call('TIME')[1]
local n = tonumber(ARGV[1])
if n > 0 and ARGV[3] == '1' then
  redis.call('HINCRBY', KEYS[1], sec, n)
  redis.call('EXPIRE', KEYS[1], 120)
end
if n > 0 and ARGV[4] == '1' then
  redis.call('INCRBY', KEYS[3], n)
  redis.call('EXPIRE', KEYS[3], ARGV[5])
end
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
