if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0}
end
local head = redis.call('GETRANGE', KEYS[1], 0, HEAD_LEN - 1)
if string.byte(head, 1) ~= 3 then
  return {-3}
end
if string.len(head) < EXPIRY_AT + 8 then
  return {-1}
end
local user = user_of(KEYS[1], head)
redis.call('SETRANGE', KEYS[1], EXPIRY_AT, ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
if user then
  return {1, user, head}
end
return {1}
