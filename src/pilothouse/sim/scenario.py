"""Scenarios: manifests, nodes, an image registry and the hidden behaviours, in one YAML file.

The format is documented in docs/scenarios.md. Built-in scenarios live in
`pilothouse/sim/scenarios/*.yaml` and are found by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pilothouse.sim.behaviour import Behaviours, ImageRegistry
from pilothouse.sim.objects import rfc3339
from pilothouse.sim.store import JsonObject, clone
from pilothouse.sim.validation import parse_quantity

if TYPE_CHECKING:
    from pilothouse.sim.cluster import SimCluster

DEFAULT_NODES = [{"name": f"node-{i}", "cpu": "4", "memory": "16Gi"} for i in (1, 2, 3)]


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class NodeSpec:
    name: str
    cpu: str = "4"
    memory: str = "16Gi"
    pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict[str, Any], ...] = ()
    ready: bool = True
    not_ready_after: float | None = None
    conditions: dict[str, str] = field(default_factory=dict)  # e.g. MemoryPressure: "True"

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> NodeSpec:
        if not isinstance(spec, dict) or not spec.get("name"):
            raise ScenarioError("every node needs a name")
        return cls(
            str(spec["name"]),
            str(spec.get("cpu", "4")),
            str(spec.get("memory", "16Gi")),
            int(spec.get("pods", 110)),
            dict(spec.get("labels") or {}),
            tuple(spec.get("taints") or ()),
            bool(spec.get("ready", True)),
            float(spec["notReadyAfter"]) if "notReadyAfter" in spec else None,
            {str(k): str(v) for k, v in (spec.get("conditions") or {}).items()},
        )


@dataclass
class Scenario:
    name: str
    description: str
    manifests: list[JsonObject]
    nodes: list[NodeSpec]
    registry: ImageRegistry
    behaviours: Behaviours
    expect: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: Any, default_name: str = "scenario") -> Scenario:
        if not isinstance(document, dict):
            raise ScenarioError("a scenario is a YAML mapping")
        manifests = document.get("manifests") or []
        if isinstance(manifests, str):
            manifests = [m for m in yaml.safe_load_all(manifests) if m]
        if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
            raise ScenarioError("manifests must be a list of Kubernetes objects")
        try:
            return cls(
                name=str(document.get("name", default_name)),
                description=str(document.get("description", "")),
                manifests=manifests,
                nodes=[NodeSpec.from_spec(n) for n in document.get("nodes") or DEFAULT_NODES],
                registry=ImageRegistry.from_spec(document.get("registry")),
                behaviours=Behaviours.from_spec(document.get("behaviours")),
                expect=dict(document.get("expect") or {}),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ScenarioError(f"invalid scenario {default_name}: {err}") from err


def combine(scenarios: list[Scenario]) -> Scenario:
    """Several scenarios in one cluster: all manifests and behaviours; nodes and registries merged.

    A node named twice is created once (the first definition wins); behaviour rules keep their
    order, so an earlier scenario's rule wins for a container both match.
    """
    if len(scenarios) == 1:
        return scenarios[0]
    nodes: dict[str, NodeSpec] = {}
    for scenario in scenarios:
        for node in scenario.nodes:
            nodes.setdefault(node.name, node)
    registry = ImageRegistry(
        images=set().union(*(s.registry.images for s in scenarios))
        if all(s.registry.images for s in scenarios)
        else set(),
        missing=[pattern for s in scenarios for pattern in s.registry.missing],
        private=[repo for s in scenarios for repo in s.registry.private],
        pull_seconds=max(s.registry.pull_seconds for s in scenarios),
    )
    return Scenario(
        name="+".join(s.name for s in scenarios),
        description="; ".join(s.description for s in scenarios),
        manifests=[m for s in scenarios for m in s.manifests],
        nodes=list(nodes.values()),
        registry=registry,
        behaviours=Behaviours([rule for s in scenarios for rule in s.behaviours.rules]),
        expect={},
    )


def builtin_scenario_names() -> list[str]:
    folder = resources.files("pilothouse.sim") / "scenarios"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str) -> Scenario:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        text, name = path.read_text(), path.stem
    else:
        resource = resources.files("pilothouse.sim") / "scenarios" / f"{name_or_path}.yaml"
        if not resource.is_file():
            known = ", ".join(builtin_scenario_names())
            raise ScenarioError(f"unknown scenario {name_or_path!r}; built-in scenarios: {known}")
        text, name = resource.read_text(), name_or_path
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ScenarioError(f"scenario {name} is not valid YAML: {err}") from err
    return Scenario.from_document(document, name)


def node_object(spec: NodeSpec, index: int) -> JsonObject:
    labels = {
        "kubernetes.io/hostname": spec.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        **spec.labels,
    }
    obj: JsonObject = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": spec.name,
            "labels": labels,
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {
            "podCIDR": f"10.244.{index}.0/24",
            "podCIDRs": [f"10.244.{index}.0/24"],
            "providerID": f"pilothouse-sim://{spec.name}",
        },
    }
    if spec.taints:
        obj["spec"]["taints"] = [dict(t) for t in spec.taints]
    return obj


def node_status(spec: NodeSpec, index: int, now: float) -> JsonObject:
    memory = int(parse_quantity(spec.memory))
    cpu_millis = int(parse_quantity(spec.cpu) * 1000)
    # Allocatable is capacity minus what the kubelet reserves for the system and eviction.
    allocatable_memory = max(0, memory - 100 * 2**20 - 256 * 2**20)
    stamp = rfc3339(now)
    ready = "True" if spec.ready else "Unknown"

    def cond(kind: str, value: str, reason: str, message: str) -> JsonObject:
        value = spec.conditions.get(kind, value)
        return {
            "type": kind,
            "status": value,
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
            "reason": reason,
            "message": message,
        }

    return {
        "capacity": {
            "cpu": spec.cpu,
            "memory": f"{memory // 1024}Ki",
            "pods": str(spec.pods),
            "ephemeral-storage": "102626232Ki",
            "hugepages-2Mi": "0",
        },
        "allocatable": {
            "cpu": f"{cpu_millis - 100}m" if cpu_millis > 100 else spec.cpu,
            "memory": f"{allocatable_memory // 1024}Ki",
            "pods": str(spec.pods),
            "ephemeral-storage": "94580335255",
            "hugepages-2Mi": "0",
        },
        "conditions": [
            cond(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond(
                "Ready",
                ready,
                "KubeletReady" if spec.ready else "NodeStatusUnknown",
                "kubelet is posting ready status" if spec.ready else "Kubelet stopped posting node status.",
            ),
        ],
        "addresses": [
            {"type": "InternalIP", "address": f"10.0.0.{10 + index}"},
            {"type": "Hostname", "address": spec.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": f"{index:032x}",
            "systemUUID": f"{index:08x}-0000-0000-0000-000000000000",
            "bootID": f"{index:08x}-b007-0000-0000-000000000000",
            "kernelVersion": "6.8.0-48-generic",
            "osImage": "Ubuntu 24.04.1 LTS",
            "containerRuntimeVersion": "containerd://2.0.4",
            "kubeletVersion": "v1.37.0",
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def mark_node_not_ready(node: JsonObject, now: float) -> JsonObject:
    updated = clone(node)
    stamp = rfc3339(now)
    for cond in updated["status"]["conditions"]:
        cond.update(
            status="Unknown",
            reason="NodeStatusUnknown",
            message="Kubelet stopped posting node status.",
            lastTransitionTime=stamp,
        )
    return updated


def add_nodes(cluster: SimCluster, specs: list[NodeSpec]) -> None:
    nodes = cluster.resource("", "Node")
    existing = cluster.store.count(nodes.storage_key)
    for offset, spec in enumerate(specs):
        index = existing + offset
        created = cluster.objects.create(nodes, node_object(spec, index), namespace=None)
        with_status = clone(created)
        with_status["status"] = node_status(spec, index, cluster.clock.now())
        cluster.objects.save(nodes, with_status)
        if spec.not_ready_after is not None and cluster.kubelet is not None:
            cluster.kubelet.schedule_node_failure(spec.name, cluster.clock.now() + spec.not_ready_after)


def install(cluster: SimCluster, scenario: Scenario) -> None:
    """Load a scenario into a cluster: registry and behaviours first, then nodes, then objects."""
    if cluster.kubelet is not None:
        cluster.kubelet.configure(scenario.behaviours, scenario.registry)
    add_nodes(cluster, scenario.nodes)
    ordered = sorted(scenario.manifests, key=_creation_order)
    cluster.apply(*ordered)


_KIND_ORDER = [
    "Namespace",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
    "ServiceAccount",
    "ClusterRole",
    "Role",
    "ClusterRoleBinding",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "ResourceQuota",
    "LimitRange",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "NetworkPolicy",
    "Service",
]


def _creation_order(manifest: JsonObject) -> int:
    """As `kubectl apply` of a well-ordered bundle: namespaces and config before workloads."""
    kind = manifest.get("kind", "")
    return _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
