-- What post_report.lua and mixed_load.lua share: the per-thread nonce and random seed, the
-- UUID-shaped client_id, the report body spread over places and times, the count of non-2xx
-- answers and the BENCH_RESULT / BENCH_STATUS / BENCH_ERROR_SAMPLE lines of done().
--
-- Loaded with dofile() relative to the calling script (see the top of either script), so wrk
-- finds it from any working directory. Returns a table of functions; start_thread() sets the
-- thread globals non2xx, status_counts, error_sample and statuses that done() reads back.

local M = {}

local function random_bytes(n)
   local f = assert(io.open("/dev/urandom", "rb"))
   local data = f:read(n)
   f:close()
   return data
end

local function hex16(n)
   return string.format("%04x", n % 65536)
end

local prefix = '{"client_id":"'
-- occurred_at and location are filled in per request (see place_and_time below).
local suffix = '"agents":{"count":4,"masked":"all","attire":"plainclothes",'
   .. '"agencies_claimed":["ICE"],"agencies_suspected":["ICE"],"vehicles":"unmarked"},'
   .. '"identification":{"verbal":"no","badge_shown":"no","insignia_visible":"no",'
   .. '"asked":"yes","response_when_asked":"refused"},'
   .. '"narrative":"Four masked people in plain clothes took a man into an unmarked van."}'
local nonce_a, nonce_b
local counter = 0

-- Called first in init(): the thread-global counters done() reads back through thread:get(),
-- 48 bits of /dev/urandom for the client_id nonce, and the random seed.
function M.start_thread()
   non2xx = 0
   status_counts = ""
   error_sample = ""
   statuses = {}

   local b = random_bytes(6)
   nonce_a = string.format("%02x%02x%02x%02x", b:byte(1, 4))
   nonce_b = string.format("%02x%02x", b:byte(5, 6))
   math.randomseed(b:byte(1) * 16777216 + b:byte(2) * 65536 + b:byte(3) * 256 + b:byte(4))
end

function M.next_client_id()
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

-- The JSON body of one submission with this client_id.
function M.report_body(client_id)
   return prefix .. client_id .. place_and_time() .. suffix
end

-- Counts a non-2xx answer (status and first body) in the thread globals; true when it was one.
function M.count_failure(status, body)
   if status >= 200 and status <= 299 then
      return false
   end
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
   return true
end

-- Adds one thread's failures to totals = { failed=, merged={code=count}, sample= }.
function M.add_failures(totals, thread)
   totals.failed = totals.failed + (thread:get("non2xx") or 0)
   local counts = thread:get("status_counts") or ""
   for code, count in string.gmatch(counts, "(%d+)=(%d+)") do
      totals.merged[code] = (totals.merged[code] or 0) + tonumber(count)
   end
   if totals.sample == "" then
      totals.sample = thread:get("error_sample") or ""
   end
end

function M.new_totals()
   return { failed = 0, merged = {}, sample = "" }
end

function M.write_result(summary, latency, totals)
   local seconds = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      "BENCH_RESULT requests=%d duration_s=%.3f rps=%.2f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f"
         .. " max_ms=%.3f non2xx=%d connect_errors=%d read_errors=%d write_errors=%d"
         .. " timeouts=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      totals.failed, e.connect, e.read, e.write, e.timeout))
end

-- BENCH_STATUS and BENCH_ERROR_SAMPLE, only when some response was not 2xx.
function M.write_failures(totals)
   if totals.failed > 0 then
      local parts = {}
      for code, count in pairs(totals.merged) do
         table.insert(parts, code .. "=" .. count)
      end
      io.write("BENCH_STATUS " .. table.concat(parts, " ") .. "\n")
      io.write("BENCH_ERROR_SAMPLE " .. totals.sample .. "\n")
   end
end

return M
