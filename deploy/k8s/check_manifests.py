"""Checks of a rendered overlay that a schema cannot make: references and the pod rules.

kubernetes-validate proves each object well-formed on its own. This reads all objects of one
`kubectl kustomize` output together and reports what would only fail in a cluster, or not fail
at all: a Service selecting no pod, an Ingress or autoscaler naming nothing, a ConfigMap key
that is not there, a pod that the "restricted" namespace would refuse, a budget that blocks
every drain, a pod Prometheus would not scrape or scrape on the wrong port, a process without
the tracing settings, a service whose pods would drop requests when they stop (no readiness on
/health/ready, no preStop, a grace period shorter than preStop + drain + graceful_timeout, a
rollout that removes pods first, no disruption budget). Run by deploy/ci/k8s-validate.sh:

    python check_manifests.py RENDERED.yaml [--self-contained]

--self-contained (the dev overlay): every referenced Secret must be in the output. Otherwise the
Secrets it names but does not contain are listed as the ones the operator creates.
Exit status 1 if anything is wrong, with one line per problem.
"""

import argparse
import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

Obj = dict[str, Any]
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
# A platform image (platform/<name>, under any registry, with a tag or a digest): the services,
# docs, and the relays and consumers, which run their service's image.
PLATFORM_IMAGE = re.compile(r"(^|/)platform/[^/:@]+([:@]|$)")
# The settings every platform container reads from the `telemetry` ConfigMap (base/kustomization.
# yaml); kustomize's generator appends a hash of the content to the name.
TELEMETRY = re.compile(r"telemetry(-[a-z0-9]{10})?")
TELEMETRY_KEYS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")
# The OpenTelemetry SDK's built-in samplers; the two ratio ones read OTEL_TRACES_SAMPLER_ARG.
SAMPLERS = {
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
}
# What the downward API can put in an env variable from the pod's labels or annotations.
FIELD_REF = re.compile(r"metadata\.(labels|annotations)\['([^']+)'\]")
# Stopping a service pod (deploy/gunicorn.conf.py reads the two variables): preStop, then SIGTERM,
# the drain, the in-flight requests' graceful_timeout; SIGKILL at terminationGracePeriodSeconds.
GUNICORN_CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"
DRAIN = "SHUTDOWN_DRAIN_SECONDS"
GRACEFUL = "GUNICORN_GRACEFUL_TIMEOUT"
GRACE_MARGIN = 5  # seconds left over for the kubelet, the last worker's exit, a busy node
DEFAULT_GRACE = 30  # Kubernetes' terminationGracePeriodSeconds when unset
READINESS_PATH = "/health/ready"  # 503 while the database is away or the server drains


def pod_spec(obj: Obj) -> Obj | None:
    """The pod template's spec of a workload, None for other kinds."""
    return obj["spec"]["template"]["spec"] if obj["kind"] in WORKLOADS else None


def containers(spec: Obj) -> Iterator[Obj]:
    """Every container of a pod spec, init containers first."""
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def ports(container: Obj) -> list[Obj]:
    """The container's declared ports."""
    return container.get("ports", [])


def env_value(container: Obj, name: str) -> str | None:
    """The literal value of a container's env variable ``name`` (None: unset or not literal)."""
    for env in container.get("env", []):
        if env["name"] == name:
            return env.get("value")
    return None


def sets_env(container: Obj, name: str) -> bool:
    """Whether the container sets ``name`` itself (a value or a reference)."""
    return any(env["name"] == name for env in container.get("env", []))


