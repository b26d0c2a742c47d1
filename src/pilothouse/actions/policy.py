"""The AI safety policy: what proposed actions may do, and which a human must approve.

Autonomy levels, from least to most autonomous:

- ``0_observe_only``: investigations diagnose; no action is proposed.
- ``1_suggest_only``: actions are proposed for people to carry out; approving one is refused.
- ``2_review_before_apply`` (default): every action waits for a human's approval.
- ``3_auto_apply_safe_operations``: low-risk actions that need no human approval are applied as
  soon as they are proposed; the rest wait.
- ``4_auto_apply_approved_operations``: every action that needs no human approval is applied.

Whatever the level, an action is never applied when it targets a protected namespace, uses a
forbidden operation, or would exceed the deletions allowed in 24 hours; and the cluster's own
security mode must allow writes (``fullAccess``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

AutonomyLevel = Literal[
    "0_observe_only",
    "1_suggest_only",
    "2_review_before_apply",
    "3_auto_apply_safe_operations",
    "4_auto_apply_approved_operations",
]
AUTONOMY_LEVELS: tuple[str, ...] = AutonomyLevel.__args__  # type: ignore[attr-defined]


class SafetyPolicy(BaseModel):
    autonomy_level: AutonomyLevel = "2_review_before_apply"
    max_resource_deletion_count: int = Field(default=10, ge=0, le=10_000)
    protected_namespaces: list[str] = Field(
        default_factory=lambda: ["kube-system", "kube-node-lease", "kube-public"]
    )
    # Operation names (scale, rollout_restart, set_resources, rollback, set_image, patch, cordon,
    # uncordon) and delete_<kind> (delete_pod, delete_pvc, ...).
    forbidden_operations: list[str] = Field(default_factory=lambda: ["delete_pvc", "delete_secret"])
    # Operations that always wait for a person, at any autonomy level; scale_to_zero is a scale
    # whose target is 0 replicas, modify_rbac a patch of an RBAC object.
    require_human_approval: dict[str, bool] = Field(
        default_factory=lambda: {"delete_pod": True, "modify_rbac": True, "scale_to_zero": True}
    )
    action_ttl_minutes: int = Field(default=120, ge=1, le=7 * 24 * 60)


class InvestigationSettings(BaseModel):
    max_concurrent_investigations: int = Field(default=5, ge=1, le=100)
    investigation_timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    auto_remediation_enabled: bool = False
    save_investigation_history: bool = True
    verification_timeout_seconds: int = Field(default=300, ge=1, le=3600)
    # Pods must stay ready, without restarting, this long before an action counts as verified.
    verification_stable_seconds: int = Field(default=20, ge=0, le=3600)


class InsightSettings(BaseModel):
    scan_interval_seconds: int = Field(default=300, ge=10, le=24 * 3600)
    enabled: bool = True


RBAC_KINDS = frozenset({"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})


def policy_names(operation: str, kind: str, params: dict[str, Any]) -> set[str]:
    """Every name the policy may know this action by."""
    names = {operation}
    if operation == "delete_pod":
        names.add(f"delete_{kind.lower()}")
    if operation == "scale" and params.get("replicas") == 0:
        names.add("scale_to_zero")
    if kind in RBAC_KINDS:
        names.add("modify_rbac")
    return names


def refusal(
    policy: SafetyPolicy, *, operation: str, kind: str, namespace: str | None, params: dict[str, Any]
) -> str | None:
    """Why the policy forbids applying this action, or None."""
    if namespace and namespace in policy.protected_namespaces:
        return f"namespace {namespace} is protected by the safety policy"
    forbidden = policy_names(operation, kind, params) & set(policy.forbidden_operations)
    if forbidden:
        return f"the safety policy forbids {', '.join(sorted(forbidden))}"
    return None


def needs_human(
    policy: SafetyPolicy, *, operation: str, kind: str, params: dict[str, Any], risk: str
) -> str | None:
    """Why a person must approve this action, or None when the autonomy level may apply it."""
    level = policy.autonomy_level
    required = [
        name for name in policy_names(operation, kind, params) if policy.require_human_approval.get(name)
    ]
    if required:
        return f"the safety policy requires approval for {', '.join(sorted(required))}"
    if level in ("0_observe_only", "1_suggest_only", "2_review_before_apply"):
        return f"autonomy level {level}: every action is reviewed before it is applied"
    if level == "3_auto_apply_safe_operations" and risk != "low":
        return f"risk {risk}: autonomy level {level} applies only low-risk operations by itself"
    return None
