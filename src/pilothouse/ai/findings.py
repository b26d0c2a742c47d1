"""What the analyzers conclude, in a shape a person, an API client and an LLM can all read.

A :class:`Finding` names one cause (a stable :class:`Cause` code) on one resource, with the
:class:`Evidence` it rests on: the exact events, log lines, spec and status fields, metrics and
relations between objects that an analyzer read. Evidence carries a short ``quote`` and a stable
``id`` so that a summary (written here, or later by an LLM) can cite it and a reader can check
the citation against the cluster. A finding may carry a :class:`Remediation`: a concrete change
(current -> proposed, computed from the evidence) that the actions API can offer for approval.

Ids are content hashes, not counters: the same problem found by two scans (or by a scan and an
investigation) has the same id, which is what lets insights be deduplicated and dismissed.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["critical", "high", "medium", "low", "info"]
Category = Literal["health", "security", "performance", "cost", "reliability"]
EvidenceKind = Literal["event", "log", "field", "metric", "object", "relation"]
# cause: a specific fault that explains what is wrong; symptom: a consequence whose cause lies
# elsewhere (see ``depends_on``); risk: posture, cost and hygiene, nothing broken yet.
Role = Literal["cause", "symptom", "risk"]
Operation = Literal[
    "scale",
    "rollout_restart",
    "set_resources",
    "rollback",
    "set_image",
    "delete_pod",
    "cordon",
    "uncordon",
    "patch",
]
Risk = Literal["low", "medium", "high"]

SEVERITY_RANK: dict[str, int] = {"critical": 5, "high": 4, "medium": 3, "low": 2, "info": 1}
ROLE_RANK: dict[str, int] = {"cause": 2, "symptom": 1, "risk": 0}


class Cause(StrEnum):
    """Stable cause codes. The first group matches the simulated cluster's fault slugs."""

    # Faults with a specific, evidenced cause.
    HPA_MISSING_METRICS = "hpa-missing-metrics"
    IMAGE_NOT_FOUND = "image-not-found"
    IMAGE_PULL_UNAUTHORIZED = "image-pull-unauthorized"
    INIT_CONTAINER_FAILING = "init-container-failing"
    INSUFFICIENT_RESOURCES = "insufficient-resources"
    JOB_BACKOFF_LIMIT_EXCEEDED = "job-backoff-limit-exceeded"
    LIVENESS_PROBE_MISCONFIGURED = "liveness-probe-misconfigured"
    MISSING_CONFIGMAP = "missing-configmap"
    MISSING_ENV_VAR = "missing-env-var"
    MISSING_SECRET_KEY = "missing-secret-key"  # noqa: S105 - a cause code, not a credential
    MISSING_SERVICEACCOUNT = "missing-serviceaccount"
    NETWORKPOLICY_BLOCKS_TRAFFIC = "networkpolicy-blocks-traffic"
    NODE_NOT_READY = "node-not-ready"
    OOM_KILLED = "oom-killed"
    PVC_UNBOUND = "pvc-unbound"
    RBAC_FORBIDDEN = "rbac-forbidden"
    READINESS_PROBE_FAILING = "readiness-probe-failing"
    SERVICE_SELECTOR_MISMATCH = "service-selector-mismatch"
    SERVICE_TARGETPORT_MISMATCH = "service-targetport-mismatch"
    UNTOLERATED_TAINT = "untolerated-taint"

    # More pod and container causes.
    CRASH_LOOP = "crash-loop"
    CONTAINER_FAILED = "container-failed"
    RUN_CONTAINER_ERROR = "run-container-error"
    CREATE_CONTAINER_ERROR = "create-container-error"
    CONTAINER_WAITING = "container-waiting"
    IMAGE_PULL_FAILED = "image-pull-failed"
    INVALID_IMAGE_NAME = "invalid-image-name"
    MISSING_SECRET = "missing-secret"  # noqa: S105 - a cause code, not a credential
    MISSING_CONFIGMAP_KEY = "missing-configmap-key"
    LIVENESS_PROBE_FAILING = "liveness-probe-failing"
    STARTUP_PROBE_FAILING = "startup-probe-failing"
    MOUNT_FAILED = "mount-failed"
    SANDBOX_FAILED = "sandbox-failed"
    UNSCHEDULABLE = "unschedulable"
    NODE_SELECTOR_MISMATCH = "node-selector-mismatch"
    POD_EVICTED = "pod-evicted"
    POD_STUCK_TERMINATING = "pod-stuck-terminating"
    DEPENDENCY_UNREACHABLE = "dependency-unreachable"
    APP_ERRORS = "app-errors"

    # Workloads.
    WORKLOAD_UNAVAILABLE = "workload-unavailable"
    PROGRESS_DEADLINE_EXCEEDED = "progress-deadline-exceeded"
    REPLICA_CREATE_FAILED = "replica-create-failed"
    QUOTA_EXCEEDED = "quota-exceeded"
    JOB_DEADLINE_EXCEEDED = "job-deadline-exceeded"
    JOB_FAILED = "job-failed"
    CRONJOB_SUSPENDED = "cronjob-suspended"
    CRONJOB_INVALID_SCHEDULE = "cronjob-invalid-schedule"

    # Services, ingresses, networking.
    SERVICE_NO_ENDPOINTS = "service-no-endpoints"
    SERVICE_NO_READY_ENDPOINTS = "service-no-ready-endpoints"
    INGRESS_CLASS_MISSING = "ingress-class-missing"
    INGRESS_BACKEND_MISSING = "ingress-backend-missing"
    INGRESS_TLS_SECRET_MISSING = "ingress-tls-secret-missing"  # noqa: S105 - a cause code, not a credential
    NETWORKPOLICY_SELECTS_NOTHING = "networkpolicy-selects-nothing"

    # Storage, nodes, autoscaling, disruption.
    STORAGECLASS_MISSING = "storageclass-missing"
    NODE_PRESSURE = "node-pressure"
    NODE_CORDONED = "node-cordoned"
    HPA_MISSING_TARGET = "hpa-missing-target"
    HPA_AT_MAX_REPLICAS = "hpa-at-max-replicas"
    PDB_BLOCKS_DISRUPTION = "pdb-blocks-disruption"
    PDB_SELECTS_NOTHING = "pdb-selects-nothing"

    # Posture and cost (insights).
    PRIVILEGED_CONTAINER = "privileged-container"
    HOST_NAMESPACES = "host-namespaces"
    RUNS_AS_ROOT = "runs-as-root"
    NO_RESOURCE_LIMITS = "no-resource-limits"
    DEFAULT_SERVICE_ACCOUNT = "default-service-account"
    SECRET_IN_ENV = "secret-in-env"  # noqa: S105 - a cause code, not a credential
    OVERPROVISIONED_REQUESTS = "overprovisioned-requests"


