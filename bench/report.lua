-- wrk script for the reused-token workload: every request carries the one token in args[1]
-- (a file holding it); done() prints one JSON line that bench/run.py parses.

function init(args)
   local file = assert(io.open(args[1], "r"))
   wrk.headers["Authorization"] = "Bearer " .. file:read("*l")
   file:close()
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
         .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
