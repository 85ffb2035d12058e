-- wrk script for the ingest benchmark: POST /v1/reports with a unique client_id per request.
--
--   wrk -t2 -c64 -d15s --latency -s tests/benchmarks/post_report.lua \
--       http://127.0.0.1:8000/v1/reports -- <bearer-token>
--
-- The token comes from wrk's first script argument, else from $PLAINSIGHT_BENCH_TOKEN (no
-- Authorization header when neither is set). Each client_id is a version-4-shaped UUID built
-- from 48 bits of /dev/urandom drawn per thread and per run, the thread number and a per-thread
-- counter, so no two requests of a run can collide and runs are independent.
--
-- done() prints machine-readable lines (ingest.py parses them):
--   BENCH_RESULT requests=.. duration_s=.. rps=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
--                non2xx=.. connect_errors=.. read_errors=.. write_errors=.. timeouts=..
--   BENCH_STATUS <status>=<count> ...        (only when some response was not 2xx)
--   BENCH_ERROR_SAMPLE <first non-2xx body>  (only when some response was not 2xx)
-- Any non-2xx response or socket error makes the run invalid.

local threads = {}

function setup(thread)
   thread:set("thread_number", #threads)
   table.insert(threads, thread)
end

local function random_bytes(n)
   local f = assert(io.open("/dev/urandom", "rb"))
   local data = f:read(n)
   f:close()
   return data
end

local function hex16(n)
   return string.format("%04x", n % 65536)
end

local prefix, suffix, headers
local nonce_a, nonce_b
local counter = 0

function init(args)
   -- thread-global, read back by done() through thread:get()
   non2xx = 0
   status_counts = ""
   error_sample = ""
   statuses = {}

   local b = random_bytes(6)
   nonce_a = string.format("%02x%02x%02x%02x", b:byte(1, 4))
   nonce_b = string.format("%02x%02x", b:byte(5, 6))
   math.randomseed(b:byte(1) * 16777216 + b:byte(2) * 65536 + b:byte(3) * 256 + b:byte(4))

   local token = args[1]
   if token == nil or token == "" then
      token = os.getenv("PLAINSIGHT_BENCH_TOKEN")
   end
   headers = { ["Content-Type"] = "application/json" }
   if token ~= nil and token ~= "" then
      headers["Authorization"] = "Bearer " .. token
   end

   prefix = '{"client_id":"'
   -- occurred_at and location are filled in per request (see place_and_time below).
   suffix = '"agents":{"count":4,"masked":"all","attire":"plainclothes",'
      .. '"agencies_claimed":["ICE"],"agencies_suspected":["ICE"],"vehicles":"unmarked"},'
      .. '"identification":{"verbal":"no","badge_shown":"no","insignia_visible":"no",'
      .. '"asked":"yes","response_when_asked":"refused"},'
      .. '"narrative":"Four masked people in plain clothes took a man into an unmarked van."}'
end

local function next_client_id()
   counter = counter + 1
   local c = counter
   local high = math.floor(c / 4294967296)
   local mid = math.floor(c / 65536) % 65536
   -- xxxxxxxx-xxxx-4ttt-8rrr-cccccccccccc: nonce, version 4 + thread, variant + random, counter
   return nonce_a .. "-" .. nonce_b
      .. "-4" .. string.format("%03x", thread_number % 4096)
      .. "-" .. hex16(0x8000 + math.random(0, 0x3fff))
      .. "-" .. hex16(high) .. hex16(mid) .. hex16(c)
end

-- Reports spread over a metropolitan area (about 45 x 45 km) and the 30 days of November
-- 2025, as real submissions are: incidents form where reports happen to fall close together,
-- and concurrent requests rarely contend for the same incident.
local function place_and_time()
   return string.format(
      '","kind":"observer_report","occurred_at":"2025-11-%02dT%02d:%02d:00-05:00",'
         .. '"location":{"lat":%.5f,"lon":%.5f,"accuracy_m":25},',
      math.random(1, 30), math.random(0, 23), math.random(0, 59),
      40.5 + math.random() * 0.4, -74.25 + math.random() * 0.55)
end

function request()
   return wrk.format("POST", nil, headers, prefix .. next_client_id() .. place_and_time() .. suffix)
end

function response(status, resp_headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      statuses[status] = (statuses[status] or 0) + 1
      local parts = {}
      for code, count in pairs(statuses) do
         table.insert(parts, code .. "=" .. count)
      end
      status_counts = table.concat(parts, " ")
      if error_sample == "" then
         error_sample = string.gsub(string.sub(body or "", 1, 300), "%s+", " ")
      end
   end
end

function done(summary, latency, requests)
   local failed, sample = 0, ""
   local merged = {}
   for _, thread in ipairs(threads) do
      failed = failed + (thread:get("non2xx") or 0)
      local counts = thread:get("status_counts") or ""
      for code, count in string.gmatch(counts, "(%d+)=(%d+)") do
         merged[code] = (merged[code] or 0) + tonumber(count)
      end
      if sample == "" then
         sample = thread:get("error_sample") or ""
      end
   end
   local seconds = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      "BENCH_RESULT requests=%d duration_s=%.3f rps=%.2f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f"
         .. " max_ms=%.3f non2xx=%d connect_errors=%d read_errors=%d write_errors=%d"
         .. " timeouts=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      failed, e.connect, e.read, e.write, e.timeout))
   if failed > 0 then
      local parts = {}
      for code, count in pairs(merged) do
         table.insert(parts, code .. "=" .. count)
      end
      io.write("BENCH_STATUS " .. table.concat(parts, " ") .. "\n")
      io.write("BENCH_ERROR_SAMPLE " .. sample .. "\n")
   end
end
