-- wrk scenarios for `moderation serve` (bench/serve_bench.py).
--   wrk -t2 -c32 -d10s -s moderation_wrk.lua http://127.0.0.1:PORT -- SCENARIO SITE [THREADS] [RUN]
-- SCENARIO: get PATH (a fixed GET), thread (GET one 50-comment thread, as embed.js does on page load),
--           counts (GET counts for 10 pages), post (POST a new comment; every body unique,
--           spread over the upper half of the threads so the read target never grows; RUN tags the
--           bodies, so that a second run against the same server posts new comments, not 409s).
-- done() prints one line: RESULT <requests/s> <p50 ms> <p99 ms> <non-2xx> <errors>

wrk_thread_no = 0
local made = 0
function setup(thread)
   made = made + 1
   thread:set("wrk_thread_no", made)
end

local scenario, site, nthreads, run = "thread", "bench", 100, "0"
local fixed, counter = nil, 0

function init(args)
   scenario = args[1] or scenario
   site = args[2] or site
   nthreads = tonumber(args[3] or nthreads)
   run = args[4] or run
   if scenario == "thread" then
      fixed = wrk.format("GET", "/api/v1/threads/comments?site=" .. site .. "&uri=/thread-1/")
   elseif scenario == "counts" then
      local q = {}
      for i = 1, 10 do q[#q + 1] = "uri=/thread-" .. i .. "/" end
      fixed = wrk.format("GET", "/api/v1/counts?site=" .. site .. "&" .. table.concat(q, "&"))
   elseif scenario == "get" then  -- any fixed path (the bare-WSGI ceiling): -- get /path
      fixed = wrk.format("GET", args[2] or "/")
   elseif scenario ~= "post" then
      error("unknown scenario " .. scenario)
   end
end

function request()
   if fixed then return fixed end
   counter = counter + 1
   local half = math.floor(nthreads / 2)
   local k = half + 1 + (counter % half)
   local body = string.format(
      '{"site":"%s","uri":"/thread-%d/","text":"Benchmark comment %s-%d-%d with *some* Markdown.",' ..
      '"author":"Reader %d","email":"r%s-%d-%d@example.org"}',
      site, k, run, wrk_thread_no, counter, counter, run, wrk_thread_no, counter)
   return wrk.format("POST", "/api/v1/comments", {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
   local non2xx = (summary.errors.status or 0)
   local errs = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
   io.write(string.format("RESULT %.1f %.2f %.2f %d %d\n",
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, non2xx, errs))
end
