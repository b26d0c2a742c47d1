"""Storage: PersistentVolumeClaims that stay Pending (a missing StorageClass, no default class,
provisioning failures, a missing volume) or are Lost."""

from __future__ import annotations

from pilothouse.ai import evidence as ev
from pilothouse.ai.analyzers.context import AnalysisContext
from pilothouse.ai.findings import Cause, Evidence, Finding, ResourceRef
from pilothouse.ai.objects import JsonObject, annotations_of, d, meta, name_of, namespace_of, s
from pilothouse.ai.snapshot import ClusterSnapshot

NAME = "storage"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
# A claim may legitimately be Pending this long while a provisioner works.
PENDING_GRACE_SECONDS = 60


async def analyze(ctx: AnalysisContext) -> list[Finding]:
    snap = ctx.snapshot
    findings = []
    for pvc in snap.pvcs:
        finding = _claim(snap, pvc)
        if finding is not None:
            findings.append(finding)
    return findings


def _claim(snap: ClusterSnapshot, pvc: JsonObject) -> Finding | None:
    phase = s(d(pvc.get("status")).get("phase"))
    if phase not in ("Pending", "Lost"):
        return None
    namespace, name = namespace_of(pvc), name_of(pvc)
    spec = d(pvc.get("spec"))
    users = snap.pods_using_claim(namespace, name)
    related = [*users, *{id(snap.root_owner(p)): snap.root_owner(p) for p in users}.values()]
    evidence: list[Evidence] = [ev.field(pvc, "status.phase", phase)]
    events = snap.events_for(pvc, warnings_only=True)
    evidence.extend(ev.event(e) for e in events[-1:])
    blocked = (
        f"; pod{'s' if len(users) != 1 else ''} {', '.join(name_of(p) for p in users[:3])} cannot start"
        if users
        else ""
    )
    if phase == "Lost":
        volume = s(spec.get("volumeName"))
        return _finding(
            pvc,
            related,
            evidence,
            "critical",
            f"PersistentVolumeClaim {namespace}/{name} is Lost: its volume {volume} is gone{blocked}",
            [("restore_volume", f"Restore PersistentVolume {volume} or recreate the claim from a backup")],
            0.9,
        )
    class_name = spec.get("storageClassName")
    classes = [name_of(c) for c in snap.storageclasses]
    defaults = [name_of(c) for c in snap.storageclasses if annotations_of(c).get(DEFAULT_CLASS) == "true"]
    if (
        isinstance(class_name, str)
        and class_name
        and class_name not in classes
        and "storageclasses" not in snap.errors
    ):
        evidence.insert(0, ev.field(pvc, "spec.storageClassName", class_name))
        evidence.append(
            ev.existence(
                ResourceRef(kind="StorageClass", name=class_name),
                False,
                f"StorageClass {class_name}: not found (the cluster has: {', '.join(classes) or 'none'})",
            )
        )
        return _finding(
            pvc,
            related,
            evidence,
            "high",
            f"PersistentVolumeClaim {namespace}/{name} asks for StorageClass {class_name}, which does not"
            " exist "
            f"(the cluster has: {', '.join(classes) or 'none'}), so nothing can provision it{blocked}",
            [
                (
                    "fix_storage_class",
                    (
                        "Recreate the claim with storageClassName"
                        f" {defaults[0] if defaults else (classes[0] if classes else '<an existing class>')}"
                        " (the field is immutable)"
                    ),
                ),
                ("create_storage_class", f"Or create StorageClass {class_name}"),
            ],
            0.95,
        )
    if (
        class_name is None
        and not spec.get("volumeName")
        and not defaults
        and "storageclasses" not in snap.errors
    ):
        evidence.append(
            ev.field(
                pvc,
                "spec.storageClassName",
                None,
                quote="spec.storageClassName: not set; no StorageClass is marked default",
            )
        )
        return _finding(
            pvc,
            related,
            evidence,
            "high",
            (
                f"PersistentVolumeClaim {namespace}/{name} names no StorageClass and the cluster has no"
                f" default one{blocked}"
            ),
            [
                (
                    "set_storage_class",
                    "Recreate the claim with a storageClassName, or mark a StorageClass default",
                )
            ],
            0.85,
        )
    volume = s(spec.get("volumeName"))
    if volume and snap.get("PersistentVolume", None, volume) is None and "pvs" not in snap.errors:
        evidence.append(
            ev.existence(
                ResourceRef(kind="PersistentVolume", name=volume),
                False,
                f"PersistentVolume {volume}: not found",
            )
        )
        return _finding(
            pvc,
            related,
            evidence,
            "high",
            (
                f"PersistentVolumeClaim {namespace}/{name} is bound to PersistentVolume {volume}, which does"
                f" not exist{blocked}"
            ),
            [
                (
                    "fix_volume_name",
                    f"Create PersistentVolume {volume} or recreate the claim without volumeName",
                )
            ],
            0.9,
        )
    storage_class = snap.get("StorageClass", None, s(class_name) or (defaults[0] if defaults else ""))
    if (
        storage_class is not None
        and storage_class.get("volumeBindingMode") == "WaitForFirstConsumer"
        and not users
    ):
        return None  # by design: binds when a pod uses it
    failures = [e for e in events if e.get("reason") in ("ProvisioningFailed", "FailedBinding")]
    age = snap.age_seconds(meta(pvc).get("creationTimestamp"))
    if failures:
        message = s(failures[-1].get("message"))
        return _finding(
            pvc,
            related,
            evidence,
            "high",
            (
                f"PersistentVolumeClaim {namespace}/{name} stays Pending: {failures[-1].get('reason')}:"
                f" {ev.clip(message, 160)}{blocked}"
            ),
            [("fix_provisioning", f"Fix what the provisioner reports: {ev.clip(message, 120)}")],
            0.85,
        )
    if age is not None and age > PENDING_GRACE_SECONDS and users:
        return _finding(
            pvc,
            related,
            evidence,
            "medium",
            f"PersistentVolumeClaim {namespace}/{name} has been Pending for {int(age)}s{blocked}",
            [("check_provisioner", "Check that the StorageClass's provisioner is running")],
            0.6,
        )
    return None


def _finding(
    pvc: JsonObject,
    related: list[JsonObject],
    evidence: list[Evidence],
    severity: str,
    summary: str,
    recommend: list[tuple[str, str]],
    confidence: float,
) -> Finding:
    return ev.make_finding(
        analyzer=NAME,
        resource=pvc,
        cause=Cause.PVC_UNBOUND,
        severity="critical" if severity == "critical" else "high" if severity == "high" else "medium",
        category="health",
        summary=summary,
        evidence=evidence,
        related=related,
        recommend=recommend,
        confidence=confidence,
    )
