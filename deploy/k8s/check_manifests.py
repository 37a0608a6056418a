"""Checks of a rendered overlay that a schema cannot make: references and the pod rules.

kubernetes-validate proves each object well-formed on its own. This reads all objects of one
`kubectl kustomize` output together and reports what would only fail in a cluster, or not fail
at all: a Service selecting no pod, an Ingress or autoscaler naming nothing, a ConfigMap key
that is not there, a pod that the "restricted" namespace would refuse, a budget that blocks
every drain. Run by deploy/ci/k8s-validate.sh:

    python check_manifests.py RENDERED.yaml [--self-contained]

--self-contained (the dev overlay): every referenced Secret must be in the output. Otherwise the
Secrets it names but does not contain are listed as the ones the operator creates.
Exit status 1 if anything is wrong, with one line per problem.
"""

import argparse
import sys
from collections.abc import Iterator
from typing import Any

import yaml

Obj = dict[str, Any]
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


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

    def problem(self, obj: Obj, message: str) -> None:
        """Record a problem of ``obj``."""
        self.problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {message}")

    def workloads(self) -> Iterator[tuple[Obj, Obj]]:
        """Each workload with its pod spec."""
        for obj in self.objects:
            spec = pod_spec(obj)
            if spec is not None:
                yield obj, spec

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
        for env in c.get("env", []):
            value_from = env.get("valueFrom", {})
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
    if args.self_contained:
        for name in sorted(checker.external_secrets):
            checker.problems.append(f"Secret/{name}: referenced but not generated")
    elif checker.external_secrets:
        print(f"  Secrets the operator creates: {', '.join(sorted(checker.external_secrets))}")
    for line in checker.problems:
        print(f"  ERROR {line}")
    if not checker.problems:
        print(f"  {len(objects)} objects: references resolve, pods meet the rules")
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main())
