local head = redis.call('GETRANGE', KEYS[1], 0, HEAD_LEN - 1)
if head == '' then
  if redis.call('DEL', KEYS[1]) == 1 then
    return {3}
  end
  return {0}
end
local user = user_of(KEYS[1], head)
if user == nil then
  redis.call('DEL', KEYS[1])
  return {3}
end
if user ~= ARGV[1] then
  return {2, head}
end
redis.call('DEL', KEYS[1])
return {1, head}
