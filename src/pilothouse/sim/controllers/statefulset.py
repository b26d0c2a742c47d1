"""The StatefulSet controller (pkg/controller/statefulset): pods with stable names and storage.

Pod `<set>-<ordinal>` gets claims `<template>-<set>-<ordinal>` created before it. OrderedReady
creates ordinal N only once 0..N-1 are running and ready, and removes surplus pods highest
first, one at a time; Parallel does both at once. Every template is snapshotted in a
ControllerRevision; RollingUpdate deletes, from the highest ordinal down to the partition, one
pod whose revision is old, and lets the sync recreate it from the update revision.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, controller_ref, own_key
from pilothouse.sim.controllers.workloads import (
    CONTROLLER_REVISION_HASH,
    Revisions,
    SyncError,
    WorkloadController,
    claim,
    drop_zeros,
    next_available_at,
    owner_mapper,
    revision_number,
    selector_of,
    template_of,
    template_patch,
)
from pilothouse.sim.events import NORMAL, WARNING
from pilothouse.sim.objects import DeleteOptions
from pilothouse.sim.podutil import is_pod_available, is_pod_ready, pod_from_template
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, StorageKey, clone

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_HASH_LABEL = "controller.kubernetes.io/hash"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")
_OPTIONAL_COUNTERS = ("readyReplicas", "currentReplicas", "updatedReplicas")


def parent_and_ordinal(pod: JsonObject) -> tuple[str, int] | None:
    match = _ORDINAL.match(pod["metadata"]["name"])
    return (match.group(1), int(match.group(2))) if match else None


def _running_and_ready(pod: JsonObject) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)


def _terminating(pod: JsonObject) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def _healthy(pod: JsonObject) -> bool:
    return _running_and_ready(pod) and not _terminating(pod)


class StatefulSetController(WorkloadController):
    name = "statefulset-controller"

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.statefulsets = context.resource("apps", "StatefulSet")
        self.claims = context.resource("", "PersistentVolumeClaim")
        self.revisions = Revisions(self)

    def watches(self) -> dict[StorageKey, KeyMapper]:
        return {
            self.statefulsets.storage_key: own_key,
            self.pods.storage_key: owner_mapper(self.context, self.statefulsets),
        }

    def reconcile(self, key: str) -> None:
        sts = self.context.get(self.statefulsets, key)
        if sts is None:
            self.timers.forget(key)
            return
        selector = selector_of(sts)
        try:
            current, update, collisions = self._revisions(sts, self.revisions.owned(sts, selector))
        except SyncError:
            self.timers.retry(key)
            return
        try:
            candidates = self.context.claim_candidates(sts, self.pods)
            pods = claim(self, sts, self.pods, candidates, selector, lambda pod: self._is_member(sts, pod))
            if not sts["metadata"].get("deletionTimestamp"):
                _Update(self, sts, pods, current, update).run()
        except SyncError:
            self.timers.retry(key)
        else:
            self.timers.succeeded(key)
        # The status is written even after a failed step, from the pods as they are now.
        pods = [pod for pod in self.context.owned(sts, self.pods) if self._is_member(sts, pod)]
        self.write_status(self.statefulsets, sts, self._status(sts, pods, current, update, collisions))
        self._truncate_history(sts, pods, current, update)
        available_at = next_available_at(pods, int(sts["spec"].get("minReadySeconds", 0)), self.now())
        if available_at is not None:
            self.timers.at(key, available_at)

    def _is_member(self, sts: JsonObject, pod: JsonObject) -> bool:
        parsed = parent_and_ordinal(pod)
        return parsed is not None and parsed[0] == sts["metadata"]["name"]

    # History ----------------------------------------------------------------------------------

    def _revisions(self, sts: JsonObject, revisions: list[JsonObject]) -> tuple[JsonObject, JsonObject, int]:
        """getStatefulSetRevisions: the current revision, the update revision and the collision count."""
        status = sts.get("status") or {}
        collisions = int(status.get("collisionCount", 0))
        data = template_patch(sts["spec"]["template"])
        number = revision_number(revisions[-1]) + 1 if revisions else 1
        equal = [revision for revision in revisions if revision.get("data") == data]
        if equal and equal[-1] is revisions[-1]:
            update = revisions[-1]
        elif equal:
            # An older template again (a rollback): that revision becomes the newest.
            update = self.revisions.renumber(equal[-1], number)
        else:
            labels = ((sts["spec"]["template"].get("metadata") or {}).get("labels")) or {}
            update, collisions = self.revisions.create(
                sts, data, labels, REVISION_HASH_LABEL, number, collisions
            )
        current_name = status.get("currentRevision")
        current = next((r for r in revisions if r["metadata"]["name"] == current_name), update)
        return current, update, collisions

    def _truncate_history(
        self, sts: JsonObject, pods: list[JsonObject], current: JsonObject, update: JsonObject
    ) -> None:
        """Delete the oldest revisions beyond revisionHistoryLimit that no pod still uses."""
        live = {current["metadata"]["name"], update["metadata"]["name"]}
        live.update((pod["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH, "") for pod in pods)
        history = [
            r for r in self.revisions.owned(sts, selector_of(sts)) if r["metadata"]["name"] not in live
        ]
        limit = int(sts["spec"].get("revisionHistoryLimit", 10))
        for revision in history[: max(0, len(history) - limit)]:
            self.revisions.delete(revision)

    # Status -----------------------------------------------------------------------------------

    def _status(
        self,
        sts: JsonObject,
        pods: list[JsonObject],
        current: JsonObject,
        update: JsonObject,
        collisions: int,
    ) -> JsonObject:
        min_ready, now = int(sts["spec"].get("minReadySeconds", 0)), self.now()
        current_name, update_name = current["metadata"]["name"], update["metadata"]["name"]
        settled = [pod for pod in pods if not _terminating(pod)]
        revisions = [(pod["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH) for pod in settled]
        ready = [pod for pod in pods if _running_and_ready(pod)]
        status: JsonObject = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": len(ready),
            "currentReplicas": revisions.count(current_name),
            "updatedReplicas": revisions.count(update_name),
            "availableReplicas": sum(1 for pod in ready if is_pod_available(pod, min_ready, now)),
            "currentRevision": current_name,
            "updateRevision": update_name,
            "collisionCount": collisions,
        }
        if (sts.get("status") or {}).get("conditions"):
            status["conditions"] = sts["status"]["conditions"]
        strategy = (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
        if (
            strategy == "RollingUpdate"
            and status["updatedReplicas"] == status["replicas"] == status["readyReplicas"]
        ):
            # The rollout is complete: the update revision becomes the current one.
            status["currentReplicas"], status["currentRevision"] = status["updatedReplicas"], update_name
        return drop_zeros(status, _OPTIONAL_COUNTERS)

    # Pods and claims --------------------------------------------------------------------------

    def new_pod(self, sts: JsonObject, ordinal: int, revision: JsonObject) -> JsonObject:
        """newVersionedStatefulSetPod: the pod for `ordinal` from `revision`'s template."""
        meta, spec = sts["metadata"], sts["spec"]
        name = f"{meta['name']}-{ordinal}"
        labels = {
            POD_NAME_LABEL: name,
            POD_INDEX_LABEL: str(ordinal),
            CONTROLLER_REVISION_HASH: revision["metadata"]["name"],
        }
        pod = pod_from_template(
            template_of(revision),
            name=name,
            namespace=meta["namespace"],
            owner_ref=controller_ref(sts),
            extra_labels=labels,
        )
        pod["spec"]["hostname"] = name
        if spec.get("serviceName"):
            pod["spec"]["subdomain"] = spec["serviceName"]
        claim_volumes = [
            {"name": template_name, "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}
            for template_name, claim in self._claims(sts, ordinal)
        ]
        names = {volume["name"] for volume in claim_volumes}
        others = [v for v in pod["spec"].get("volumes") or [] if v.get("name") not in names]
        if claim_volumes or others:
            pod["spec"]["volumes"] = claim_volumes + others
        return pod

    def _claims(self, sts: JsonObject, ordinal: int) -> list[tuple[str, JsonObject]]:
        """The claims of pod `ordinal`, from the volumeClaimTemplates, by template name."""
        meta = sts["metadata"]
        selector_labels = (sts["spec"].get("selector") or {}).get("matchLabels") or {}
        claims = []
        for template in sts["spec"].get("volumeClaimTemplates") or []:
            template_meta = template.get("metadata") or {}
            claim_meta: JsonObject = {
                "name": f"{template_meta['name']}-{meta['name']}-{ordinal}", "namespace": meta["namespace"],
                "labels": {**(template_meta.get("labels") or {}), **selector_labels},
            }  # fmt: skip
            if template_meta.get("annotations"):
                claim_meta["annotations"] = dict(template_meta["annotations"])
            claims.append(
                (
                    template_meta["name"],
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": claim_meta,
                        "spec": clone(template.get("spec") or {}),
                    },
                )
            )
        return claims

    def create_pod_and_claims(self, sts: JsonObject, pod: JsonObject, ordinal: int) -> JsonObject:
        """CreateStatefulPod: claims first, then the pod, with the controller's events."""
        pod_name, set_name = pod["metadata"]["name"], sts["metadata"]["name"]
        try:
            self.create_missing_claims(sts, pod_name, ordinal)
            created = self.objects.create_owned(self.pods, pod)
        except (StatusError, SyncError) as err:
            if not (isinstance(err, StatusError) and err.reason == "AlreadyExists"):
                detail = err.message if isinstance(err, StatusError) else str(err)
                self.event(
                    sts,
                    WARNING,
                    "FailedCreate",
                    f"create Pod {pod_name} in StatefulSet {set_name} failed error: {detail}",
                )
            raise SyncError(str(err)) from err
        self.event(
            sts, NORMAL, "SuccessfulCreate", f"create Pod {pod_name} in StatefulSet {set_name} successful"
        )
        return created

    def create_missing_claims(self, sts: JsonObject, pod_name: str, ordinal: int) -> None:
        set_name = sts["metadata"]["name"]
        for _, wanted in self._claims(sts, ordinal):
            claim_name = wanted["metadata"]["name"]
            existing = self.context.store.get(
                self.claims.storage_key, sts["metadata"]["namespace"], claim_name
            )
            if existing is not None:
                if existing["metadata"].get("deletionTimestamp"):
                    raise SyncError(f"pvc {claim_name} is being deleted")
                continue
            wanted["metadata"]["ownerReferences"] = _retention_refs(sts, [], None, scaled_down=False)
            if not wanted["metadata"]["ownerReferences"]:
                del wanted["metadata"]["ownerReferences"]
            try:
                self.objects.create_owned(self.claims, wanted)
            except StatusError as err:
                self.event(
                    sts,
                    WARNING,
                    "FailedCreate",
                    f"create Claim {claim_name} for Pod {pod_name} in "
                    f"StatefulSet {set_name} failed error: {err.message}",
                )
                raise SyncError(f"failed to create PVC {claim_name}: {err.message}") from err
            self.event(
                sts,
                NORMAL,
                "SuccessfulCreate",
                f"create Claim {claim_name} Pod {pod_name} in StatefulSet {set_name} success",
            )

    def apply_retention(self, sts: JsonObject, pod: JsonObject, ordinal: int, *, scaled_down: bool) -> None:
        """Point the pod's claims' ownerReferences at the set and/or the pod, as the
        persistentVolumeClaimRetentionPolicy says, so the garbage collector removes them in time."""
        for _, wanted in self._claims(sts, ordinal):
            meta = wanted["metadata"]
            existing = self.context.store.get(self.claims.storage_key, meta["namespace"], meta["name"])
            if existing is None:
                continue
            refs = _retention_refs(
                sts, existing["metadata"].get("ownerReferences") or [], pod, scaled_down=scaled_down
            )
            if refs != (existing["metadata"].get("ownerReferences") or []):
                updated = clone(existing)
                updated["metadata"]["ownerReferences"] = refs
                if not refs:
                    del updated["metadata"]["ownerReferences"]
                self.objects.save(self.claims, updated)

    def fix_identity(self, pod: JsonObject, ordinal: int) -> None:
        """A pod that lost its identity labels gets them back (identityMatches / updateIdentity)."""
        wanted = {POD_NAME_LABEL: pod["metadata"]["name"], POD_INDEX_LABEL: str(ordinal)}
        labels = pod["metadata"].get("labels") or {}
        if any(labels.get(k) != v for k, v in wanted.items()):
            updated = clone(pod)
            updated["metadata"]["labels"] = {**labels, **wanted}
            self.objects.save(self.pods, updated)

    def delete_stateful_pod(self, sts: JsonObject, pod: JsonObject) -> None:
        pod_name, set_name = pod["metadata"]["name"], sts["metadata"]["name"]
        try:
            self.objects.delete(self.pods, pod["metadata"]["namespace"], pod_name, DeleteOptions())
        except StatusError as err:
            if err.code == 404:
                return
            self.event(
                sts,
                WARNING,
                "FailedDelete",
                f"delete Pod {pod_name} in StatefulSet {set_name} failed error: {err.message}",
            )
            raise SyncError(err.message) from err
        self.event(
            sts, NORMAL, "SuccessfulDelete", f"delete Pod {pod_name} in StatefulSet {set_name} successful"
        )


