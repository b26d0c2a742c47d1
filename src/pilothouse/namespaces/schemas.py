"""API shapes of ``GET /api/v1/namespaces``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PageInfo(BaseModel):
    """Which slice of the collection this is (as ``GET /api/v1/resources/{kind}`` reports it)."""

    limit: int
    offset: int
    returned: int
    has_more: bool


class ResourceQuotaStatus(BaseModel):
    """The namespace's ResourceQuotas' ``status.hard`` and ``status.used``, summed per resource."""

    hard: dict[str, str] = Field(examples=[{"pods": "100", "memory": "1000Gi"}])
    used: dict[str, str] = Field(examples=[{"pods": "23", "memory": "245Gi"}])


class NamespaceItem(BaseModel):
    name: str
    status: str = Field(description="status.phase: Active or Terminating", examples=["Active"])
    creation_timestamp: str | None = Field(description="RFC 3339")
    pod_count: int = Field(description="Pods in the namespace, whatever their phase")
    resource_quota_status: ResourceQuotaStatus | None = Field(
        default=None, description="Only for namespaces with at least one ResourceQuota"
    )
    labels: dict[str, str] = Field(default_factory=dict)


class NamespaceList(BaseModel):
    total_count: int = Field(description="Namespaces matching include_system, before paging")
    page: PageInfo
    items: list[NamespaceItem]
