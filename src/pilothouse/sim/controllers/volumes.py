"""Persistent volumes: the PV controller, a dynamic provisioner and the storage admission steps.

Split as in a real cluster. The persistentvolume-controller binds claims to matching volumes,
assigns the default StorageClass, marks claims for an external provisioner (ExternalProvisioning),
waits for a first consumer under WaitForFirstConsumer, releases volumes whose claim is gone and
lifts the pvc/pv-protection finalizers once nothing uses them. The provisioner plays every
StorageClass's external provisioner: it creates `pvc-<claim uid>` volumes and deletes released
ones whose reclaim policy is Delete.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper, key_of, split_key
from pilothouse.sim.events import NORMAL, WARNING
from pilothouse.sim.objects import DeleteOptions, parse_time
from pilothouse.sim.podutil import is_pod_terminal
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.selectors import LabelSelector
from pilothouse.sim.status import StatusError
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone
from pilothouse.sim.validation import parse_quantity

PV_CONTROLLER = "persistentvolume-controller"
PV_PROTECTION = "kubernetes.io/pv-protection"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
PROVISIONER_ANNOTATIONS = (
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
)
SELECTED_NODE = "volume.kubernetes.io/selected-node"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"


def claim_is_bound(context: ControllerContext, namespace: str, claim_name: str) -> bool:
    """For the scheduler: is this claim bound to a volume yet?"""
    claim = context.store.get(
        context.resource("", "PersistentVolumeClaim").storage_key, namespace, claim_name
    )
    return claim is not None and (claim.get("status") or {}).get("phase") == "Bound"


def claim_names(pod: JsonObject | None) -> list[str]:
    """The claims a pod's volumes use."""
    if pod is None:
        return []
    return [
        v["persistentVolumeClaim"]["claimName"]
        for v in (pod.get("spec") or {}).get("volumes") or []
        if (v.get("persistentVolumeClaim") or {}).get("claimName")
    ]


def _requested_storage(claim: JsonObject) -> Decimal:
    requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
    return parse_quantity(str(requests.get("storage", "0")))


def _volume_capacity(volume: JsonObject) -> Decimal:
    return parse_quantity(str(((volume.get("spec") or {}).get("capacity") or {}).get("storage", "0")))


def _is_default_class(storage_class: JsonObject) -> bool:
    annotations = storage_class["metadata"].get("annotations") or {}
    return any(annotations.get(name) == "true" for name in DEFAULT_CLASS_ANNOTATIONS)


def _set_annotations(obj: JsonObject, values: dict[str, str]) -> None:
    obj["metadata"].setdefault("annotations", {}).update(values)


class _Storage:
    """The resources both storage controllers read and write."""

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.claims = context.resource("", "PersistentVolumeClaim")
        self.volumes = context.resource("", "PersistentVolume")
        self.classes = context.resource("storage.k8s.io", "StorageClass")
        self.pods = context.resource("", "Pod")

    def storage_class(self, name: str | None) -> JsonObject | None:
        return self.context.store.get(self.classes.storage_key, "", name) if name else None

    def default_class(self) -> JsonObject | None:
        """The newest class marked default, as the DefaultStorageClass admission plugin picks it."""
        defaults = [c for c in self.context.store.list(self.classes.storage_key) if _is_default_class(c)]
        defaults.sort(
            key=lambda c: (parse_time(c["metadata"].get("creationTimestamp")) or 0.0, c["metadata"]["name"])
        )
        return defaults[-1] if defaults else None

    def volume(self, name: str) -> JsonObject | None:
        return self.context.store.get(self.volumes.storage_key, "", name)

    def claim(self, namespace: str, name: str) -> JsonObject | None:
        return self.context.store.get(self.claims.storage_key, namespace, name)

    def users(self, claim: JsonObject) -> list[JsonObject]:
        """Pods not yet finished whose volumes use this claim."""
        name = claim["metadata"]["name"]
        return [
            pod
            for pod in self.context.store.list(self.pods.storage_key, claim["metadata"]["namespace"])
            if name in claim_names(pod) and not is_pod_terminal(pod)
        ]