def stable_id(prefix: str, *parts: object) -> str:
    """A short content hash: the same inputs always give the same id, across runs and hosts."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return f"{prefix}-{digest[:16]}"


class ResourceRef(BaseModel):
    """A Kubernetes object by kind, namespace (None for cluster-scoped kinds) and name."""

    model_config = ConfigDict(frozen=True)

    kind: str
    namespace: str | None = None
    name: str
    uid: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity without the uid (which a caller naming a resource does not know)."""
        return (self.kind, self.namespace or "", self.name)

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    @classmethod
    def of(cls, obj: dict[str, Any], kind: str | None = None) -> ResourceRef:
        """The reference to an object as the API server returned it."""
        meta = obj.get("metadata") or {}
        return cls(
            kind=kind or str(obj.get("kind") or ""),
            namespace=meta.get("namespace") or None,
            name=str(meta.get("name") or ""),
            uid=meta.get("uid") or None,
        )


class Evidence(BaseModel):
    """One thing the cluster shows, quoted exactly.

    ``kind`` says which optional fields are set: a ``field`` has ``path`` (dotted, list items by
    index as in ``spec.containers[0].image``, conditions by type as in
    ``status.conditions[Ready]``, ``[*]`` for all items) and ``value``; an
    ``event`` has ``reason``, ``message``, ``count``, ``event_type`` and ``last_seen``; a ``log``
    has ``container``, ``previous``, ``line_number`` (1-based, within the ``tail_lines`` last
    lines read) and ``line``; a ``metric`` has ``metric`` and ``value``; a ``relation`` has
    ``relation`` and ``target``; an ``object`` records that an object exists or not (``value``).
    """

    id: str
    kind: EvidenceKind
    resource: ResourceRef
    # A short, exact excerpt a summary can cite.
    quote: str
    path: str | None = None
    value: Any = None
    reason: str | None = None
    message: str | None = None
    count: int | None = None
    event_type: str | None = None
    last_seen: str | None = None
    container: str | None = None
    previous: bool | None = None
    line_number: int | None = None
    tail_lines: int | None = None
    line: str | None = None
    metric: str | None = None
    relation: str | None = None
    target: ResourceRef | None = None


class Recommendation(BaseModel):
    priority: int
    # snake_case verb phrase: increase_memory_limit, fix_image_tag, create_configmap, ...
    action: str
    details: str


class Change(BaseModel):
    """One field of a remediation: where, what it is now, what it would become."""

    path: str
    current: Any = None
    proposed: Any = None


class Remediation(BaseModel):
    """A concrete change an action could apply, derived from evidence (never guessed).

    ``params`` holds what the operation needs: ``container``, ``image``, ``replicas``,
    ``revision``, ``resources`` (``{"limits": {...}, "requests": {...}}``), or for ``patch`` a
    ``patch_type`` (json | merge | strategic) and the ``patch`` body.
    """

    operation: Operation
    target: ResourceRef
    description: str
    changes: list[Change] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    risk: Risk = "low"
    evidence_ids: list[str] = Field(default_factory=list)


class Finding(BaseModel):
    id: str
    analyzer: str
    resource: ResourceRef
    severity: Severity
    category: Category
    cause: Cause
    role: Role
    # One line that names the specifics: the missing key, the exit code, the port.
    summary: str
    evidence: list[Evidence] = Field(default_factory=list)
    recommendations: list[Recommendation] = Field(default_factory=list)
    remediation: Remediation | None = None
    # Owners, pods and other objects affected by or involved in the finding.
    related: list[ResourceRef] = Field(default_factory=list)
    # For symptoms: where the cause should be sought (the dependency Service, the node, the PVC).
    depends_on: list[ResourceRef] = Field(default_factory=list)
    # How sure the analyzer is: 0.9+ when the spec and the events/logs agree, lower when inferred.
    confidence: float = 0.8
    # Set by an investigation: how close the finding is to the investigated resource
    # (0 the resource and its own pods/owners, 1 what they use directly, 2 one dependency away).
    distance: int | None = None

    def refs(self) -> list[ResourceRef]:
        """Every resource the finding names: its own, the related ones, its dependencies."""
        return [self.resource, *self.related, *self.depends_on]

    def refs_without_dependencies(self) -> list[ResourceRef]:
        return [self.resource, *self.related]


def finding_id(analyzer: str, resource: ResourceRef, cause: Cause) -> str:
    return stable_id("fnd", analyzer, *resource.key, cause.value)
