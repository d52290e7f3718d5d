return file_in_index(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
