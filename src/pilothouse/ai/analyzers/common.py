"""Helpers the analyzers share: workload revisions, remediation builders, node matching."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pilothouse.ai import evidence as ev
from pilothouse.ai.findings import Change, Evidence, Remediation
from pilothouse.ai.objects import (
    JsonObject,
    annotations_of,
    container_index,
    containers,
    d,
    dicts,
    kind_of,
    labels_of,
    lst,
    matches_selector,
    pod_spec_of,
    pod_spec_path,
    s,
)
from pilothouse.ai.snapshot import ClusterSnapshot

REVISION = "deployment.kubernetes.io/revision"
# Kinds whose pod template can be changed (resources, image, probes) and rolled out.
TEMPLATED = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
RESTARTABLE = ("Deployment", "StatefulSet", "DaemonSet")


def container_path(workload: JsonObject, container: str, *, init: bool = False) -> str | None:
    """``spec.template.spec.containers[2]`` for a container of the workload's pod template."""
    index = container_index(pod_spec_of(workload), container, init=init)
    if index < 0:
        return None
    return f"{pod_spec_path(workload)}.{'initContainers' if init else 'containers'}[{index}]"


def json_pointer(path: str) -> str:
    """``spec.template.spec.containers[0].image`` -> ``/spec/template/spec/containers/0/image``."""
    return "/" + re.sub(r"\[(\d+)\]", r".\1", path).replace("~", "~0").replace("/", "~1").replace(".", "/")


def revision(obj: JsonObject) -> int:
    value = annotations_of(obj).get(REVISION, "")
    return int(value) if value.isdigit() else 0


def revisions(snapshot: ClusterSnapshot, deployment: JsonObject) -> list[JsonObject]:
    """The Deployment's ReplicaSets, newest revision first."""
    sets = [child for child in snapshot.children_of(deployment) if kind_of(child) == "ReplicaSet"]
    return sorted(sets, key=revision, reverse=True)


def previous_revision(snapshot: ClusterSnapshot, deployment: JsonObject) -> JsonObject | None:
    sets = revisions(snapshot, deployment)
    return sets[1] if len(sets) > 1 and revision(sets[1]) > 0 else None


def images(workload: JsonObject) -> dict[str, str]:
    spec = pod_spec_of(workload)
    return {s(c.get("name")): s(c.get("image")) for c in containers(spec)}


def rollback_or_restart(
    snapshot: ClusterSnapshot, root: JsonObject, why: str, evidence: Iterable[Evidence] = ()
) -> Remediation | None:
    """Roll a Deployment back when an earlier revision exists, else restart the rollout.

    A crash loop whose cause the cluster does not reveal is most often a bad release: going back
    to the revision before it is the change most likely to help, and the easiest to undo.
    """
    evidence_ids = [item.id for item in evidence]
    target = ev.ref(root)
    if kind_of(root) == "Deployment":
        previous = previous_revision(snapshot, root)
        current = revisions(snapshot, root)[0] if revisions(snapshot, root) else None
        if previous is not None:
            number = revision(previous)
            before = images(current) if current is not None else images(root)
            after = images(previous)
            changes = [
                Change(path=f"{container} image", current=before.get(container), proposed=image)
                for container, image in after.items()
                if before.get(container) != image
            ] or [Change(path="revision", current=revision(current) if current else None, proposed=number)]
            return Remediation(
                operation="rollback",
                target=target,
                description=(
                    f"Roll {target} back to revision {number} (ReplicaSet"
                    f" {s(d(previous.get('metadata')).get('name'))}): {why}"
                ),
                changes=changes,
                params={"revision": number, "replicaset": s(d(previous.get("metadata")).get("name"))},
                risk="medium",
                evidence_ids=evidence_ids,
            )
    if kind_of(root) in RESTARTABLE:
        return Remediation(
            operation="rollout_restart",
            target=target,
            description=f"Restart the rollout of {target}: {why}",
            changes=[
                Change(
                    path="spec.template.metadata.annotations.kubectl.kubernetes.io/restartedAt",
                    current=annotations_of(d(d(root.get("spec")).get("template"))).get(
                        "kubectl.kubernetes.io/restartedAt"
                    ),
                    proposed="<time of approval>",
                )
            ],
            risk="low",
            evidence_ids=evidence_ids,
        )
    return None


def json_patch(
    target: JsonObject,
    description: str,
    operations: list[JsonObject],
    changes: list[Change],
    evidence: Iterable[Evidence],
    risk: str = "medium",
) -> Remediation:
    return Remediation(
        operation="patch",
        target=ev.ref(target),
        description=description,
        changes=changes,
        params={"patch_type": "json", "patch": operations},
        risk="low" if risk == "low" else "high" if risk == "high" else "medium",
        evidence_ids=[item.id for item in evidence],
    )


# --- nodes and scheduling -------------------------------------------------------------------------


def node_ready(node: JsonObject) -> str:
    """The node's Ready condition status: ``True``, ``False`` or ``Unknown``."""
    for cond in dicts(d(node.get("status")).get("conditions")):
        if cond.get("type") == "Ready":
            return s(cond.get("status")) or "Unknown"
    return "Unknown"


def node_selected(pod_spec: Mapping[str, Any], node: JsonObject) -> bool:
    """Whether the node satisfies the pod's nodeSelector and required node affinity."""
    labels = labels_of(node)
    for key, value in d(pod_spec.get("nodeSelector")).items():
        if labels.get(str(key)) != str(value):
            return False
    required = d(
        d(d(pod_spec.get("affinity")).get("nodeAffinity")).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
    )
    terms = list(dicts(required.get("nodeSelectorTerms")))
    if terms:
        return any(
            matches_selector(labels, {"matchExpressions": lst(term.get("matchExpressions"))})
            for term in terms
        )
    return True


def tolerates(pod_spec: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    for toleration in dicts(pod_spec.get("tolerations")):
        effect = s(toleration.get("effect"))
        if effect and effect != taint.get("effect"):
            continue
        key = s(toleration.get("key"))
        operator = s(toleration.get("operator")) or "Equal"
        if operator == "Exists" and (not key or key == taint.get("key")):
            return True
        if (
            operator == "Equal"
            and key == taint.get("key")
            and s(toleration.get("value")) == s(taint.get("value"))
        ):
            return True
    return False


def blocking_taints(pod_spec: Mapping[str, Any], node: JsonObject) -> list[JsonObject]:
    """The node's NoSchedule/NoExecute taints the pod does not tolerate."""
    return [
        taint
        for taint in dicts(d(node.get("spec")).get("taints"))
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(pod_spec, taint)
    ]


def describe_taint(taint: Mapping[str, Any]) -> str:
    value = s(taint.get("value"))
    return f"{s(taint.get('key'))}{'=' + value if value else ''}:{s(taint.get('effect'))}"


def toleration_for(taint: Mapping[str, Any]) -> JsonObject:
    """The toleration that admits a pod onto a node with ``taint``."""
    key, value, effect = s(taint.get("key")), s(taint.get("value")), s(taint.get("effect"))
    if value:
        return {"key": key, "operator": "Equal", "value": value, "effect": effect}
    return {"key": key, "operator": "Exists", "effect": effect}
