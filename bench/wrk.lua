-- Driven by bench/run.py. Configured through the environment:
--   BENCH_OUT      file the results are written to (JSON, one object)
--   BENCH_PATHS    space-separated paths; thread i (1-based) uses path ((i-1) % n) + 1
--   BENCH_METHOD   GET (default) or POST
--   BENCH_BODY     request body (POST)
--   BENCH_CYCLE    space-separated suffixes appended in turn to the thread's path, e.g.
--                  "start complete reopen": each thread then walks its own step through
--                  the cycle, one request at a time (run with one connection per thread).
--   BENCH_HEADERS  "Name: value|Name: value"
--   BENCH_UNIQUE   a query parameter given a new value (1 to 99,999) on every request, so no
--                  request is answered from a cache another request filled; the values
--                  start at BENCH_UNIQUE_START, each thread in its own range of 5,000.

local threads = {}
local counter = 1

function setup(thread)
   thread:set("id", counter)
   table.insert(threads, thread)
   counter = counter + 1
end

local function split(text, sep)
   local out = {}
   for item in string.gmatch(text or "", "[^" .. sep .. "]+") do
      table.insert(out, item)
   end
   return out
end

local path, cycle, step, method, body, headers, unique, unique_next
statuses = {}  -- global: done() reads each thread's copy

function init(args)
   local paths = split(os.getenv("BENCH_PATHS"), " ")
   path = paths[((id - 1) % #paths) + 1]
   cycle = split(os.getenv("BENCH_CYCLE"), " ")
   step = 0
   method = os.getenv("BENCH_METHOD") or "GET"
   body = os.getenv("BENCH_BODY")
   headers = {}
   for _, line in ipairs(split(os.getenv("BENCH_HEADERS"), "|")) do
      local name, value = string.match(line, "^%s*([^:]+):%s*(.*)$")
      if name then headers[name] = value end
   end
   if body then headers["Content-Type"] = "application/json" end
   unique = os.getenv("BENCH_UNIQUE")
   if unique == "" then unique = nil end
   unique_next = tonumber(os.getenv("BENCH_UNIQUE_START") or "0") + (id - 1) * 5000
end

function request()
   local target = path
   if #cycle > 0 then
      target = path .. cycle[(step % #cycle) + 1]
      step = step + 1
   end
   if unique then
      local separator = string.find(target, "?", 1, true) and "&" or "?"
      target = target .. separator .. unique .. "=" .. ((unique_next % 99999) + 1)
      unique_next = unique_next + 1
   end
   return wrk.format(method, target, headers, body)
end

function response(status, resp_headers, resp_body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local totals = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses") or {}) do
         totals[status] = (totals[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(totals) do
      table.insert(parts, string.format('"%d":%d', status, count))
   end
   -- This wrk's Lua API does not expose the raw histogram, so write the 0.1th, 0.2th ...
   -- 99.9th percentiles and the maximum: 1,000 points, each standing for a thousandth of
   -- the requests. run.py merges rounds by weighting the points by their round's requests.
   local points = {}
   if summary.requests > 0 then
      for tenth = 1, 999 do
         table.insert(points, string.format("%d", latency:percentile(tenth / 10)))
      end
      table.insert(points, string.format("%d", latency.max))
   end
   local e = summary.errors
   local file = assert(io.open(os.getenv("BENCH_OUT"), "w"))
   file:write(string.format(
      '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"statuses":{%s},"min_us":%d,"max_us":%d,"grid_us":[%s]}',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      table.concat(parts, ","), latency.min, latency.max, table.concat(points, ",")))
   file:close()
end
