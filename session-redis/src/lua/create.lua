if not redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'NX') then
  return {0}
end
return file_in_index(KEYS[2], ARGV[3], ARGV[4], ARGV[5])
