-- Admit one request of a key: check every limit, then take a request slot and a concurrency lease,
-- atomically (gateway/limits/limiter.py). KEYS: rpm hash, tpm hash, concurrency zset, month counter.
-- ARGV: rpm, tpm, concurrency, monthly quota, lease id, lease seconds. Returns the verdict fields.
local t = redis.call('TIME')
local sec = tonumber(t[1])
local now = sec + tonumber(t[2]) / 1000000
local rpm, tpm, conc, quota = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

-- used in the last 60 s, ms until all of it has left the window, ms until it is below `limit`
local function window(key, limit)
  local flat = redis.call('HGETALL', key)
  local used, newest, stale, live = 0, -1, {}, {}
  for i = 1, #flat, 2 do
    local s, n = tonumber(flat[i]), tonumber(flat[i + 1])
    if s <= sec - 60 then
      stale[#stale + 1] = flat[i]
    else
      used = used + n
      live[#live + 1] = {s, n}
      if s > newest then newest = s end
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  local reset, retry = 0, 0
  if newest >= 0 then reset = math.max(0, math.floor((newest + 60 - now) * 1000)) end
  if used >= limit then
    table.sort(live, function(a, b) return a[1] < b[1] end)
    local left = used
    for _, b in ipairs(live) do
      left = left - b[2]
      if left < limit then retry = math.max(0, math.floor((b[1] + 60 - now) * 1000)); break end
    end
  end
  return used, reset, retry
end

local code = 0
local month = 0
if quota > 0 then
  month = tonumber(redis.call('GET', KEYS[4]) or '0')
  if month >= quota then code = 4 end
end
if code == 0 and conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)  -- leases left behind by a crashed worker
  if redis.call('ZCARD', KEYS[3]) >= conc then code = 3 end
end
local r_used, r_reset, r_retry = 0, 0, 0
if rpm > 0 then
  r_used, r_reset, r_retry = window(KEYS[1], rpm)
  if code == 0 and r_used >= rpm then code = 1 end
end
local t_used, t_reset, t_retry = 0, 0, 0
if tpm > 0 then
  t_used, t_reset, t_retry = window(KEYS[2], tpm)
  if code == 0 and t_used >= tpm then code = 2 end
end
if code == 0 then
  if rpm > 0 then
    redis.call('HINCRBY', KEYS[1], sec, 1)
    redis.call('EXPIRE', KEYS[1], 120)
    r_used = r_used + 1
    r_reset = 60000
  end
  if conc > 0 then
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), ARGV[5])
    redis.call('EXPIRE', KEYS[3], math.floor(tonumber(ARGV[6])) + 60)
  end
end
return {code, r_used, r_reset, r_retry, t_used, t_reset, t_retry, month}
