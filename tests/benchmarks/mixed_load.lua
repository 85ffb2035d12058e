-- wrk script for the mixed-load benchmark: 70% report submissions, 20% reads of own reports,
-- 10% statistics, each request drawn at random.
--
--   wrk -t2 -c64 -d60s -s tests/benchmarks/mixed_load.lua http://127.0.0.1:8000 -- FILE 2
--
-- FILE (mixed_load.py writes it) has lines "device <token>" (one observer device per
-- connection) and one "researcher <token>" (a researcher's session token); 2 is wrk's thread
-- count (-t), which setup()/init() cannot know. wrk does not tell a script which connection it
-- runs on, so each thread takes connections/threads of the devices and hands them out
-- round-robin, one per request: with one request in flight per connection, each device has
-- about one request in flight, as one phone would.
--
--   POST /v1/reports (70%)       a unique client_id, a place in one metropolitan area and a time
--                                in November 2025, as post_report.lua
--   GET  /v1/reports/{id} (20%)  a report this device created in this run (ids taken from the 201
--                                answers); GET /v1/reports?limit=20 while the device has none
--   GET  /v1/stats/identification (10%)  researcher token, group_by month, area, agency or
--                                month,area, from the first day of a month of 2025 to 2025-12-31
--
-- Latency per type is timed here (CLOCK_MONOTONIC through LuaJIT's FFI, from request() to
-- response()). wrk does not say which request an answer belongs to either, so answers are matched
-- by what they echo: a submission's client_id, a read report's id; list pages and statistics
-- tables (which echo nothing unique) go to the oldest outstanding request of their kind and
-- device (lists) or grouping (statistics). Answers that match nothing (errors) are not timed.
--
-- done() prints BENCH_RESULT, BENCH_STATUS and BENCH_ERROR_SAMPLE as post_report.lua (both
-- through report_body.lua, which also builds the report body and client_id), and one
--   BENCH_TYPE name=.. sent=.. answered=.. timed=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
-- per request type.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } mixed_load_timespec;
int clock_gettime(int clock_id, mixed_load_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("mixed_load_timespec")

local function now_ms()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
   return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local shared = dofile(here .. "report_body.lua")

local TYPES = { "submit", "read_one", "read_list", "stats" }
local GROUPINGS = { "month", "area", "agency", "month,area" }
local threads = {}

function setup(thread)
   thread:set("thread_number", #threads)
   table.insert(threads, thread)
end

local devices = {}        -- { token=..., headers=..., reports={ids} }
local next_device = 0
local stats_headers
-- outstanding requests: key -> list of { start, type, device }
local pending = {}
-- per type, the thread-global flat arrays lat_<type> (wrk's thread:get() copies flat tables
-- only: a table of tables crashes it)
local latencies = {}

function init(args)
   shared.start_thread()
   -- thread-global, read back by done() through thread:get()
   sent = { submit = 0, read_one = 0, read_list = 0, stats = 0 }
   answered = { submit = 0, read_one = 0, read_list = 0, stats = 0 }
   for _, name in ipairs(TYPES) do
      _G["lat_" .. name] = {}
      latencies[name] = _G["lat_" .. name]
   end

   local path = args[1] or os.getenv("PLAINSIGHT_BENCH_CREDENTIALS")
   assert(path, "mixed_load.lua needs the credentials file as its first argument")
   local all = {}
   for line in io.lines(path) do
      local role, token = string.match(line, "^(%S+)%s+(%S+)$")
      if role == "device" then
         table.insert(all, token)
      elseif role == "researcher" then
         stats_headers = { ["Authorization"] = "Bearer " .. token }
      end
   end
   assert(#all > 0 and stats_headers, "the credentials file needs devices and a researcher")
   -- wrk runs setup() and init() thread by thread, so the thread count comes as an argument
   local count = tonumber(args[2] or "1")
   for i, token in ipairs(all) do
      if (i - 1) % count == thread_number % count then
         table.insert(devices, {
            token = token,
            post_headers = {
               ["Content-Type"] = "application/json",
               ["Authorization"] = "Bearer " .. token,
            },
            get_headers = { ["Authorization"] = "Bearer " .. token },
            reports = {},
         })
      end
   end
   if #devices == 0 then
      devices = { { token = all[1], reports = {},
         post_headers = { ["Content-Type"] = "application/json",
            ["Authorization"] = "Bearer " .. all[1] },
         get_headers = { ["Authorization"] = "Bearer " .. all[1] } } }
   end
end

local function remember(key, kind, device)
   local list = pending[key]
   if list == nil then
      list = {}
      pending[key] = list
   end
   table.insert(list, { start = now_ms(), type = kind, device = device })
   sent[kind] = sent[kind] + 1
end

local function take(key)
   local list = pending[key]
   if list == nil or #list == 0 then
      return nil
   end
   local entry = table.remove(list, 1)
   if #list == 0 then
      pending[key] = nil
   end
   return entry
end

function request()
   next_device = next_device % #devices + 1
   local device = devices[next_device]
   local draw = math.random()
   if draw < 0.7 then
      local client_id = shared.next_client_id()
      remember("c:" .. client_id, "submit", device)
      return wrk.format("POST", "/v1/reports", device.post_headers,
         shared.report_body(client_id))
   elseif draw < 0.9 then
      local n = #device.reports
      if n == 0 then
         remember("l:" .. device.token, "read_list", device)
         return wrk.format("GET", "/v1/reports?limit=20", device.get_headers)
      end
      local id = device.reports[math.random(1, n)]
      remember("r:" .. id, "read_one", device)
      return wrk.format("GET", "/v1/reports/" .. id, device.get_headers)
   end
   local grouping = GROUPINGS[math.random(1, #GROUPINGS)]
   remember("s:" .. grouping, "stats", device)
   return wrk.format("GET", string.format(
      "/v1/stats/identification?group_by=%s&from=2025-%02d-01&to=2025-12-31",
      grouping, math.random(1, 11)), stats_headers)
end

local function grouping_of(body)
   -- a row of "month,area" has both keys, "month" only month, "area" only area, "agency" agency
   local has_month = string.find(body, '"month":', 1, true) ~= nil
   local has_area = string.find(body, '"area":', 1, true) ~= nil
   if string.find(body, '"agency":', 1, true) then
      return "agency"
   elseif has_month and has_area then
      return "month,area"
   elseif has_month then
      return "month"
   elseif has_area then
      return "area"
   end
   return nil
end

local function oldest_stats()
   local best_key, best_start
   for _, grouping in ipairs(GROUPINGS) do
      local list = pending["s:" .. grouping]
      if list ~= nil and #list > 0 and (best_start == nil or list[1].start < best_start) then
         best_key, best_start = "s:" .. grouping, list[1].start
      end
   end
   return best_key
end

local function match(status, body)
   if status == 201 or status == 200 then
      if string.sub(body, 1, 9) == '{"items":' then
         -- a list page: its reports belong to the device that asked
         local first = string.match(body, '"id":"([%x%-]+)"')
         if first ~= nil then
            for _, device in ipairs(devices) do
               for _, id in ipairs(device.reports) do
                  if id == first then
                     return take("l:" .. device.token)
                  end
               end
            end
         end
         -- seeded reports only (not known here): the oldest outstanding list of any device
         local best_key, best_start
         for key, list in pairs(pending) do
            if string.sub(key, 1, 2) == "l:" and (best_start == nil or list[1].start < best_start) then
               best_key, best_start = key, list[1].start
            end
         end
         return best_key and take(best_key)
      end
      if string.find(body, '"dataset_version"', 1, true) then
         local grouping = grouping_of(body)
         local key = grouping and ("s:" .. grouping)
         if key == nil or pending[key] == nil then
            key = oldest_stats()
         end
         return key and take(key)
      end
      local id = string.match(body, '"id":"([%x%-]+)"')
      if id ~= nil and pending["r:" .. id] ~= nil then
         return take("r:" .. id)
      end
      local client_id = string.match(body, '"client_id":"([%x%-]+)"')
      if client_id ~= nil then
         local entry = take("c:" .. client_id)
         if entry ~= nil and status == 201 and id ~= nil then
            table.insert(entry.device.reports, id)
         end
         return entry
      end
   end
   return nil
end

function response(status, resp_headers, body)
   local finished = now_ms()
   body = body or ""
   if shared.count_failure(status, body) then
      return
   end
   local entry = match(status, body)
   if entry ~= nil then
      answered[entry.type] = answered[entry.type] + 1
      table.insert(latencies[entry.type], finished - entry.start)
   end
end

local function percentile(sorted, p)
   if #sorted == 0 then
      return 0
   end
   local index = math.max(1, math.ceil(#sorted * p / 100))
   return sorted[index]
end

function done(summary, latency, requests)
   local totals = shared.new_totals()
   local type_sent, type_answered, type_latencies = {}, {}, {}
   for _, name in ipairs(TYPES) do
      type_sent[name], type_answered[name], type_latencies[name] = 0, 0, {}
   end
   for _, thread in ipairs(threads) do
      shared.add_failures(totals, thread)
      local s, a = thread:get("sent"), thread:get("answered")
      for _, name in ipairs(TYPES) do
         type_sent[name] = type_sent[name] + (s and s[name] or 0)
         type_answered[name] = type_answered[name] + (a and a[name] or 0)
         for _, value in ipairs(thread:get("lat_" .. name) or {}) do
            table.insert(type_latencies[name], value)
         end
      end
   end
   shared.write_result(summary, latency, totals)
   for _, name in ipairs(TYPES) do
      local values = type_latencies[name]
      table.sort(values)
      io.write(string.format(
         "BENCH_TYPE name=%s sent=%d answered=%d timed=%d p50_ms=%.3f p90_ms=%.3f"
            .. " p99_ms=%.3f max_ms=%.3f\n",
         name, type_sent[name], type_answered[name], #values, percentile(values, 50),
         percentile(values, 90), percentile(values, 99), values[#values] or 0))
   end
   shared.write_failures(totals)
end
