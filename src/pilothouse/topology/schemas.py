"""API shapes of ``GET /api/v1/topology``.

What ``depth`` adds: 1 the cluster, nodes, namespaces with workload counts and network policies;
2 each node's pods; 3 each namespace's workloads with their pods and the services selecting
them; 4 the objects between a workload and its pods (ReplicaSets, Jobs), each namespace's
services with the pods they select and its pods that no workload owns; 5 each pod's containers.
Fields a depth does not reach are absent.
"""

from __future__ import annotations

from typing import NotRequired

from pydantic import BaseModel, Field

# pydantic needs typing_extensions' TypedDict on Python < 3.12.
from typing_extensions import TypedDict

from pilothouse.events.schemas import EventItem

# The entries a topology has thousands of (one per pod, container, taint) are TypedDicts rather
# than models: a dict costs a tenth of a model instance to build, and the response model still
# validates and documents them.


class ClusterSummary(BaseModel):
    name: str = Field(description="The cluster's id")
    version: str = Field(examples=["1.28.3"])
    total_nodes: int
    total_pods: int = Field(description="Pods in scope (the namespace, when one is given)")
    total_services: int


class Taint(TypedDict):
    key: str
    value: NotRequired[str]
    effect: str


class NodePod(TypedDict):
    namespace: str
    name: str
    # kubectl's STATUS column: Running, CrashLoopBackOff, Init:0/1, Completed, Terminating, ...
    status: str


class NodeUsage(BaseModel):
    cpu_usage_cores: str | None
    cpu_percent: float | None = Field(description="Of allocatable")
    memory_usage_bytes: str | None
    memory_percent: float | None = Field(description="Of allocatable")


class TopologyNode(BaseModel):
    name: str
    role: str = Field(description="From node-role.kubernetes.io/* labels, else worker", examples=["worker"])
    status: str = Field(examples=["Ready"])
    cpu_available_cores: str | None = Field(description="status.allocatable.cpu in cores")
    memory_available_bytes: str | None = Field(description="status.allocatable.memory in bytes")
    pod_count: int = Field(description="Pods in scope bound to the node, whatever their phase")
    pods: list[NodePod] | None = Field(default=None, description="depth >= 2")
    taints: list[Taint]
    metrics: NodeUsage | None = Field(
        default=None, description="include_metrics, when metrics-server has a sample for the node"
    )


class WorkloadCounts(BaseModel):
    deployments: int = 0
    statefulsets: int = 0
    daemonsets: int = 0
    jobs: int = 0
    cronjobs: int = 0


class Container(TypedDict):
    name: str
    image: NotRequired[str]
    ready: bool
    restart_count: int
    # running, waiting or terminated; absent before the kubelet reports the container.
    state: NotRequired[str]
    reason: NotRequired[str]


class Pod(TypedDict):
    name: str
    status: str
    # Absent while the pod is not scheduled.
    node: NotRequired[str]
    # depth 5.
    containers: NotRequired[list[Container]]


class OwnedObject(TypedDict):
    """An object between a workload and its pods: a Deployment's ReplicaSet, a CronJob's Job."""

    kind: str
    name: str
    pods: list[str]


class Workload(BaseModel):
    kind: str = Field(examples=["Deployment"])
    name: str
    replicas: int | None = Field(default=None, description="Desired pods (not for Jobs and CronJobs)")
    ready_replicas: int | None = None
    pods: list[Pod]
    services: list[str] = Field(description="Services whose selector matches the pod template")
    owned: list[OwnedObject] | None = Field(default=None, description="depth >= 4")


class Service(BaseModel):
    name: str
    type: str
    cluster_ip: str | None = None
    selector: dict[str, str]
    pods: list[str] = Field(description="Pods the selector matches")


class TopologyNamespace(BaseModel):
    name: str
    pod_count: int
    resource_quota_enforced: bool
    workloads: WorkloadCounts
    workload_items: list[Workload] | None = Field(default=None, description="depth >= 3")
    services: list[Service] | None = Field(default=None, description="depth >= 4")
    standalone_pods: list[Pod] | None = Field(default=None, description="depth >= 4: pods no workload owns")


class NetworkPolicies(BaseModel):
    total: int
    by_namespace: dict[str, int]


class Topology(BaseModel):
    cluster: ClusterSummary
    nodes: list[TopologyNode]
    namespaces: list[TopologyNamespace]
    network_policies: NetworkPolicies
    metrics_available: bool | None = Field(
        default=None, description="include_metrics: whether metrics-server answered"
    )
    events: list[EventItem] | None = Field(default=None, description="include_events: recent Warning events")
