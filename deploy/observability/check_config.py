#!/usr/bin/env python3
"""Check the observability profile's configuration against what it refers to.

    .venv/bin/python deploy/observability/check_config.py              # static, no container
    .venv/bin/python deploy/observability/check_config.py --targets http://127.0.0.1:9090

Static (Grafana's and Jaeger's images cannot be pulled here, so their side is only read):
  a. every data source uid a dashboard names is provisioned (datasources.yaml), with its type,
     and each data source's URL is a service of compose.yaml on a container port it publishes;
  b. every metric a dashboard's PromQL reads exists: a family of libs/common's common.metrics
     (read from its source; a counter is served as <name>_total, a histogram as _bucket, _sum,
     _count) or one of Traefik's (TRAEFIK below);
  c. the dashboards provider's path is where compose mounts the dashboards folder, the
     provisioning folder is mounted where Grafana reads it, and the home dashboard exists;
  d. every name prometheus.yml resolves is a network alias of deploy/compose/base.yaml that some
     service extending it carries, or the gateway of docker-compose.yml, and is scraped on the
     port it serves metrics on (METRICS_PORT, the image's PORT, Traefik's metrics entry point).
With --targets URL, a running Prometheus instead (.ci/run, after the compose platform is up):
waits up to --timeout s until each job of prometheus.yml has at least as many targets as
containers carry its names (one each: no --scale), all `up`, then has Prometheus evaluate every
query of the dashboards (a refused one is a problem; one without series yet is only reported).
Exit status 1 with one line per problem.
"""

import argparse
import ast
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COMPOSE = HERE / "compose.yaml"
PROMETHEUS = HERE / "prometheus.yml"
DATASOURCES = HERE / "grafana/provisioning/datasources/datasources.yaml"
PROVIDERS = HERE / "grafana/provisioning/dashboards/dashboards.yaml"
DASHBOARDS = HERE / "grafana/dashboards"
METRICS_SOURCE = ROOT / "libs/common/src/common/metrics"
ROOT_COMPOSE = ROOT / "docker-compose.yml"
BASE = ROOT / "deploy/compose/base.yaml"
GRAFANA_PROVISIONING = "/etc/grafana/provisioning"  # Grafana's default (GF_PATHS_PROVISIONING)

# Traefik v3's Prometheus families (pkg/observability/metrics/prometheus.go), as served.
TRAEFIK_HISTOGRAMS = [
    f"traefik_{level}_request_duration_seconds" for level in ("entrypoint", "router", "service")
]
TRAEFIK = {
    *(f"{name}{suffix}" for name in TRAEFIK_HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")),
    "traefik_config_reloads_total",
    "traefik_config_last_reload_success",
    "traefik_open_connections",
    "traefik_tls_certs_not_after",
    *(
        f"traefik_{level}_{name}"
        for level in ("entrypoint", "router", "service")
        for name in (
            "requests_total",
            "requests_tls_total",
            "requests_bytes_total",
            "responses_bytes_total",
        )
    ),
    "traefik_service_retries_total",
    "traefik_service_server_up",
}
# What Prometheus itself records for every target.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

# Served series of a prometheus_client family, by the class (or *MetricFamily) defining it.
SUFFIXES = {
    "Counter": ("_total",),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count"),
    "Summary": ("", "_sum", "_count"),
}


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def walk(node, where: str = ""):
    """Yield (where, dict) for every dict in a dashboard, `where` naming the panel it is in."""
    if isinstance(node, dict):
        label = node.get("title") if node.get("type") != "link" else None
        if label is None and "name" in node and "query" in node:
            label = f"variable ${node['name']}"
        if label:
            where = f"{where} / {label}" if where else str(label)
        yield where, node
        for value in node.values():
            yield from walk(value, where)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, where)


def queries(dashboard: dict):
    """(where, PromQL) of every panel target and query variable."""
    for where, node in walk(dashboard.get("panels", [])):
        if isinstance(node.get("expr"), str):
            yield where, node["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable.get("query")
            query = query.get("query", "") if isinstance(query, dict) else query or ""
            # Grafana's label_values(<selector>, <label>) reads the selector's series.
            if m := re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query):
                query = m.group(1)
            yield f"variable ${variable.get('name')}", query


