"""Workloads: Deployments, StatefulSets, DaemonSets and ReplicaSets short of replicas, stalled
rollouts, and controllers that cannot create their pods (FailedCreate: a missing ServiceAccount,
an exhausted quota).

"Short of replicas" is a symptom: the pods analyzer says why the pods are not ready. A
FailedCreate names its cause directly, and is what explains a workload that has no pods at all.
"""

from __future__ import annotations

import re

from pilothouse.ai import evidence as ev
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Cause, Evidence, Finding, ResourceRef, Severity
from pilothouse.ai.objects import (
    JsonObject,
    condition,
    d,
    dicts,
    i,
    kind_of,
    name_of,
    namespace_of,
    pod_spec_of,
    pod_spec_path,
    s,
)
from pilothouse.ai.snapshot import ClusterSnapshot

NAME = "workloads"
_SERVICE_ACCOUNT = re.compile(
    r'serviceaccount "(?P<name>[^"]+)" not found|error looking up service account'
    r" (?P<ns>[^/\s]+)/(?P<sa>[^:\s]+)"
)
_QUOTA = re.compile(
    r"exceeded quota: (?P<quota>[^,]+), requested: (?P<requested>[^,]+(?:,[^,:]+=[^,]+)*), used:"
    r" (?P<used>.+?), limited: (?P<limited>.+)$"
)


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    snap = ctx.snapshot
    findings: list[Finding] = []
    for workload in [*snap.deployments, *snap.statefulsets, *snap.daemonsets, *snap.replicasets]:
        if kind_of(workload) == "ReplicaSet" and snap.controller_of(workload) is not None:
            continue  # a Deployment's ReplicaSet: reported through its Deployment
        finding = _short_of_replicas(snap, workload)
        if finding is not None:
            findings.append(finding)
        stalled = _progress_deadline(snap, workload)
        if stalled is not None:
            findings.append(stalled)
    for owner in [*snap.replicasets, *snap.statefulsets, *snap.daemonsets, *snap.jobs]:
        failed = _failed_create(snap, owner)
        if failed is not None:
            findings.append(failed)
    return findings


def _replica_counts(workload: JsonObject) -> tuple[int, int, str]:
    """(desired, available, what "available" counts) for each kind."""
    spec, status = d(workload.get("spec")), d(workload.get("status"))
    kind = kind_of(workload)
    if kind == "DaemonSet":
        return (
            i(status.get("desiredNumberScheduled")),
            i(status.get("numberAvailable", status.get("numberReady"))),
            "available",
        )
    desired = i(spec.get("replicas"), 1)
    if kind == "StatefulSet":
        return desired, i(status.get("readyReplicas")), "ready"
    return desired, i(status.get("availableReplicas")), "available"


def _short_of_replicas(snap: ClusterSnapshot, workload: JsonObject) -> Finding | None:
    desired, available, word = _replica_counts(workload)
    if desired <= 0 or available >= desired:
        return None
    kind = kind_of(workload)
    path = (
        "status.numberAvailable"
        if kind == "DaemonSet"
        else "status.readyReplicas"
        if kind == "StatefulSet"
        else "status.availableReplicas"
    )
    evidence = [
        ev.field(workload, path, available, quote=f"{kind} {name_of(workload)}: {available}/{desired} {word}")
    ]
    available_condition = condition(workload, "Available")
    if available_condition is not None and available_condition.get("status") != "True":
        evidence.append(
            ev.field(
                workload,
                "status.conditions[Available]",
                {k: available_condition.get(k) for k in ("status", "reason", "message")},
                quote=(
                    f"Available={available_condition.get('status')} ({s(available_condition.get('reason'))}):"
                    f" {s(available_condition.get('message'))}"
                ),
            )
        )
    pods = snap.pods_of(workload)
    severity: Severity = "high" if available == 0 else "medium"
    return ev.make_finding(
        analyzer=NAME,
        resource=workload,
        cause=Cause.WORKLOAD_UNAVAILABLE,
        severity=severity,
        category="health",
        role="symptom",
        summary=(
            f"{ev.ref(workload)} has {available} of {desired} replicas {word} ({len(pods)}"
            f" pod{'s' if len(pods) != 1 else ''} exist{'s' if len(pods) == 1 else ''})"
        ),
        evidence=evidence,
        related=[*[c for c in snap.children_of(workload) if kind_of(c) == "ReplicaSet"], *pods],
        depends_on=pods[:10],
        recommend=[
            (
                "investigate_pods",
                f"See why the pods of {ev.ref(workload)} are not available (their own findings)",
            )
        ],
        confidence=0.9,
    )


