-- wrk script for the fresh-token workload: request i carries token (offset + i) of the pool
-- file in args[1], cycling, so no server sees a token twice within one pass of the pool.
-- Requests are formatted once in init(); done() prints one JSON line that bench/run.py parses.

local requests_pool = {}
local count, index = 0, 0

function init(args)
   for line in io.lines(args[1]) do
      if #line > 0 then
         requests_pool[#requests_pool + 1] =
            wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. line })
      end
   end
   count = #requests_pool
   index = tonumber(args[2] or "0") % count
end

function request()
   index = index % count + 1
   return requests_pool[index]
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
         .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
