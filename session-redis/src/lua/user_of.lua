-- The big-endian unsigned integer of n bytes at position i of s; nil past the end.
local function be(s, i, n)
  if string.len(s) < i + n - 1 then
    return nil
  end
  local v = 0
  for j = i, i + n - 1 do
    v = v * 256 + string.byte(s, j)
  end
  return v
end
local function user_of(key, head)
  if string.byte(head, 1) ~= 3 then
    return nil
  end
  local n = be(head, 18, 4)
  if n == nil then
    return nil
  end
  if n == 4294967295 then
    return false
  end
  if string.len(head) < 21 + n then
    head = redis.call('GETRANGE', key, 0, 20 + n)
    if string.len(head) < 21 + n then
      return nil
    end
  end
  return string.sub(head, 22, 21 + n)
end
