-- Shared by every wrk run of the benchmark: print the run's summary as one JSON line that
-- bench/platform_bench/wrk.py parses (latencies in microseconds). wrk counts a status >= 400 in
-- errors.status; scripts that need the exact non-2xx count set `non2xx` per thread.

local function count(threads, name)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (thread:get(name) or 0)
  end
  return total
end

function summary_json(summary, latency, threads)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"non2xx":%s,"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    threads and tostring(count(threads, "non2xx")) or "null",
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
