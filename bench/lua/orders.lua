-- Benchmark 4: POST /api/v1/orders through the gateway, every request with its own
-- Idempotency-Key (so every request inserts an order) and one of the logged-in users' tokens.
--   wrk ... -s bench/lua/orders.lua URL -- TOKENS_FILE RUN_NONCE
-- Counts exact non-2xx answers per thread (wrk's own counter only sees >= 400).
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
require("summary")

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

local tokens = {}
local nonce = "run"
local counter = 0
non2xx = 0
local body = '{"items":[{"sku":"BENCH-1","quantity":2,"unit_price_cents":1250},' ..
             '{"sku":"BENCH-2","quantity":1,"unit_price_cents":990}],"currency":"EUR"}'

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then table.insert(tokens, line) end
  end
  nonce = args[2] or nonce
end

function request()
  counter = counter + 1
  local token = tokens[(counter + id) % #tokens + 1]
  return wrk.format("POST", wrk.path, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("%s-%d-%d", nonce, id, counter),
  }, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if non2xx <= 3 then
      io.stderr:write(string.format("non-2xx %d: %s\n", status, body:sub(1, 300)))
    end
  end
end

function done(summary, latency, requests)
  summary_json(summary, latency, threads)
end
