"""API shapes of /clusters and /agent/discovery."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

ConnectionState = Literal["connected", "disconnected"]


class ClusterOut(BaseModel):
    cluster_id: str
    name: str
    status: ConnectionState
    agent_version: str | None
    last_seen: datetime | None
    transport: str
    security_mode: str
    created_at: datetime


class ClusterList(BaseModel):
    clusters: list[ClusterOut]
    total: int


class ExecutorOut(BaseModel):
    executor_id: str
    version: str | None
    inflight: int
    last_seen: datetime
    connected: bool


class DiscoverySummary(BaseModel):
    resources: int
    reported_at: datetime | None


class ClusterStatus(BaseModel):
    cluster_id: str
    name: str
    status: ConnectionState
    connected: bool
    agent_version: str | None
    last_seen: datetime | None
    active_sessions: int
    queue_depth: int = Field(description="Commands waiting for an executor (not yet leased)")
    transport: str
    security_mode: str
    executors: list[ExecutorOut]
    # None: no discovery reported; the policy uses the built-in resource types.
    discovery: DiscoverySummary | None


class PingResult(BaseModel):
    cluster_id: str
    status: Literal["ok"] = "ok"
    round_trip_ms: float = Field(description="From sending the ping to receiving the executor's answer")
    command_id: str
    output: str | None
    executed_at: datetime | None


class DiscoveredResource(BaseModel):
    """One row of ``kubectl api-resources``; Kubernetes' own field names are accepted too."""

    model_config = ConfigDict(extra="ignore")

    plural: str = Field(min_length=1, max_length=253, validation_alias=AliasChoices("plural", "name"))
    singular: str = Field(
        default="", max_length=253, validation_alias=AliasChoices("singular", "singularName", "singular_name")
    )
    kind: str = Field(min_length=1, max_length=253)
    short_names: list[str] = Field(
        default_factory=list, max_length=32, validation_alias=AliasChoices("short_names", "shortNames")
    )
    group: str = Field(default="", max_length=253)
    namespaced: bool = True
    versions: list[str] = Field(default_factory=list, max_length=32)
    categories: list[str] = Field(default_factory=list, max_length=32)
    verbs: list[str] = Field(default_factory=list, max_length=32)


class DiscoveryReport(BaseModel):
    resources: list[DiscoveredResource] = Field(min_length=1, max_length=10_000)


class DiscoveryAccepted(BaseModel):
    message: str
    cluster_id: str
    resources: int
