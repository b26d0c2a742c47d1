"""The ReplicaSet controller (pkg/controller/replicaset): keeps `spec.replicas` pods running.

Pods are claimed through controller references, created from the template in slow-start
batches and, when there are too many, deleted in ActivePodsWithRanks order. A refused creation
(admission: a missing service account, an exhausted quota) becomes a FailedCreate event and a
ReplicaFailure condition, and the sync is retried with back-off.
"""

from __future__ import annotations

from pilothouse.sim.controllers.base import (
    ControllerContext,
    KeyMapper,
    condition,
    controller_ref,
    own_key,
    set_condition,
)
from pilothouse.sim.controllers.workloads import (
    BURST_REPLICAS,
    SyncError,
    WorkloadController,
    claim,
    controller_of,
    deletion_order,
    drop_zeros,
    next_available_at,
    node_ranks,
    owner_mapper,
    selector_of,
    slow_start_batch,
)
from pilothouse.sim.podutil import is_pod_active, is_pod_available, is_pod_ready, pod_from_template
from pilothouse.sim.store import JsonObject, StorageKey

REPLICA_FAILURE = "ReplicaFailure"


class ReplicaSetController(WorkloadController):
    name = "replicaset-controller"

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.replicasets = context.resource("apps", "ReplicaSet")

    def watches(self) -> dict[StorageKey, KeyMapper]:
        return {
            self.replicasets.storage_key: own_key,
            self.pods.storage_key: owner_mapper(self.context, self.replicasets),
        }

    def reconcile(self, key: str) -> None:
        rs = self.context.get(self.replicasets, key)
        if rs is None:
            self.timers.forget(key)
            return
        active = [pod for pod in self.context.claim_candidates(rs, self.pods) if is_pod_active(pod)]
        pods = claim(self, rs, self.pods, active, selector_of(rs))
        error = None
        if not rs["metadata"].get("deletionTimestamp"):
            error = self._manage(rs, pods)
        now = self.now()
        self.write_status(self.replicasets, rs, replica_set_status(rs, pods, error, self.objects.now(), now))
        if error is not None:
            self.timers.retry(key)
            return
        self.timers.succeeded(key)
        available_at = next_available_at(pods, rs["spec"].get("minReadySeconds", 0), now)
        if available_at is not None:
            self.timers.at(key, available_at)

    def _manage(self, rs: JsonObject, pods: list[JsonObject]) -> str | None:
        """Create or delete pods towards `spec.replicas`; returns what went wrong, if anything."""
        diff = len(pods) - int(rs["spec"].get("replicas", 1))
        if diff < 0:
            _, error = slow_start_batch(min(-diff, BURST_REPLICAS), lambda _: self._create(rs))
            return error.message if error is not None else None
        if diff > 0:
            victims = deletion_order(pods, node_ranks(pods, self._related_pods(rs, pods)))
            try:
                for pod in victims[: min(diff, BURST_REPLICAS)]:
                    self.delete_pod(rs, pod)
            except SyncError as err:
                return str(err)
        return None

    def _create(self, rs: JsonObject) -> JsonObject:
        meta = rs["metadata"]
        pod = pod_from_template(
            rs["spec"].get("template") or {},
            generate_name=f"{meta['name']}-",
            namespace=meta["namespace"],
            owner_ref=controller_ref(rs),
        )
        return self.create_pod(rs, pod)

    def _related_pods(self, rs: JsonObject, pods: list[JsonObject]) -> list[JsonObject]:
        """Pods of every ReplicaSet under the same controller (a Deployment's old and new sets):
        spreading deletions over nodes looks at all of them."""
        owner = controller_of(rs)
        if owner is None:
            return pods
        related: list[JsonObject] = []
        for sibling in self.context.list(self.replicasets, rs["metadata"]["namespace"]):
            sibling_owner = controller_of(sibling)
            if sibling_owner is not None and sibling_owner.get("uid") == owner.get("uid"):
                related.extend(p for p in self.context.owned(sibling, self.pods) if is_pod_active(p))
        return related


def replica_set_status(
    rs: JsonObject, pods: list[JsonObject], error: str | None, now_text: str, now: float
) -> JsonObject:
    """calculateStatus: counts over the active pods, and the ReplicaFailure condition."""
    spec = rs["spec"]
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds", 0))
    status: JsonObject = {k: v for k, v in (rs.get("status") or {}).items() if k == "conditions"}
    status["conditions"] = [dict(c) for c in status.get("conditions") or []]
    failure = condition(rs, REPLICA_FAILURE)
    if error is not None and failure is None:
        diff = len(pods) - int(spec.get("replicas", 1))
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        set_condition(status, REPLICA_FAILURE, "True", reason, error, now_text)
    elif error is None and failure is not None:
        status["conditions"] = [c for c in status["conditions"] if c.get("type") != REPLICA_FAILURE]
    status.update(
        replicas=len(pods),
        fullyLabeledReplicas=sum(1 for p in pods if _has_labels(p, template_labels)),
        readyReplicas=sum(1 for p in pods if is_pod_ready(p)),
        availableReplicas=sum(1 for p in pods if is_pod_available(p, min_ready, now)),
        observedGeneration=rs["metadata"].get("generation", 1),
    )
    # `replicas` is always encoded; the other counters and the conditions are omitempty.
    return drop_zeros(status, ("fullyLabeledReplicas", "readyReplicas", "availableReplicas", "conditions"))


def _has_labels(pod: JsonObject, wanted: dict[str, str]) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())
