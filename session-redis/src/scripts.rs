//! The Lua scripts behind the operations that must read before they write.

use std::sync::LazyLock;

use redis::Script;
use session_core::codec;

/// `touch` in one step. KEYS[1]: the record's key. ARGV[1]: the new expiry as
/// 8 big-endian bytes, ARGV[2]: the key's new `PEXPIREAT` (see [`redis_expiry`](crate::store::redis_expiry)),
/// ARGV[3]: the byte offset of the expiry in the envelope.
///
/// Returns 1 when moved, 0 when there is no live record, -1 when the value is
/// too short to be an envelope.
const TOUCH_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local offset = tonumber(ARGV[3])
if redis.call('STRLEN', KEYS[1]) < offset + 8 then
  return -1
end
redis.call('SETRANGE', KEYS[1], offset, ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
";

pub(crate) static TOUCH: LazyLock<Script> = LazyLock::new(|| Script::new(TOUCH_LUA));

/// How many leading bytes of a stored value [`SAVE_LUA`] reads: enough for
/// the version of either format (format 2: `VERSION_OFFSET + 8`; format 1:
/// the 9-byte header, a 1-byte array marker and two MessagePack `u64`s of
/// at most 9 bytes each).
pub(crate) const SAVE_HEAD_LEN: usize = 28;
const _: () = assert!(codec::VERSION_OFFSET + 8 <= SAVE_HEAD_LEN);

/// Versioned `save` in one step. KEYS[1]: the record's key. ARGV[1]: the
/// new envelope, ARGV[2]: the key's new `PXAT` (see [`redis_expiry`](crate::store::redis_expiry)),
/// ARGV[3]: the version the caller loaded (`record.version - 1`) as 8
/// big-endian bytes, ARGV[4]: the byte offset of the version in a format-2
/// envelope, ARGV[5]: how many leading bytes to read ([`SAVE_HEAD_LEN`]).
///
/// Reads the stored version without decoding the data: in format 2 it is
/// the 8 bytes at ARGV[4]; in format 1 (no fixed version field) it is the
/// second `u64` of the MessagePack body right after the 9-byte header,
/// widened here to 8 big-endian bytes. Then `SET ... PXAT ... XX` only if it
/// equals ARGV[3].
///
/// Returns 1 when written, 0 when there is no live record, -1 for a value
/// too short to hold a version, -2 on a version mismatch, -3 for an unknown
/// format number.
const SAVE_LUA: &str = r"
local head = redis.call('GETRANGE', KEYS[1], 0, tonumber(ARGV[5]) - 1)
if head == '' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return -1
  end
  return 0
end
-- A MessagePack unsigned integer at position i of s, as 8 big-endian bytes,
-- and the position after it; nil if s holds none there.
local function uint_at(s, i)
  local tag = string.byte(s, i)
  if tag == nil then
    return nil
  end
  if tag < 0x80 then
    return string.rep('\0', 7) .. string.char(tag), i + 1
  end
  local len
  if tag == 0xcc then len = 1
  elseif tag == 0xcd then len = 2
  elseif tag == 0xce then len = 4
  elseif tag == 0xcf then len = 8
  else return nil end
  if string.len(s) < i + len then
    return nil
  end
  return string.rep('\0', 8 - len) .. string.sub(s, i + 1, i + len), i + 1 + len
end
local format = string.byte(head, 1)
local stored
if format == 2 then
  local offset = tonumber(ARGV[4])
  if string.len(head) < offset + 8 then
    return -1
  end
  stored = string.sub(head, offset + 1, offset + 8)
elseif format == 1 then
  if string.byte(head, 10) ~= 0x93 then
    return -1
  end
  local _, after_created = uint_at(head, 11)
  if after_created == nil then
    return -1
  end
  stored = uint_at(head, after_created)
  if stored == nil then
    return -1
  end
else
  return -3
end
if stored ~= ARGV[3] then
  return -2
end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'XX')
return 1
";

pub(crate) static SAVE: LazyLock<Script> = LazyLock::new(|| Script::new(SAVE_LUA));