def _progress_deadline(snap: ClusterSnapshot, workload: JsonObject) -> Finding | None:
    progressing = condition(workload, "Progressing")
    if progressing is None or progressing.get("reason") != "ProgressDeadlineExceeded":
        return None
    message = s(progressing.get("message"))
    pods = snap.pods_of(workload)
    return ev.make_finding(
        analyzer=NAME,
        resource=workload,
        cause=Cause.PROGRESS_DEADLINE_EXCEEDED,
        severity="high",
        category="health",
        role="symptom",
        summary=f"{ev.ref(workload)}'s rollout stalled: {message}",
        evidence=[
            ev.field(
                workload,
                "status.conditions[Progressing]",
                {k: progressing.get(k) for k in ("status", "reason", "message")},
                quote=f"Progressing=False (ProgressDeadlineExceeded): {message}",
            )
        ],
        related=pods,
        depends_on=pods[:10],
        recommend=[
            ("investigate_pods", "See why the new pods do not become available"),
            ("rollback", "Roll back if the new revision is broken"),
        ],
        confidence=0.9,
    )


def _failed_create(snap: ClusterSnapshot, owner: JsonObject) -> Finding | None:
    events = [
        e
        for e in snap.events_for(owner, warnings_only=True)
        if e.get("reason") in ("FailedCreate", "FailedCreatePodSandBox")
    ]
    if not events:
        return None
    latest = events[-1]
    message = s(latest.get("message"))
    root = snap.root_owner(owner)
    namespace = namespace_of(owner)
    evidence: list[Evidence] = [ev.event(latest)]
    related: list[JsonObject | ResourceRef] = [owner] if owner is not root else []
    account = _SERVICE_ACCOUNT.search(message)
    if account:
        sa_name = account["name"] or account["sa"] or ""
        spec = pod_spec_of(root)
        evidence.append(
            ev.field(root, f"{pod_spec_path(root)}.serviceAccountName", spec.get("serviceAccountName"))
        )
        sa_ref = ResourceRef(kind="ServiceAccount", namespace=namespace, name=sa_name)
        missing = snap.get("ServiceAccount", namespace, sa_name) is None and snap.knows(
            "ServiceAccount", namespace
        )
        if missing:
            evidence.append(ev.existence(sa_ref, False, f"ServiceAccount {namespace}/{sa_name}: not found"))
        for binding in snap.rolebindings:
            if namespace_of(binding) != namespace:
                continue
            for subject in dicts(binding.get("subjects")):
                if subject.get("kind") == "ServiceAccount" and subject.get("name") == sa_name:
                    evidence.append(
                        ev.relation(
                            binding,
                            "binds",
                            sa_ref,
                            (
                                f"RoleBinding {name_of(binding)} binds ServiceAccount {sa_name}, which"
                                f" {'does not exist' if missing else 'exists'}"
                            ),
                        )
                    )
                    related.append(binding)
        return ev.make_finding(
            analyzer=NAME,
            resource=root,
            cause=Cause.MISSING_SERVICEACCOUNT,
            severity="high",
            category="health",
            summary=(
                f"{ev.ref(root)} runs as ServiceAccount {sa_name}, which does not exist in {namespace}:"
                f" {kind_of(owner)} {name_of(owner)} cannot create pods ({i(latest.get('count'), 1)}"
                " FailedCreate events)"
            ),
            evidence=evidence,
            related=[*related, sa_ref],
            recommend=[
                (
                    "create_service_account",
                    (
                        f"Create ServiceAccount {sa_name} in {namespace} (kubectl create serviceaccount"
                        f" {sa_name} -n {namespace})"
                    ),
                ),
                (
                    "fix_service_account_name",
                    f"Or set serviceAccountName of {ev.ref(root)} to an existing ServiceAccount",
                ),
            ],
            confidence=0.95 if missing else 0.7,
        )
    quota = _QUOTA.search(message)
    if quota:
        quota_obj = snap.get("ResourceQuota", namespace, quota["quota"].strip())
        if quota_obj is not None:
            evidence.append(
                ev.field(
                    quota_obj,
                    "status",
                    d(quota_obj.get("status")),
                    quote=(
                        f"ResourceQuota {name_of(quota_obj)}: used {quota['used']}, limited"
                        f" {quota['limited']}"
                    ),
                )
            )
            related.append(quota_obj)
        return ev.make_finding(
            analyzer=NAME,
            resource=root,
            cause=Cause.QUOTA_EXCEEDED,
            severity="high",
            category="health",
            summary=(
                f"{ev.ref(root)} cannot create pods: ResourceQuota {quota['quota'].strip()} is exhausted"
                f" (requested {quota['requested']}, used {quota['used']}, limited {quota['limited']})"
            ),
            evidence=evidence,
            related=related,
            recommend=[
                ("raise_quota", f"Raise ResourceQuota {quota['quota'].strip()} or lower the pods' requests")
            ],
            confidence=0.95,
        )
    return ev.make_finding(
        analyzer=NAME,
        resource=root,
        cause=Cause.REPLICA_CREATE_FAILED,
        severity="high",
        category="health",
        summary=f"{kind_of(owner)} {name_of(owner)} cannot create pods: {ev.clip(message, 200)}",
        evidence=evidence,
        related=related,
        recommend=[("fix_pod_creation", f"Fix what the API server rejects: {ev.clip(message, 150)}")],
        confidence=0.7,
    )
