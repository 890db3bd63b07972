-- wrk script for bench/api.py. Settings come from the environment:
--   WRK_COOKIE   the session cookie ("name=value"), sent on every request
--   WRK_COOKIES  several session cookies, space-separated: each request takes the next one
--   WRK_MODE     "get" (the URL as given) or "push" (POST /api/sync/push)
--   WRK_NONCE    8 hex digits, unique per run: every push gets a fresh client id and
--                fresh rest ids, so each one does real work (no duplicate short-cut)
--   WRK_BATCH    mutations per push
--   WRK_REST     the JSON fields of a valid rest without its id and braces
-- done() prints one JSON line with the figures (latencies in microseconds).

local mode = os.getenv("WRK_MODE") or "get"
local cookie = os.getenv("WRK_COOKIE")
local cookies = {}
for value in string.gmatch(os.getenv("WRK_COOKIES") or "", "%S+") do
  table.insert(cookies, value)
end
local nonce = os.getenv("WRK_NONCE") or "0badf00d"
local batch = tonumber(os.getenv("WRK_BATCH") or "5")
local rest_fields = os.getenv("WRK_REST") or ""

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

local counter = 0
local headers = {}

function init(args)
  if cookie then headers["Cookie"] = cookie end
  if mode == "push" then
    headers["Content-Type"] = "application/json"
    headers["X-Requested-With"] = "rest-guide"
  end
end

local function push_body()
  counter = counter + 1
  local t = string.format("%04x", tid or 1)
  local n = string.format("%012x", counter)
  local parts = {}
  for i = 1, batch do
    local id = string.format("%s-%s-4%03x-8000-%s", nonce, t, i, n)
    parts[i] = string.format('{"seq":%d,"op":"put","id":"%s","rest":{"id":"%s",%s}}',
                             i, id, id, rest_fields)
  end
  return string.format('{"client_id":"%s-%s-4000-8000-%s","mutations":[%s]}',
                       nonce, t, n, table.concat(parts, ","))
end

function request()
  if #cookies > 0 then
    headers["Cookie"] = cookies[(counter % #cookies) + 1]
  end
  if mode == "push" then
    return wrk.format("POST", "/api/sync/push", headers, push_body())
  end
  return wrk.format("GET", nil, headers, nil)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
