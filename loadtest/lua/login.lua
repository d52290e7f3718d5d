-- wrk script: POST /login without a cookie, so every request creates a new
-- session (the login storm and the login-cost runs).
--   wrk -t1 -c32 -d10s -s login.lua http://127.0.0.1:PORT/login
-- Prints one "RESULT key=value ..." line for run.sh.

wrk.method = "POST"
sent = 0

function request()
  sent = sent + 1
  return wrk.format("POST", nil, nil, nil)
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