def gunicorn_default(name: str) -> str | None:
    """The default deploy/gunicorn.conf.py gives ``os.environ.get(name, DEFAULT)``, if any."""
    for node in ast.walk(ast.parse(GUNICORN_CONF.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "os.environ.get"
            and len(node.args) == 2
        ):
            key, default = node.args
            if isinstance(key, ast.Constant) and key.value == name:
                return str(default.value) if isinstance(default, ast.Constant) else None
    return None


def seconds(value: Any) -> float | None:
    """A number of seconds from a manifest or a setting; None if it is none."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def matches(selector: Obj, labels: Obj) -> bool:
    """Whether labels satisfy a matchLabels selector (the only form the manifests use)."""
    wanted = selector.get("matchLabels", selector)
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


class Checker:
    """The objects of one rendered overlay, and the problems found in them."""

    def __init__(self, objects: list[Obj]) -> None:
        self.objects = objects
        self.by_kind: dict[str, dict[str, Obj]] = {}
        for obj in objects:
            self.by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
        self.problems: list[str] = []
        self.external_secrets: set[str] = set()
        self.scraped: list[str] = []  # workloads Prometheus scrapes
        self.not_scraped: list[str] = []  # platform workloads that say they serve no metrics

    def problem(self, obj: Obj, message: str) -> None:
        """Record a problem of ``obj``."""
        self.problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {message}")

    def workloads(self) -> Iterator[tuple[Obj, Obj]]:
        """Each workload with its pod spec."""
        for obj in self.objects:
            spec = pod_spec(obj)
            if spec is not None:
                yield obj, spec

    def setting(self, c: Obj, name: str) -> str | None:
        """What the container's variable ``name`` holds: its env's literal value, else the last
        envFrom ConfigMap with that key (Kubernetes' precedence); None if neither sets it."""
        for env in c.get("env", []):
            if env["name"] == name:
                return env.get("value")
        for source in reversed(c.get("envFrom", [])):
            if "configMapRef" in source:
                cm = self.by_kind.get("ConfigMap", {}).get(source["configMapRef"]["name"], {})
                prefix = source.get("prefix", "")
                for key, value in (cm.get("data") or {}).items():
                    if prefix + key == name:
                        return str(value)
        return None

    def pods_selected(self, selector: Obj) -> list[tuple[Obj, Obj]]:
        """The workloads whose pods ``selector`` selects."""
        return [
            (obj, spec)
            for obj, spec in self.workloads()
            if matches(selector, obj["spec"]["template"]["metadata"].get("labels", {}))
        ]

    # --- pods ----------------------------------------------------------------------------
    def check_pods(self) -> None:
        """Selectors, the "restricted" pod rules, read-only roots, resources, image tags."""
        for obj, spec in self.workloads():
            labels = obj["spec"]["template"]["metadata"].get("labels", {})
            if obj["kind"] != "Job" and not matches(obj["spec"]["selector"], labels):
                self.problem(obj, "selector does not match the pod template's labels")
            pod_sc = spec.get("securityContext", {})
            if spec.get("automountServiceAccountToken") is not False:
                self.problem(obj, "automountServiceAccountToken is not false")
            for c in containers(spec):
                where = f"container {c['name']}: "
                sc = c.get("securityContext", {})
                if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
                    self.problem(obj, where + "runAsNonRoot is not set")
                seccomp = sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}
                if seccomp.get("type") != "RuntimeDefault":
                    self.problem(obj, where + "seccompProfile is not RuntimeDefault")
                if sc.get("allowPrivilegeEscalation") is not False:
                    self.problem(obj, where + "allowPrivilegeEscalation is not false")
                if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                    self.problem(obj, where + "capabilities do not drop ALL")
                if sc.get("readOnlyRootFilesystem") is not True:
                    self.problem(obj, where + "the root filesystem is not read-only")
                res = c.get("resources", {})
                if not {"cpu", "memory"} <= res.get("requests", {}).keys():
                    self.problem(obj, where + "no cpu and memory requests")
                if "memory" not in res.get("limits", {}):
                    self.problem(obj, where + "no memory limit")
                image = c.get("image", "")
                if "@" not in image and (":" not in image.rsplit("/", 1)[-1]):
                    self.problem(obj, where + f"image {image!r} has no tag (the overlay's images:)")
                if image.endswith(":latest"):
                    self.problem(obj, where + "image tag :latest")
                self.check_probes(obj, c)
                self.check_references(obj, spec, c)

    def check_probes(self, obj: Obj, c: Obj) -> None:
        """A probe's named port is one the container declares (the events relay and consumer
        share the services' image but declare no port: an HTTP probe copied onto them would
        never answer)."""
        named = {p["name"] for p in ports(c) if "name" in p}
        for probe in PROBES:
            for handler in ("httpGet", "tcpSocket", "grpc"):
                port = c.get(probe, {}).get(handler, {}).get("port")
                if isinstance(port, str) and port not in named:
                    self.problem(
                        obj, f"container {c['name']}: {probe} port {port!r} is not declared"
                    )

    # --- ConfigMaps and Secrets ------------------------------------------------------------
    def check_references(self, obj: Obj, spec: Obj, c: Obj) -> None:
        """The ConfigMaps, Secrets, keys and volumes a container uses exist."""
        refs: list[tuple[str, str, str | None]] = []  # (kind, name, key or None)
        for source in c.get("envFrom", []):
            if "configMapRef" in source:
                refs.append(("ConfigMap", source["configMapRef"]["name"], None))
            if "secretRef" in source:
                refs.append(("Secret", source["secretRef"]["name"], None))
        template_metadata = obj["spec"]["template"].get("metadata", {})
        for env in c.get("env", []):
            value_from = env.get("valueFrom", {})
            # A label or annotation the pod lacks gives an empty value, silently.
            field = FIELD_REF.fullmatch(value_from.get("fieldRef", {}).get("fieldPath", ""))
            if field and field[2] not in template_metadata.get(field[1], {}):
                self.problem(
                    obj,
                    f"container {c['name']}: {env['name']} reads {field[1][:-1]} {field[2]!r},"
                    " which the pod template does not have",
                )
            if "configMapKeyRef" in value_from:
                ref = value_from["configMapKeyRef"]
                refs.append(("ConfigMap", ref["name"], ref["key"]))
            if "secretKeyRef" in value_from:
                ref = value_from["secretKeyRef"]
                refs.append(("Secret", ref["name"], ref["key"]))
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        claims = {t["metadata"]["name"] for t in obj["spec"].get("volumeClaimTemplates", [])}
        for mount in c.get("volumeMounts", []):
            volume = volumes.get(mount["name"])
            if volume is None:
                if mount["name"] not in claims:
                    self.problem(obj, f"container {c['name']}: no volume {mount['name']!r}")
                continue
            if "secret" in volume:
                items = volume["secret"].get("items") or [{"key": None}]
                refs += [("Secret", volume["secret"]["secretName"], i["key"]) for i in items]
            if "configMap" in volume:
                items = volume["configMap"].get("items") or [{"key": None}]
                refs += [("ConfigMap", volume["configMap"]["name"], i["key"]) for i in items]
        for kind, name, key in refs:
            target = self.by_kind.get(kind, {}).get(name)
            if target is None:
                if kind == "Secret":
                    self.external_secrets.add(name)
                else:
                    self.problem(obj, f"container {c['name']}: no ConfigMap {name!r}")
            elif key is not None and key not in target.get("data", {}):
                self.problem(obj, f"container {c['name']}: {kind} {name!r} has no key {key!r}")

    # --- metrics and traces -----------------------------------------------------------------
    def check_observability(self) -> None:
        """Prometheus scrapes every platform pod that serves metrics, on a port it declares;
        every platform container reads the tracing settings, and those are valid."""
        for obj, spec in self.workloads():
            platform = [c for c in containers(spec) if PLATFORM_IMAGE.search(c.get("image", ""))]
            if not platform:
                continue  # PostgreSQL, RabbitMQ: not the platform's processes
            for c in platform:
                self.check_telemetry_source(obj, c)
            self.check_scraping(obj, spec)

    def check_telemetry_source(self, obj: Obj, c: Obj) -> None:
        """The container reads the `telemetry` ConfigMap (its existence and keys: check_references
        and check_telemetry); a relay or consumer also names itself in its spans."""
        names = [s["configMapRef"]["name"] for s in c.get("envFrom", []) if "configMapRef" in s]
        if not any(TELEMETRY.fullmatch(name) for name in names):
            self.problem(obj, f"container {c['name']}: no envFrom of the telemetry ConfigMap")
        command = c.get("command", [])
        if command[:2] == ["flask", "events"] and not sets_env(c, "OTEL_SERVICE_NAME"):
            self.problem(
                obj,
                f"container {c['name']}: `{' '.join(command)}` sets no OTEL_SERVICE_NAME (its"
                " spans would carry the service's name)",
            )

    def check_scraping(self, obj: Obj, spec: Obj) -> None:
        """prometheus.io/scrape says "true" (then port and path are right) or "false" (a pod
        that serves no metrics, listed in the summary); METRICS_PORT is declared and scraped."""
        annotations = obj["spec"]["template"].get("metadata", {}).get("annotations") or {}
        scrape = annotations.get("prometheus.io/scrape")
        port = annotations.get("prometheus.io/port")
        served = {p["containerPort"] for c in spec.get("containers", []) for p in ports(c)}
        for c in spec.get("containers", []):
            command = c.get("command", [])
            metrics_port = env_value(c, "METRICS_PORT")
            if command[:2] == ["flask", "events"] and not metrics_port:
                self.problem(
                    obj,
                    f"container {c['name']}: `{' '.join(command)}` has no METRICS_PORT (it"
                    " serves its metrics nowhere)",
                )
            if not metrics_port:
                continue
            declared = {str(p["containerPort"]) for p in ports(c)}
            if metrics_port not in declared:
                self.problem(
                    obj, f"container {c['name']}: METRICS_PORT {metrics_port} is no containerPort"
                )
            if scrape != "true" or port != metrics_port:
                self.problem(
                    obj,
                    f"container {c['name']}: METRICS_PORT {metrics_port} is not scraped"
                    f" (prometheus.io/scrape {scrape!r}, prometheus.io/port {port!r})",
                )
        if scrape == "false":
            self.not_scraped.append(obj["metadata"]["name"])
            return
        if scrape != "true":
            self.problem(
                obj,
                f'prometheus.io/scrape is {scrape!r}: "true", or "false" for a pod that serves'
                " no metrics",
            )
            return
        self.scraped.append(obj["metadata"]["name"])
        # A number: the usual `kubernetes-pods` relabeling takes digits only, a name would
        # leave the target on whatever port discovery found.
        if port is None or not port.isdigit():
            self.problem(obj, f"prometheus.io/port {port!r} is not a port number")
        elif int(port) not in served:
            self.problem(obj, f"prometheus.io/port {port} is no containerPort of its containers")
        path = annotations.get("prometheus.io/path")
        if not (path or "").startswith("/"):
            self.problem(obj, f"prometheus.io/path {path!r} is not a path")

    def check_telemetry(self) -> None:
        """The telemetry ConfigMap exists, has the tracing keys, and common.tracing would start
        with them (an OTLP/HTTP endpoint or none, a sampler the SDK knows, a ratio in 0..1)."""
        maps = [
            cm
            for name, cm in self.by_kind.get("ConfigMap", {}).items()
            if TELEMETRY.fullmatch(name)
        ]
        if not maps:
            self.problems.append("ConfigMap/telemetry: not in the output")
        for cm in maps:
            data = cm.get("data", {})
            for key in TELEMETRY_KEYS:
                if key not in data:
                    self.problem(cm, f"no key {key}")
            endpoint = data.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
            url = urlsplit(endpoint)
            if endpoint and (url.scheme not in ("http", "https") or not url.hostname):
                self.problem(cm, f"OTEL_EXPORTER_OTLP_ENDPOINT {endpoint!r} is no http(s) URL")
            elif url.path.rstrip("/").endswith("/v1/traces"):
                self.problem(
                    cm,
                    f"OTEL_EXPORTER_OTLP_ENDPOINT {endpoint!r}: the SDK appends /v1/traces"
                    " itself (a full URL goes in OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)",
                )
            elif endpoint and url.netloc.endswith(":4317"):
                self.problem(cm, "OTEL_EXPORTER_OTLP_ENDPOINT on 4317, OTLP/gRPC: use OTLP/HTTP")
            protocol = data.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            if protocol != "http/protobuf":
                self.problem(
                    cm, f"OTEL_EXPORTER_OTLP_PROTOCOL {protocol!r}: common.tracing refuses it"
                )
            sampler = data.get("OTEL_TRACES_SAMPLER")
            if sampler is None:
                continue  # reported above
            if sampler not in SAMPLERS:
                self.problem(cm, f"OTEL_TRACES_SAMPLER {sampler!r} is none of {sorted(SAMPLERS)}")
            elif sampler.endswith("traceidratio"):
                arg = data.get("OTEL_TRACES_SAMPLER_ARG", "")
                try:
                    ratio = float(arg)
                except ValueError:
                    ratio = -1.0
                if not 0.0 <= ratio <= 1.0:
                    self.problem(cm, f"OTEL_TRACES_SAMPLER_ARG {arg!r} is no ratio in 0..1")

    # --- Services, Ingress, autoscalers, budgets -------------------------------------------
    def check_services(self) -> None:
        """Each Service selects pods that have its target ports; StatefulSets are governed."""
        for svc in self.by_kind.get("Service", {}).values():
            pods = self.pods_selected(svc["spec"].get("selector", {}))
            if not pods:
                self.problem(svc, "selects no pod")
            named = {p["name"] for _, spec in pods for c in containers(spec) for p in ports(c)}
            for port in svc["spec"]["ports"]:
                target = port.get("targetPort")
                if isinstance(target, str) and target not in named:
                    self.problem(svc, f"targetPort {target!r} is no container port of its pods")
        for sts in self.by_kind.get("StatefulSet", {}).values():
            governing = self.by_kind.get("Service", {}).get(sts["spec"].get("serviceName", ""))
            if governing is None or governing["spec"].get("clusterIP") != "None":
                self.problem(sts, "serviceName is not a headless Service")

    def check_ingress(self) -> None:
        """Each Ingress path leads to an existing Service port."""
        for ing in self.by_kind.get("Ingress", {}).values():
            for rule in ing["spec"].get("rules", []):
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    svc = self.by_kind.get("Service", {}).get(backend["name"])
                    if svc is None:
                        self.problem(ing, f"{path['path']}: no Service {backend['name']!r}")
                        continue
                    port = backend["port"].get("name", backend["port"].get("number"))
                    known = {p.get("name") for p in svc["spec"]["ports"]}
                    known |= {p["port"] for p in svc["spec"]["ports"]}
                    if port not in known:
                        self.problem(ing, f"{path['path']}: {backend['name']} has no port {port!r}")
            for tls in ing["spec"].get("tls", []):
                if tls["secretName"] not in self.by_kind.get("Secret", {}):
                    self.external_secrets.add(tls["secretName"])

    # --- stopping without dropping requests ---------------------------------------------------
    def service_deployments(self) -> Iterator[tuple[Obj, Obj, Obj]]:
        """Each Deployment serving HTTP from a platform image (not a relay or consumer), with its
        pod spec and that container."""
        for obj, spec in self.workloads():
            if obj["kind"] != "Deployment":
                continue
            for c in spec.get("containers", []):
                events = c.get("command", [])[:2] == ["flask", "events"]
                if PLATFORM_IMAGE.search(c.get("image", "")) and not events:
                    yield obj, spec, c
                    break

    def check_shutdown(self) -> None:
        """A service's pods stop without dropping requests: readiness on /health/ready, a
        preStop hook, a grace period above preStop + drain + graceful_timeout (the values the
        container gets), rollouts that add before they remove, a budget for voluntary
        disruptions."""
        budgets = list(self.by_kind.get("PodDisruptionBudget", {}).values())
        least_pods = {  # an autoscaler's minReplicas, by the Deployment it scales
            hpa["spec"]["scaleTargetRef"]["name"]: hpa["spec"].get("minReplicas", 1)
            for hpa in self.by_kind.get("HorizontalPodAutoscaler", {}).values()
        }
        for obj, spec, c in self.service_deployments():
            where = f"container {c['name']}: "
            path = c.get("readinessProbe", {}).get("httpGet", {}).get("path")
            if path != READINESS_PATH:
                self.problem(obj, where + f"readinessProbe path is {path!r}, not {READINESS_PATH}")
            pre_stop = self.pre_stop_seconds(obj, c)
            drain_setting = self.setting(c, DRAIN)
            drain = seconds(drain_setting)
            if drain_setting is None:
                self.problem(
                    obj,
                    where + f"{DRAIN} is not set: no drain, /health/ready never says it stops",
                )
            elif drain is None or drain < 0:
                self.problem(obj, where + f"{DRAIN} {drain_setting!r} is no number of seconds")
            graceful = seconds(self.setting(c, GRACEFUL) or gunicorn_default(GRACEFUL))
            if graceful is None:
                self.problem(obj, where + f"{GRACEFUL} is no number (nor gunicorn.conf.py's)")
            grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
            needed = 0.0  # what is unknown was reported above
            if pre_stop is not None and drain is not None and graceful is not None:
                needed = pre_stop + drain + graceful + GRACE_MARGIN
            if grace < needed:
                self.problem(
                    obj,
                    f"terminationGracePeriodSeconds {grace} < preStop {pre_stop:g} + drain"
                    f" {drain:g} + graceful_timeout {graceful:g} + margin {GRACE_MARGIN}"
                    " (SIGKILL would cut in-flight requests)",
                )
            strategy = obj["spec"].get("strategy", {})
            unavailable = strategy.get("rollingUpdate", {}).get("maxUnavailable", "25%")
            if strategy.get("type", "RollingUpdate") != "RollingUpdate":
                self.problem(obj, f"rollout strategy {strategy['type']}: every pod stops at once")
            elif unavailable not in (0, "0%"):
                self.problem(
                    obj,
                    f"rollout maxUnavailable {unavailable!r}, not 0: pods would be removed"
                    " before their successors are ready",
                )
            # With one pod (dev) a budget can only block every drain or allow anything.
            pods = least_pods.get(obj["metadata"]["name"], obj["spec"].get("replicas", 1))
            labels = obj["spec"]["template"]["metadata"].get("labels", {})
            selected = any(matches(pdb["spec"].get("selector", {}), labels) for pdb in budgets)
            if pods > 1 and not selected:
                self.problem(obj, f"{pods} pods and no PodDisruptionBudget selects them")

    def pre_stop_seconds(self, obj: Obj, c: Obj) -> float | None:
        """How long the container's preStop hook keeps it serving: `sleep N` (exec) or the
        sleep action; a problem (and None) if there is none or its length is unknown."""
        hook = c.get("lifecycle", {}).get("preStop")
        where = f"container {c['name']}: "
        if not hook:
            self.problem(
                obj,
                where + "no preStop hook (SIGTERM would come while the ingress still routes here)",
            )
            return None
        command = hook.get("exec", {}).get("command", [])
        if len(command) == 2 and command[0] in ("sleep", "/bin/sleep"):
            duration = seconds(command[1])
        else:
            duration = seconds(hook.get("sleep", {}).get("seconds"))
        if duration is None:
            self.problem(obj, where + f"preStop {hook!r} is no sleep whose length can be read")
        return duration

    def check_scaling(self) -> None:
        """Autoscalers have a target that leaves them the count; budgets allow a drain."""
        hpas = self.by_kind.get("HorizontalPodAutoscaler", {})
        min_replicas: dict[str, int] = {}
        for hpa in hpas.values():
            ref = hpa["spec"]["scaleTargetRef"]
            target = self.by_kind.get(ref["kind"], {}).get(ref["name"])
            if target is None:
                self.problem(hpa, f"scales no {ref['kind']} {ref['name']!r}")
                continue
            min_replicas[ref["name"]] = hpa["spec"].get("minReplicas", 1)
            if "replicas" in target["spec"]:
                self.problem(target, "sets replicas although an autoscaler owns the count")
        for pdb in self.by_kind.get("PodDisruptionBudget", {}).values():
            pods = self.pods_selected(pdb["spec"].get("selector", {}))
            if not pods:
                self.problem(pdb, "selects no pod")
            least = pdb["spec"].get("minAvailable")
            if pdb["spec"].get("maxUnavailable") in (0, "0%"):
                self.problem(pdb, "maxUnavailable 0 blocks every drain")
            for obj, _ in pods:
                name = obj["metadata"]["name"]
                replicas = min_replicas.get(name, obj["spec"].get("replicas", 1))
                if isinstance(least, int) and least >= replicas:
                    self.problem(pdb, f"minAvailable {least} of {replicas} pods blocks every drain")


def main() -> int:
    """Check one rendered overlay; 1 if anything is wrong."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("rendered", help="the output of `kubectl kustomize OVERLAY`")
    parser.add_argument("--self-contained", action="store_true", help="every Secret is included")
    args = parser.parse_args()
    with open(args.rendered, encoding="utf-8") as file:
        objects = [obj for obj in yaml.safe_load_all(file) if obj]

    checker = Checker(objects)
    checker.check_pods()
    checker.check_services()
    checker.check_ingress()
    checker.check_scaling()
    checker.check_observability()
    checker.check_telemetry()
    checker.check_shutdown()
    if args.self_contained:
        for name in sorted(checker.external_secrets):
            checker.problems.append(f"Secret/{name}: referenced but not generated")
    elif checker.external_secrets:
        print(f"  Secrets the operator creates: {', '.join(sorted(checker.external_secrets))}")
    for line in checker.problems:
        print(f"  ERROR {line}")
    if checker.not_scraped:
        print(f"  Not scraped (they serve no metrics): {', '.join(sorted(checker.not_scraped))}")
    if not checker.problems:
        services = sum(1 for _ in checker.service_deployments())
        print(
            f"  {len(objects)} objects: references resolve, pods meet the rules,"
            f" {len(checker.scraped)} workloads scraped by Prometheus,"
            f" {services} services stop without dropping requests"
        )
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main())
