local function keep_index_until(index, until_ms)
  local pttl = redis.call('PTTL', index)
  if pttl >= 0 then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    if now + pttl >= tonumber(until_ms) then
      return {1}
    end
  end
  redis.call('PEXPIREAT', index, until_ms)
  return {1}
end
local function file_in_index(index, member, version, until_ms)
  redis.call('ZADD', index, 'GT', version, member)
  return keep_index_until(index, until_ms)
end
