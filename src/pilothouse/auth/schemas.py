"""API shapes of /admin/keys."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from pilothouse.auth.models import ApiKey
from pilothouse.auth.principal import Scope
from pilothouse.auth.service import KEY_PREFIX
from pilothouse.clusters.ids import ClusterId


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["orchestrator"])
    scopes: list[Scope] = Field(default=[Scope.READ], min_length=1)
    # Omitted or null: every cluster.
    clusters: list[ClusterId] | None = Field(default=None, min_length=1)


class ApiKeyOut(BaseModel):
    key_id: str
    name: str
    scopes: list[str]
    clusters: list[str] | None
    status: str = Field(description="active or revoked")
    # How the key starts, to recognise it; the secret is never shown again.
    key_hint: str
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyOut:
        return cls(
            key_id=row.id,
            name=row.name,
            scopes=row.scopes,
            clusters=row.clusters,
            status="revoked" if row.revoked_at is not None else "active",
            key_hint=f"{KEY_PREFIX}_{row.id}_…",
            created_at=row.created_at,
            created_by=row.created_by,
            revoked_at=row.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The API key. It is shown only in this response.")


class ApiKeyList(BaseModel):
    keys: list[ApiKeyOut]
    total: int
