"""Registered clusters and the executors serving them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pilothouse.audit.clock import UtcDateTime
from pilothouse.store.database import Base


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # How the server reaches the cluster: "tunnel" (an executor dials in) or "direct" (a
    # kubeconfig context the server uses itself).
    transport: Mapped[str] = mapped_column(String(16))
    # Direct clusters only: the kubeconfig file and context (None: the file's current context).
    kubeconfig_path: Mapped[str | None] = mapped_column(String(1024))
    kube_context: Mapped[str | None] = mapped_column(String(253))
    security_mode: Mapped[str] = mapped_column(String(32))
    # Executor token (tunnel clusters): salted hash only, shown once at add/rotate.
    token_salt: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    token_rotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Latest heartbeat of any of its executors.
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime())
    agent_version: Mapped[str | None] = mapped_column(String(64))
    # The executor's api-resources list (POST /agent/discovery); None until reported, when
    # the server's policy uses the built-in resource types.
    discovery: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    discovery_digest: Mapped[str | None] = mapped_column(String(64))
    discovery_reported_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ClusterExecutor(Base):
    """One executor process (X-Executor-Id) of a cluster, as last heard from."""

    __tablename__ = "cluster_executors"

    cluster_id: Mapped[str] = mapped_column(
        String(63), ForeignKey("clusters.id", ondelete="CASCADE"), primary_key=True
    )
    executor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str | None] = mapped_column(String(64))
    inflight: Mapped[int] = mapped_column(Integer)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())
