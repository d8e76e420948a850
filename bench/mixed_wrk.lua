-- A day's mix for `moderation serve` (bench/mixed_bench.py), with latency per request type.
--   wrk -tN -cN -d20s -s mixed_wrk.lua http://127.0.0.1:PORT -- MODE SITE THREADS RUN
-- Run it with as many wrk threads as connections (-t16 -c16): each wrk thread then has one
-- connection, so its request() and response() alternate and a response is the last request's.
-- MODE: mix (per 100 requests: 90 thread reads spread over THREADS pages, 9 counts for 10 pages,
--       1 post to one of the pages), or read, counts, post alone (the same requests as in the mix).
-- RUN tags the posted bodies, so that a later run against the same server posts new comments.
-- done() prints one line per type, then the whole:
--   TYPE <type> <requests> <p50 ms> <p99 ms> <non-2xx>
--   RESULT <requests/s> <p50 ms> <p99 ms> <non-2xx> <errors>

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } wrk_timespec;
int clock_gettime(int clock, wrk_timespec *ts);
]]
local now_ts = ffi.new("wrk_timespec")
local function now_ms()
   ffi.C.clock_gettime(1, now_ts) -- CLOCK_MONOTONIC
   return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end

local threads = {}
wrk_thread_no = 0
function setup(thread)
   threads[#threads + 1] = thread
   thread:set("wrk_thread_no", #threads)
end

local mode, site, npages, run = "mix", "bench", 100, "0"
local counter, kind, sent = 0, nil, 0
-- per type: a histogram of latencies (bucket: floor(STEPS * ln(1 + microseconds)), a 2.5 %
-- resolution; small tables, since copying a list per request out of each thread crashed wrk),
-- and non-2xx answers; done() reads them through thread:get
local STEPS = 40
hist_read, hist_counts, hist_post = {}, {}, {}
bad = { read = 0, counts = 0, post = 0 }

function init(args)
   mode = args[1] or mode
   site = args[2] or site
   npages = tonumber(args[3] or npages)
   run = args[4] or run
   if mode ~= "mix" and mode ~= "read" and mode ~= "counts" and mode ~= "post" then
      error("unknown mode " .. mode)
   end
   math.randomseed(wrk_thread_no * 7919 + 17)
   counter = wrk_thread_no * 7 -- threads reach their post at different times
end

local function kind_of(n)
   if mode ~= "mix" then return mode end
   local r = n % 100
   if r == 0 then return "post" end
   if r % 11 == 1 then return "counts" end -- 1, 12, 23, ... 89: nine in a hundred
   return "read"
end

function request()
   counter = counter + 1
   kind = kind_of(counter)
   local req
   if kind == "read" then
      local page = math.random(npages)
      req = wrk.format("GET", "/api/v1/threads/comments?site=" .. site .. "&uri=/thread-" .. page .. "/")
   elseif kind == "counts" then
      local first = 10 * math.random(0, math.floor(npages / 10) - 1)
      local q = {}
      for i = first + 1, first + 10 do q[#q + 1] = "uri=/thread-" .. i .. "/" end
      req = wrk.format("GET", "/api/v1/counts?site=" .. site .. "&" .. table.concat(q, "&"))
   else
      local page = math.random(npages)
      local body = string.format(
         '{"site":"%s","uri":"/thread-%d/","text":"Mixed benchmark comment %s-%d-%d with *some* Markdown.",' ..
         '"author":"Reader %d","email":"m%s-%d-%d@example.org"}',
         site, page, run, wrk_thread_no, counter, counter, run, wrk_thread_no, counter)
      req = wrk.format("POST", "/api/v1/comments", { ["Content-Type"] = "application/json" }, body)
   end
   sent = now_ms()
   return req
end

function response(status, headers, body)
   local took = now_ms() - sent
   local hist = kind == "read" and hist_read or (kind == "counts" and hist_counts or hist_post)
   local bucket = math.floor(STEPS * math.log(1 + took * 1000))
   hist[bucket] = (hist[bucket] or 0) + 1
   if status < 200 or status > 299 then bad[kind] = bad[kind] + 1 end
end

local function merge(into, hist)
   for bucket, n in pairs(hist) do into[bucket] = (into[bucket] or 0) + n end
end

-- (requests, p50 ms, p99 ms) of a histogram: each bucket stands for its middle
local function summary_of(hist)
   local buckets, total = {}, 0
   for bucket, n in pairs(hist) do
      buckets[#buckets + 1] = bucket
      total = total + n
   end
   table.sort(buckets)
   local function at(p)
      local want, seen = math.max(1, math.ceil(total * p / 100)), 0
      for _, bucket in ipairs(buckets) do
         seen = seen + hist[bucket]
         if seen >= want then return (math.exp((bucket + 0.5) / STEPS) - 1) / 1000 end
      end
      return 0
   end
   return total, at(50), at(99)
end

function done(summary, latency, requests)
   local all = {}
   local total_bad = 0
   for _, name in ipairs({ "read", "counts", "post" }) do
      local merged = {}
      local nbad = 0
      for _, t in ipairs(threads) do
         merge(merged, t:get("hist_" .. name) or {})
         nbad = nbad + ((t:get("bad") or {})[name] or 0)
      end
      merge(all, merged)
      total_bad = total_bad + nbad
      local n, p50, p99 = summary_of(merged)
      if n > 0 then
         io.write(string.format("TYPE %s %d %.2f %.2f %d\n", name, n, p50, p99, nbad))
      end
   end
   local _, p50, p99 = summary_of(all)
   local errs = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
   io.write(string.format("RESULT %.1f %.2f %.2f %d %d\n",
      summary.requests / (summary.duration / 1e6), p50, p99, total_bad, errs))
end
