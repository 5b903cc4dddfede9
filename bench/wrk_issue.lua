-- wrk script for bench/bench_issue.py: POST /api/v1/tickets over the given matters in turn, each
-- thread stopping after its quota of answers; prints one "HALLQ {json}" line with the figures.
-- Arguments (after --): quota per thread, kiosk token, comma-separated service codes.
-- wrk itself runs for its whole -d duration; the first thread to reach its quota sends wrk a
-- SIGINT, which ends the run there, with the figures (and the duration) up to that moment.

local ffi = require("ffi")
ffi.cdef[[int kill(int pid, int sig); int getpid(void);]]
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  quota = tonumber(args[1])
  headers = {["Authorization"] = "Bearer " .. args[2], ["Content-Type"] = "application/json"}
  bodies = {}
  for code in string.gmatch(args[3], "[^,]+") do
    table.insert(bodies, '{"service": "' .. code .. '"}')
  end
  sent, answered, bad = 0, 0, 0
end

function request()
  sent = sent + 1
  return wrk.format("POST", "/api/v1/tickets", headers, bodies[(sent % #bodies) + 1])
end

function response(status, hdrs, body)
  answered = answered + 1
  if status ~= 201 then
    bad = bad + 1
  end
  if answered == quota then
    ffi.C.kill(ffi.C.getpid(), 2)
  end
end

function done(summary, latency, requests)
  local n, nbad = 0, 0
  for _, t in ipairs(threads) do
    n = n + t:get("answered")
    nbad = nbad + t:get("bad")
  end
  io.write(string.format(
    'HALLQ {"requests": %d, "bad": %d, "seconds": %f, "p50_us": %d, "p99_us": %d, "max_us": %d, "socket_errors": %d}\n',
    n, nbad + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