class PersistentVolumeController:
    name = "persistentvolume-controller"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.storage = _Storage(context)
        context.objects.admission.append(self.admit)

    # Admission: DefaultStorageClass and StorageObjectInUseProtection -----------------------------

    def admit(self, resource: ResourceType, obj: JsonObject) -> None:
        if resource.storage_key == self.storage.claims.storage_key:
            spec = obj.setdefault("spec", {})
            # Only a missing class is defaulted: an explicit "" asks for no class at all.
            if spec.get("storageClassName") is None:
                default = self.storage.default_class()
                if default is not None:
                    spec["storageClassName"] = default["metadata"]["name"]
            _add_finalizer(obj, PVC_PROTECTION)
        elif resource.storage_key == self.storage.volumes.storage_key:
            _add_finalizer(obj, PV_PROTECTION)

    # Watches ------------------------------------------------------------------------------------

    def watches(self) -> dict[StorageKey, KeyMapper]:
        def claim_changed(event: StoreEvent) -> Iterable[str]:
            if event.type != "DELETED":
                yield key_of(event.object)
            elif event.object["spec"].get("volumeName"):
                yield event.object["spec"]["volumeName"]  # its volume is released now

        def volume_changed(event: StoreEvent) -> Iterable[str]:
            name = event.object["metadata"]["name"]
            if event.type != "DELETED":
                yield name
            ref = event.object["spec"].get("claimRef")
            if ref and ref.get("namespace") and ref.get("name"):
                yield f"{ref['namespace']}/{ref['name']}"

        def class_changed(event: StoreEvent) -> Iterable[str]:
            for claim in self.context.store.iter(self.storage.claims.storage_key):
                if not claim["spec"].get("volumeName"):
                    yield key_of(claim)

        def pod_changed(event: StoreEvent) -> Iterable[str]:
            # A consumer arriving on a node, or a user going away, matters; status churn does not.
            before, after = event.previous, event.object if event.type != "DELETED" else None
            relevant = (
                before is None
                or after is None
                or before["spec"].get("nodeName") != after["spec"].get("nodeName")
                or is_pod_terminal(before) != is_pod_terminal(after)
            )
            if relevant:
                namespace = event.object["metadata"]["namespace"]
                for name in sorted(set(claim_names(before)) | set(claim_names(after))):
                    yield f"{namespace}/{name}"

        return {
            self.storage.claims.storage_key: claim_changed,
            self.storage.volumes.storage_key: volume_changed,
            self.storage.classes.storage_key: class_changed,
            self.storage.pods.storage_key: pod_changed,
        }

    def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        if namespace:
            claim = self.storage.claim(namespace, name)
            if claim is not None:
                self._sync_claim(claim)
        else:
            volume = self.storage.volume(name)
            if volume is not None:
                self._sync_volume(volume)

    # Claims -------------------------------------------------------------------------------------

    def _sync_claim(self, claim: JsonObject) -> None:
        if claim["metadata"].get("deletionTimestamp"):
            if PVC_PROTECTION in (claim["metadata"].get("finalizers") or []) and not self.storage.users(
                claim
            ):
                self.context.objects.remove_finalizer(self.storage.claims, claim, PVC_PROTECTION)
            return
        volume_name = claim["spec"].get("volumeName")
        if volume_name:
            self._sync_bound_claim(claim, volume_name)
        else:
            self._sync_unbound_claim(claim)

    def _sync_bound_claim(self, claim: JsonObject, volume_name: str) -> None:
        volume = self.storage.volume(volume_name)
        if volume is None:
            if claim.get("status", {}).get("phase") != "Lost":
                lost = clone(claim)
                lost.setdefault("status", {})["phase"] = "Lost"
                self.context.objects.save(self.storage.claims, lost)
                self._event(
                    claim,
                    WARNING,
                    "ClaimLost",
                    "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                )
            return
        ref = volume["spec"].get("claimRef")
        if ref and not _refers_to(ref, claim):
            self._event(
                claim, WARNING, "FailedBinding", f'volume "{volume_name}" already bound to a different claim.'
            )
            return
        self._bind(volume, claim)

    def _sync_unbound_claim(self, claim: JsonObject) -> None:
        class_name = claim["spec"].get("storageClassName")
        if class_name is None:
            default = self.storage.default_class()
            if default is not None:
                # Retroactive default class assignment for claims created before any default existed.
                updated = clone(claim)
                updated["spec"]["storageClassName"] = default["metadata"]["name"]
                self.context.objects.save(self.storage.claims, updated)
                return
        storage_class = self.storage.storage_class(class_name)
        if (
            storage_class is not None
            and storage_class.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER
            and not (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE)
        ):
            self._wait_for_consumer(claim)
            return
        volume = self._matching_volume(claim)
        if volume is not None:
            self._bind(volume, claim)
        elif not class_name:
            self._event(
                claim,
                NORMAL,
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
            )
        elif storage_class is None:
            self._event(
                claim, WARNING, "ProvisioningFailed", f'storageclass.storage.k8s.io "{class_name}" not found'
            )
        else:
            self._hand_to_provisioner(claim, str(storage_class.get("provisioner", "")))

    def _wait_for_consumer(self, claim: JsonObject) -> None:
        """Under WaitForFirstConsumer, bind or provision only on the node of the first pod using it."""
        node = next(
            (p["spec"]["nodeName"] for p in self.storage.users(claim) if p["spec"].get("nodeName")), None
        )
        if node is None:
            self._event(
                claim,
                NORMAL,
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding",
            )
            return
        # What the scheduler's volume binder records once it has picked the pod's node.
        updated = clone(claim)
        _set_annotations(updated, {SELECTED_NODE: node})
        self.context.objects.save(self.storage.claims, updated)

    def _hand_to_provisioner(self, claim: JsonObject, provisioner: str) -> None:
        annotations = claim["metadata"].get("annotations") or {}
        if any(annotations.get(name) != provisioner for name in PROVISIONER_ANNOTATIONS):
            updated = clone(claim)
            _set_annotations(updated, dict.fromkeys(PROVISIONER_ANNOTATIONS, provisioner))
            claim = self.context.objects.save(self.storage.claims, updated)
        self._event(
            claim,
            NORMAL,
            "ExternalProvisioning",
            f"Waiting for a volume to be created either by the external provisioner '{provisioner}' or "
            "manually by the system administrator. If volume creation is delayed, please verify that the "
            "provisioner is running and correctly registered.",
        )

    def _matching_volume(self, claim: JsonObject) -> JsonObject | None:
        """The smallest available volume satisfying the claim; a volume pre-bound to it wins."""
        spec = claim["spec"]
        wanted_modes = set(spec.get("accessModes") or [])
        wanted_size = _requested_storage(claim)
        selector = LabelSelector.from_dict(spec["selector"]) if spec.get("selector") else None
        candidates = []
        for volume in self.context.store.iter(self.storage.volumes.storage_key):
            vspec = volume["spec"]
            ref = vspec.get("claimRef")
            if volume["metadata"].get("deletionTimestamp") or (ref and not _refers_to(ref, claim)):
                continue
            if (
                (vspec.get("storageClassName") or "") != (spec.get("storageClassName") or "")
                or vspec.get("volumeMode", "Filesystem") != spec.get("volumeMode", "Filesystem")
                or not wanted_modes <= set(vspec.get("accessModes") or [])
                or _volume_capacity(volume) < wanted_size
                or (selector is not None and not selector.matches(volume["metadata"].get("labels")))
            ):
                continue
            candidates.append((ref is None, _volume_capacity(volume), volume["metadata"]["name"], volume))
        return min(candidates, key=lambda c: c[:3])[3] if candidates else None

    def _bind(self, volume: JsonObject, claim: JsonObject) -> None:
        """Bind both ways, writing each side only if it is not already as it should be."""
        claim_meta = claim["metadata"]
        bound_volume = clone(volume)
        ref = bound_volume["spec"].get("claimRef")
        if not ref or not ref.get("uid"):
            if not ref:
                _set_annotations(bound_volume, {BOUND_BY_CONTROLLER: "yes"})
            bound_volume["spec"]["claimRef"] = {
                "kind": "PersistentVolumeClaim",
                "namespace": claim_meta["namespace"],
                "name": claim_meta["name"],
                "uid": claim_meta["uid"],
                "apiVersion": "v1",
                "resourceVersion": claim_meta["resourceVersion"],
            }
        bound_volume.setdefault("status", {})["phase"] = "Bound"
        if bound_volume != volume:
            volume = self.context.objects.save(self.storage.volumes, bound_volume)

        bound_claim = clone(claim)
        if not bound_claim["spec"].get("volumeName"):
            bound_claim["spec"]["volumeName"] = volume["metadata"]["name"]
            _set_annotations(bound_claim, {BOUND_BY_CONTROLLER: "yes"})
        _set_annotations(bound_claim, {BIND_COMPLETED: "yes"})
        bound_claim["status"] = {
            **bound_claim.get("status", {}),
            "phase": "Bound",
            "accessModes": list(volume["spec"].get("accessModes") or []),
            "capacity": dict(volume["spec"].get("capacity") or {}),
        }
        if bound_claim != claim:
            self.context.objects.save(self.storage.claims, bound_claim)

    # Volumes ------------------------------------------------------------------------------------

    def _sync_volume(self, volume: JsonObject) -> None:
        phase = (volume.get("status") or {}).get("phase")
        if volume["metadata"].get("deletionTimestamp"):
            if PV_PROTECTION in (volume["metadata"].get("finalizers") or []) and phase != "Bound":
                self.context.objects.remove_finalizer(self.storage.volumes, volume, PV_PROTECTION)
            return
        ref = volume["spec"].get("claimRef")
        if not ref:
            if phase not in ("Available", "Failed"):
                self._set_phase(volume, "Available")
            return
        claim = self.storage.claim(ref.get("namespace", ""), ref.get("name", ""))
        if claim is not None and _refers_to(ref, claim):
            return  # the claim's own sync binds it
        if ref.get("uid") and phase not in ("Released", "Failed"):
            # Its claim is gone: the data stays until the reclaim policy says otherwise.
            self._set_phase(volume, "Released")

    def _set_phase(self, volume: JsonObject, phase: str) -> None:
        updated = clone(volume)
        updated.setdefault("status", {})["phase"] = phase
        self.context.objects.save(self.storage.volumes, updated)

    def _event(self, claim: JsonObject, event_type: str, reason: str, message: str) -> None:
        self.context.events.record(claim, event_type, reason, message, component=PV_CONTROLLER)


class DynamicProvisioner:
    """Plays every StorageClass's external provisioner except kubernetes.io/no-provisioner."""

    name = "volume-provisioner"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.storage = _Storage(context)

    def watches(self) -> dict[StorageKey, KeyMapper]:
        def claim_marked(event: StoreEvent) -> Iterable[str]:
            annotations = event.object["metadata"].get("annotations") or {}
            return (
                (key_of(event.object),)
                if event.type != "DELETED" and annotations.get(PROVISIONER_ANNOTATIONS[1])
                else ()
            )

        def volume_released(event: StoreEvent) -> Iterable[str]:
            return (
                (event.object["metadata"]["name"],)
                if event.type != "DELETED" and _reclaimable(event.object)
                else ()
            )

        return {
            self.storage.claims.storage_key: claim_marked,
            self.storage.volumes.storage_key: volume_released,
        }

    def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        if namespace:
            claim = self.storage.claim(namespace, name)
            if claim is not None:
                self._provision(claim)
            return
        volume = self.storage.volume(name)
        if volume is not None and _reclaimable(volume) and not volume["metadata"].get("deletionTimestamp"):
            try:
                self.context.objects.delete(self.storage.volumes, "", name, DeleteOptions())
            except StatusError as err:
                if err.code != 404:
                    raise

    def _provision(self, claim: JsonObject) -> None:
        meta = claim["metadata"]
        annotations = meta.get("annotations") or {}
        provisioner = annotations.get(PROVISIONER_ANNOTATIONS[1])
        storage_class = self.storage.storage_class(claim["spec"].get("storageClassName"))
        if (
            not provisioner
            or provisioner == NO_PROVISIONER
            or claim["spec"].get("volumeName")
            or meta.get("deletionTimestamp")
            or storage_class is None
            or storage_class.get("provisioner") != provisioner
        ):
            return
        node = annotations.get(SELECTED_NODE)
        if storage_class.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER and not node:
            return
        volume_name = f"pvc-{meta['uid']}"
        if self.storage.volume(volume_name) is not None:
            return
        self.context.events.record(
            claim,
            NORMAL,
            "Provisioning",
            f'External provisioner is provisioning volume for claim "{meta["namespace"]}/{meta["name"]}"',
            component=provisioner,
        )
        self.context.objects.create_owned(self.storage.volumes, self._volume_for(claim, storage_class, node))
        self.context.events.record(
            claim,
            NORMAL,
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {volume_name}",
            component=provisioner,
        )

    def _volume_for(self, claim: JsonObject, storage_class: JsonObject, node: str | None) -> JsonObject:
        meta, spec = claim["metadata"], claim["spec"]
        provisioner = str(storage_class["provisioner"])
        volume_name = f"pvc-{meta['uid']}"
        fs_type = (storage_class.get("parameters") or {}).get("csi.storage.k8s.io/fstype", "ext4")
        volume_spec: JsonObject = {
            "accessModes": list(spec.get("accessModes") or []),
            "capacity": {
                "storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage", "0")
            },
            "claimRef": {
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
                "apiVersion": "v1",
                "resourceVersion": meta["resourceVersion"],
            },
            "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
            "storageClassName": storage_class["metadata"]["name"],
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "csi": {"driver": provisioner, "volumeHandle": volume_name, "fsType": fs_type},
        }
        if storage_class.get("mountOptions"):
            volume_spec["mountOptions"] = list(storage_class["mountOptions"])
        if node:
            # Provisioned for the consumer's node, as topology-aware drivers do.
            volume_spec["nodeAffinity"] = {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                            ]
                        }
                    ]
                }
            }
        return {
            "metadata": {"name": volume_name, "annotations": {PROVISIONED_BY: provisioner}},
            "spec": volume_spec,
        }


def _refers_to(ref: JsonObject, claim: JsonObject) -> bool:
    meta = claim["metadata"]
    return (
        ref.get("namespace") == meta["namespace"]
        and ref.get("name") == meta["name"]
        and ref.get("uid") in (None, "", meta["uid"])
    )


def _reclaimable(volume: JsonObject) -> bool:
    """A released, dynamically provisioned volume whose policy says to delete it."""
    return (
        (volume.get("status") or {}).get("phase") == "Released"
        and volume["spec"].get("persistentVolumeReclaimPolicy") == "Delete"
        and bool((volume["metadata"].get("annotations") or {}).get(PROVISIONED_BY))
    )


def _add_finalizer(obj: JsonObject, finalizer: str) -> None:
    finalizers = obj["metadata"].setdefault("finalizers", [])
    if finalizer not in finalizers:
        finalizers.append(finalizer)
