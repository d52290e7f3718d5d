-- Enough of the value to see the whole user when it is bound to ARGV[4].
local want = HEAD_LEN
if ARGV[4] and 21 + string.len(ARGV[4]) > want then
  want = 21 + string.len(ARGV[4])
end
local head = redis.call('GETRANGE', KEYS[1], 0, want - 1)
if head == '' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return {-1}
  end
  return {0}
end
if string.byte(head, 1) ~= 3 then
  return {-3}
end
if string.len(head) < VERSION_AT + 8 then
  return {-1}
end
local stored = string.sub(head, VERSION_AT + 1, VERSION_AT + 8)
if stored ~= ARGV[3] then
  return {-2}
end
local old_user = user_of(KEYS[1], head)
local same = old_user == (ARGV[4] or false)
if #KEYS > 1 then
  if not same then
    file_in_index(KEYS[2], ARGV[5], ARGV[6], ARGV[7])
  elseif string.sub(head, EXPIRY_AT + 1, EXPIRY_AT + 8)
      ~= string.sub(ARGV[1], EXPIRY_AT + 1, EXPIRY_AT + 8) then
    keep_index_until(KEYS[2], ARGV[7])
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'XX')
if same then
  return {1}
end
return {1, old_user or false}
