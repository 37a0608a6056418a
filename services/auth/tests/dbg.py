import collections, atexit, json
STATS = collections.Counter()
atexit.register(lambda: print("STATS", json.dumps(sorted((" ".join(map(str,k)), v) for k, v in STATS.items()))))
def record(case, r):
    neg = case.meta.generation.mode.value == "negative"
    if (neg and r.status_code < 300) or (not neg and r.status_code == 422) or r.status_code >= 500:
        print("ODD", case.method, case.operation.label, case.meta.phase.name.value, case.meta.generation.mode.value, r.status_code, repr(case.path_parameters), repr(case.query), repr(case.headers)[:200], repr(case.body)[:300], r.text[:300], file=open("/tmp/odd.txt","a"))
    STATS[(case.operation.label, case.meta.phase.name.value, case.meta.generation.mode.value, r.status_code)] += 1
