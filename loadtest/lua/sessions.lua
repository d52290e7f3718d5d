-- wrk script: every request carries one of the logged-in sessions' cookies,
-- round robin over all of them (32 connections over 64 sessions by default).
--   wrk -t1 -c32 -d10s -s sessions.lua http://127.0.0.1:PORT/profile -- cookies.txt
-- cookies.txt: one "name=value" cookie pair a line, as curl received it at
-- login. A file with one line puts every connection on one shared session.
-- Prints one "RESULT key=value ..." line for run.sh.

local cookies = {}
sent = 0

function init(args)
  local f = assert(io.open(args[1], "r"), "cannot open the cookie file " .. tostring(args[1]))
  for line in f:lines() do
    if #line > 0 then
      cookies[#cookies + 1] = line
    end
  end
  f:close()
  assert(#cookies > 0, "no cookies in " .. args[1])
end

function request()
  sent = sent + 1
  return wrk.format(nil, nil, { ["Cookie"] = cookies[(sent % #cookies) + 1] })
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local total_sent = 0
  for _, t in ipairs(threads) do
    total_sent = total_sent + t:get("sent")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d mean_us=%.0f max_us=%d " ..
    "non2xx=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d sent=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.status, e.connect, e.read, e.write, e.timeout, total_sent))
end
