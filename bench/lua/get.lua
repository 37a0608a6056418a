-- GET benchmarks (1-3): the request is the command line's URL and -H headers; only the summary
-- is added (no response callback, so wrk does not parse bodies).
package.path = debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua;" .. package.path
require("summary")

function done(summary, latency, requests)
  summary_json(summary, latency, nil)
end
