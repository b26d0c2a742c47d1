"""API shapes of ``GET /api/v1/metrics/nodes`` and ``GET /api/v1/metrics/pods``.

Quantities are strings of exact decimals: cores (``"2.345"``) and whole bytes (``"5368709120"``).
A figure the cluster does not report is null, never an estimate.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class NodeCpu(BaseModel):
    usage_cores: str | None = Field(description="null when metrics-server has no sample for the node")
    allocatable_cores: str | None
    percent: float | None = Field(description="Usage as a percentage of allocatable, one decimal")
    throttling_detected: bool | None = Field(
        default=None, description="metrics.k8s.io reports no CPU throttling: always null"
    )


class NodeMemory(BaseModel):
    usage_bytes: str | None
    allocatable_bytes: str | None
    percent: float | None


class NodeMetrics(BaseModel):
    name: str
    cpu: NodeCpu
    memory: NodeMemory
    network: None = Field(default=None, description="metrics.k8s.io reports no network figures: always null")
    disk: None = Field(default=None, description="metrics.k8s.io reports no disk usage: always null")
    status: str = Field(description="Ready or NotReady (kubectl's STATUS column)", examples=["Ready"])
    pod_count: int = Field(description="Pods on the node that are not Succeeded or Failed")
    timestamp: str | None = Field(description="When metrics-server sampled the node")


class NodeMetricsList(BaseModel):
    timestamp: str = Field(description="The newest sample's time (RFC 3339); now when there is none")
    nodes: list[NodeMetrics]


class ContainerCpu(BaseModel):
    usage_cores: str
    requests: str | None = Field(description="Cores, null when the container requests none")
    limits: str | None
    percent_of_request: float | None
    percent_of_limit: float | None


class ContainerMemory(BaseModel):
    usage_bytes: str
    requests: str | None = Field(description="Bytes, null when the container requests none")
    limits: str | None
    percent_of_request: float | None
    percent_of_limit: float | None


class ContainerMetrics(BaseModel):
    name: str
    cpu: ContainerCpu
    memory: ContainerMemory


class PodMetrics(BaseModel):
    namespace: str
    name: str
    timestamp: str | None
    containers: list[ContainerMetrics]


class PodMetricsList(BaseModel):
    timestamp: str
    total_count: int = Field(description="Pods with metrics matching the filters, before the limit")
    pods: list[PodMetrics]
