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
-- Any non-2xx response or socket error makes the run invalid. The body, client_id and these
-- lines come from report_body.lua, shared with mixed_load.lua.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local shared = dofile(here .. "report_body.lua")

local threads = {}

function setup(thread)
   thread:set("thread_number", #threads)
   table.insert(threads, thread)
end

local headers

function init(args)
   shared.start_thread()

   local token = args[1]
   if token == nil or token == "" then
      token = os.getenv("PLAINSIGHT_BENCH_TOKEN")
   end
   headers = { ["Content-Type"] = "application/json" }
   if token ~= nil and token ~= "" then
      headers["Authorization"] = "Bearer " .. token
   end
end

function request()
   return wrk.format("POST", nil, headers, shared.report_body(shared.next_client_id()))
end

function response(status, resp_headers, body)
   shared.count_failure(status, body)
end

function done(summary, latency, requests)
   local totals = shared.new_totals()
   for _, thread in ipairs(threads) do
      shared.add_failures(totals, thread)
   end
   shared.write_result(summary, latency, totals)
   shared.write_failures(totals)
end