STRINGS = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`""")
BRACES = re.compile(r"\{[^}]*\}|\[[^\]]*\]")  # label matchers, ranges (Grafana's $vars too)
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
WORD = re.compile(r"(?<![\w:$.])([a-zA-Z_:][\w:]*)(\s*\()?")
KEYWORDS = {"by", "without", "offset", "bool", "and", "or", "unless", "inf", "nan", "atan2"}


def metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression: identifiers that are no function, keyword or
    label (matchers, ranges and by/without lists are dropped first)."""
    expr = GROUPING.sub(" ", BRACES.sub(" ", STRINGS.sub('""', expr)))
    return {name for name, call in WORD.findall(expr) if not call and name.lower() not in KEYWORDS}


def common_metrics() -> set[str]:
    """Every series name libs/common's metrics modules define, read from their source."""
    names = set()
    for path in sorted(METRICS_SOURCE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            kind = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            kind = kind.removesuffix("MetricFamily")
            first = node.args[0] if node.args else None
            name = first.value if isinstance(first, ast.Constant) else None
            if kind in SUFFIXES and isinstance(name, str):
                base = name.removesuffix("_total") if kind == "Counter" else name
                names.update(base + suffix for suffix in SUFFIXES[kind])
    return names


def check_dashboards(problems: list[str]) -> None:
    """(a) data source uids and URLs, (b) metric names."""
    provisioned = {ds["uid"]: ds for ds in load_yaml(DATASOURCES)["datasources"]}
    services = load_yaml(COMPOSE)["services"]
    for ds in provisioned.values():
        m = re.fullmatch(r"https?://([\w.-]+):(\d+)/?", ds.get("url", ""))
        service = services.get(m.group(1)) if m else None
        ports = [str(p).rsplit(":", 1)[-1] for p in (service or {}).get("ports", [])]
        if not m or service is None:
            problems.append(
                f"datasources.yaml: {ds['name']}'s url {ds.get('url')!r} is not "
                f"http://<service of compose.yaml>:<port> (services: {', '.join(services)})"
            )
        elif m.group(2) not in ports:
            problems.append(
                f"datasources.yaml: {ds['name']}'s url {ds['url']} names port {m.group(2)}, "
                f"but compose's {m.group(1)} serves {', '.join(ports) or 'no port'}"
            )
    known = common_metrics()
    if not known:
        problems.append(f"no metric family found in {METRICS_SOURCE.relative_to(ROOT)}")
    known |= TRAEFIK | PROMETHEUS_OWN
    for file, dashboard in dashboards().items():
        for where, node in walk([dashboard.get("panels", []), dashboard.get("templating", {})]):
            ref = node.get("datasource")
            if not isinstance(ref, dict) or "uid" not in ref or ref["uid"].startswith("$"):
                continue
            if ref["uid"] not in provisioned:
                problems.append(
                    f"{file}: {where}: data source uid {ref['uid']!r} is not provisioned "
                    f"(datasources.yaml has {', '.join(sorted(provisioned))})"
                )
            elif ref.get("type", kind := provisioned[ref["uid"]]["type"]) != kind:
                problems.append(  # once per file and uid (duplicates are dropped)
                    f"{file}: data source {ref['uid']!r} is provisioned with type {kind!r}, "
                    f"the dashboard says {ref['type']!r}"
                )
        for where, expr in queries(dashboard):
            for name in sorted(metric_names(expr) - known):
                problems.append(
                    f"{file}: {where}: metric {name!r} is neither defined in "
                    f"{METRICS_SOURCE.relative_to(ROOT)} nor a Traefik metric: {expr}"
                )


def check_grafana_mounts(problems: list[str]) -> None:
    """(c) the provider's path, the provisioning folder and the home dashboard."""
    grafana = load_yaml(COMPOSE)["services"]["grafana"]
    mounts = {}  # container path -> host path
    for volume in grafana.get("volumes", []):
        source, target, *_ = volume.split(":")
        mounts[target.rstrip("/")] = (COMPOSE.parent / source).resolve()

    def host_path(path: str) -> Path | None:
        for target, source in mounts.items():
            if path == target or path.startswith(target + "/"):
                return source / path[len(target) :].lstrip("/")
        return None

    env = grafana.get("environment", {})
    provisioning = env.get("GF_PATHS_PROVISIONING", GRAFANA_PROVISIONING)
    if host_path(provisioning) != PROVIDERS.parents[1]:
        problems.append(
            f"compose.yaml: grafana reads its provisioning from {provisioning}, where "
            f"{PROVIDERS.parents[1].relative_to(HERE)} is not mounted"
        )
    for provider in load_yaml(PROVIDERS)["providers"]:
        path = provider.get("options", {}).get("path", "")
        if host_path(path) != DASHBOARDS:
            problems.append(
                f"dashboards.yaml: provider {provider['name']!r} reads {path!r}, but compose.yaml "
                f"mounts {DASHBOARDS.relative_to(HERE)} at "
                f"{next((t for t, s in mounts.items() if s == DASHBOARDS), 'no path')}"
            )
    home = env.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    home_file = host_path(home) if home else None
    if home and not (home_file and home_file.is_file()):
        problems.append(
            f"compose.yaml: the home dashboard {home} is no file of a folder grafana mounts"
        )


def platform_model() -> tuple[dict[str, list[tuple[str, int | None]]], dict[str, int]]:
    """What prometheus.yml may resolve: name -> [(what declares it, the port it serves metrics
    on)], and name -> how many containers of the platform carry it (at scale 1)."""
    base = load_yaml(BASE)["services"]
    root = load_yaml(ROOT_COMPOSE)
    names: dict[str, list[tuple[str, int | None]]] = {}
    for base_name, service in base.items():
        env = service.get("environment", {})
        port = env.get("METRICS_PORT") or env.get("PORT")
        if port is None and "build" in service:
            build = service["build"]
            dockerfile = BASE.parent / build["context"] / build["dockerfile"]
            m = re.search(r"\bPORT=(\d+)", dockerfile.read_text())
            port = m and m.group(1)
        for alias in aliases(service):
            names.setdefault(alias, []).append((f"base.yaml's {base_name}", port and int(port)))
    # The gateway: Traefik's metrics on the entry point --metrics.prometheus.entryPoint names
    # (`traefik` by default: :8080 unless --entrypoints.traefik.address moves it).
    gateway = root["services"]["gateway"]["command"]
    flags = dict(arg.lstrip("-").split("=", 1) for arg in gateway if "=" in arg)
    entry_point = flags.get("metrics.prometheus.entryPoint", "traefik")
    address = flags.get(f"entrypoints.{entry_point}.address", ":8080" * (entry_point == "traefik"))
    if flags.get("metrics.prometheus") == "true" and address:
        names["gateway"] = [("docker-compose.yml's gateway", int(address.rsplit(":", 1)[1]))]
    # Containers behind each name: services extending a base carry its aliases.
    carried = dict.fromkeys(root["services"], 1)
    for include in root.get("include", []):
        path = ROOT / (include if isinstance(include, str) else include["path"])
        for service in (load_yaml(path).get("services") or {}).values():
            extends = service.get("extends") or {}
            if extends and (path.parent / extends.get("file", "")).resolve() == BASE:
                for alias in aliases(base[extends["service"]]):
                    carried[alias] = carried.get(alias, 0) + 1
    return names, carried


def aliases(service: dict) -> list[str]:
    networks = service.get("networks") or {}
    if isinstance(networks, list):  # the short syntax declares no alias
        return []
    return [alias for network in networks.values() for alias in (network or {}).get("aliases", [])]


def scrape_names(config: dict):
    """(job, name, port) of every dns_sd name and static target of prometheus.yml."""
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for name in sd["names"]:
                yield job["job_name"], name, sd.get("port")
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.rpartition(":")
                yield job["job_name"], host, int(port)


def check_prometheus(problems: list[str]) -> None:
    """(d) every name prometheus.yml resolves, and its port."""
    names, carried = platform_model()
    for job, name, port in scrape_names(load_yaml(PROMETHEUS)):
        if name not in names:
            problems.append(
                f"prometheus.yml: job {job}: {name!r} is no network alias of "
                f"deploy/compose/base.yaml nor the metrics of the gateway "
                f"(known: {', '.join(sorted(names))})"
            )
            continue
        for declarer, served in names[name]:
            if port != served:
                problems.append(
                    f"prometheus.yml: job {job}: {name} is scraped on port {port}, but "
                    f"{declarer} serves its metrics on {served}"
                )
        if not carried.get(name):
            problems.append(f"prometheus.yml: job {job}: no service of the platform carries {name}")


def expected_targets() -> dict[str, int]:
    _, carried = platform_model()
    expected: dict[str, int] = {}
    for job, name, _ in scrape_names(load_yaml(PROMETHEUS)):
        expected[job] = expected.get(job, 0) + carried.get(name, 0)
    return expected


def get(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http only)
        return json.load(response)


def targets_problems(url: str, expected: dict[str, int]) -> tuple[list[str], str]:
    try:
        active = get(f"{url}/api/v1/targets?state=active")["data"]["activeTargets"]
    except (OSError, ValueError, KeyError) as exc:
        return [f"Prometheus at {url} does not answer /api/v1/targets: {exc}"], ""
    problems, summary = [], []
    for job, count in expected.items():
        targets = [t for t in active if t["labels"].get("job") == job]
        up = sum(t["health"] == "up" for t in targets)
        summary.append(f"{job} {up}/{len(targets)} up")
        if len(targets) < count:
            problems.append(f"job {job}: {len(targets)} targets, expected at least {count}")
        for t in targets:
            if t["health"] != "up":
                error = t.get("lastError") or "not scraped yet"
                problems.append(f"job {job}: {t['scrapeUrl']} is {t['health']}: {error}")
    return problems, ", ".join(summary)


def run_dashboards(url: str) -> tuple[list[str], str]:
    """Every query of the dashboards, evaluated by Prometheus ($service matching every service,
    $__rate_interval 1m): an error is a problem; how many return series is information only."""
    problems, empty = [], []
    every = [(f, w, e) for f, d in dashboards().items() for w, e in queries(d)]
    for file, where, expr in every:
        query = re.sub(r"\$__(?:rate_)?interval\b", "1m", expr)
        query = re.sub(r"\$\w+", ".*", query)
        try:
            result = get(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}")
        except urllib.error.HTTPError as exc:  # 400 with the parser's error in the body
            result = json.load(exc)
        except (OSError, ValueError) as exc:
            result = {"status": "error", "error": str(exc)}
        if result.get("status") != "success":
            problems.append(f"{file}: {where}: Prometheus refuses {query}: {result.get('error')}")
        elif not result["data"]["result"]:
            empty.append(where)
    info = f"dashboard queries: {len(every)} evaluated"
    info += f", {len(problems)} refused" * bool(problems)
    info += f", {len(every) - len(problems) - len(empty)} with data"
    if empty:  # a rate needs two scrapes in its range; a labelled counter, its first count
        info += f" (no series yet: {'; '.join(dict.fromkeys(empty))})"
    return problems, info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", metavar="URL", help="check a running Prometheus instead")
    parser.add_argument("--timeout", type=float, default=60, help="seconds (--targets)")
    args = parser.parse_args()
    problems: list[str] = []
    if args.targets:
        url = args.targets.rstrip("/")
        expected = expected_targets()
        deadline = time.monotonic() + args.timeout
        while True:
            problems, summary = targets_problems(url, expected)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(2)
        if not problems:
            print(f"check_config: Prometheus scrapes every target: {summary}")
            problems, info = run_dashboards(url)
            print(f"check_config: {info}")
    else:
        for check in (check_dashboards, check_grafana_mounts, check_prometheus):
            check(problems)
        if not problems:
            print("check_config: dashboards, Grafana provisioning and prometheus.yml agree")
    for problem in dict.fromkeys(problems):
        print(f"check_config: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