def _retention_refs(
    sts: JsonObject, refs: Sequence[JsonObject], pod: JsonObject | None, *, scaled_down: bool
) -> list[JsonObject]:
    """updateClaimOwnerRefForSetAndPod: the claim references the set when whenDeleted=Delete (unless
    its pod is scaled away and whenScaled=Delete), and the pod when it is scaled away and
    whenScaled=Delete."""
    policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
    when_deleted, when_scaled = policy.get("whenDeleted", "Retain"), policy.get("whenScaled", "Retain")
    owners = {sts["metadata"]["uid"]} | ({pod["metadata"]["uid"]} if pod is not None else set())
    result = [dict(ref) for ref in refs if ref.get("uid") not in owners]
    if when_deleted == "Delete" and not (scaled_down and when_scaled == "Delete"):
        result.append(_plain_ref(sts))
    if pod is not None and scaled_down and when_scaled == "Delete":
        result.append(_plain_ref(pod))
    return result


def _plain_ref(owner: JsonObject) -> JsonObject:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
    }


class _Update:
    """One pass of updateStatefulSet over the set's pods."""

    def __init__(
        self,
        controller: StatefulSetController,
        sts: JsonObject,
        pods: list[JsonObject],
        current: JsonObject,
        update: JsonObject,
    ) -> None:
        self.controller, self.sts = controller, sts
        self.current, self.update = current, update
        spec = sts["spec"]
        self.start = int((spec.get("ordinals") or {}).get("start", 0))
        self.monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        self.min_ready = int(spec.get("minReadySeconds", 0))
        strategy = spec.get("updateStrategy") or {}
        self.strategy = strategy.get("type", "RollingUpdate")
        self.rolling = strategy.get("rollingUpdate")
        count = int(spec.get("replicas", 1))
        self.replicas: list[JsonObject | None] = [None] * count
        self.condemned: list[JsonObject] = []
        for pod in pods:
            parsed = parent_and_ordinal(pod)
            assert parsed is not None  # claimed pods are members
            index = parsed[1] - self.start
            if 0 <= index < count:
                self.replicas[index] = pod
            else:
                self.condemned.append(pod)
        self.condemned.sort(key=lambda pod: -_ordinal(pod))

    def _available(self, pod: JsonObject) -> bool:
        return _running_and_ready(pod) and is_pod_available(pod, self.min_ready, self.controller.now())

    def run(self) -> None:
        for index in range(len(self.replicas)):
            if self._process_replica(index) and self.monotonic:
                return
        for pod in self.condemned:
            self.controller.apply_retention(self.sts, pod, _ordinal(pod), scaled_down=True)
        unhealthy = [p for p in self.replicas if p is not None and not _healthy(p)]
        unhealthy += [p for p in reversed(self.condemned) if not _healthy(p)]
        first_unhealthy = unhealthy[0] if unhealthy else None
        for pod in self.condemned:
            if self._process_condemned(pod, first_unhealthy) and self.monotonic:
                return
        if self.strategy == "RollingUpdate":
            self._rolling_update()

    def _revision_for(self, ordinal: int) -> JsonObject:
        """Ordinals below the partition stay at the current revision; the rest get the update."""
        if self.strategy == "RollingUpdate":
            if self.rolling is None:
                below = ordinal < _status_count(self.sts, "currentReplicas")
            else:
                below = ordinal < int(self.rolling.get("partition", 0) or 0)
            if below:
                return self.current
        return self.update

    def _process_replica(self, index: int) -> bool:
        """processReplica: returns True when an ordered set must wait before going further."""
        controller, sts, pod = self.controller, self.sts, self.replicas[index]
        ordinal = index + self.start
        name = f"{sts['metadata']['namespace']}/{sts['metadata']['name']}"
        if pod is not None and (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            if pod["status"]["phase"] == "Failed":
                controller.event(
                    sts,
                    WARNING,
                    "RecreatingFailedPod",
                    f"StatefulSet {name} is recreating failed Pod {pod['metadata']['name']}",
                )
            else:
                controller.event(
                    sts,
                    NORMAL,
                    "RecreatingTerminatedPod",
                    f"StatefulSet {name} is recreating terminated Pod {pod['metadata']['name']}",
                )
            controller.delete_stateful_pod(sts, pod)
            pod = None
        if pod is None:
            new_pod = controller.new_pod(sts, ordinal, self._revision_for(ordinal))
            self.replicas[index] = controller.create_pod_and_claims(sts, new_pod, ordinal)
            return True
        if (pod.get("status") or {}).get("phase") == "Pending":
            controller.create_missing_claims(sts, pod["metadata"]["name"], ordinal)
        if _terminating(pod) or not self._available(pod):
            return True
        controller.fix_identity(pod, ordinal)
        controller.apply_retention(sts, pod, ordinal, scaled_down=False)
        return False

    def _process_condemned(self, pod: JsonObject, first_unhealthy: JsonObject | None) -> bool:
        """Remove a pod beyond `replicas`; an ordered set waits for the rest to be healthy first."""
        if _terminating(pod):
            return True
        if self.monotonic and pod is not first_unhealthy and not self._available(pod):
            return True
        self.controller.delete_stateful_pod(self.sts, pod)
        return True

    def _rolling_update(self) -> None:
        """Delete the highest-ordinal pod not at the update revision, once those above are healthy."""
        partition = int((self.rolling or {}).get("partition", 0) or 0)
        update_name = self.update["metadata"]["name"]
        for index in range(len(self.replicas) - 1, partition - 1, -1):
            pod = self.replicas[index]
            if pod is None:
                return
            revision = (pod["metadata"].get("labels") or {}).get(CONTROLLER_REVISION_HASH)
            if revision != update_name and not _terminating(pod):
                self.controller.delete_stateful_pod(self.sts, pod)
                return
            if not _healthy(pod) or not self._available(pod):
                return


def _ordinal(pod: JsonObject) -> int:
    parsed = parent_and_ordinal(pod)
    return parsed[1] if parsed else -1


def _status_count(obj: JsonObject, field: str) -> int:
    return int((obj.get("status") or {}).get(field, 0))
