-- wrk's request generator for bench_mqtt's HTTP part (devtools/management/commands/
-- bench_mqtt.py fills in KEYS and START): one reading per POST /telemetry, 100 devices'
-- keys in turn, each (device, second) once: every wrk thread writes its own 11-day span,
-- starting 200 days back.
local keys = {KEYS}
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local n = 0
request = function()
  n = n + 1
  local key = keys[(n % #keys) + 1]
  local t = os.date("!%Y-%m-%dT%H:%M:%SZ", START + id * 1000000 + math.floor(n / #keys))
  local body = '{"time": "' .. t .. '", "temperature": 34.5, "weight": 41.2}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-Device-Key"] = key}, body)
end
