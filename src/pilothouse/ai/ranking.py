"""Which findings bear on an investigated resource, and in what order they explain it.

The scope is a map from resources to their distance from the target: 0 for the target's own
family (its owners, itself, the pods it runs), 1 for what that family uses directly (the node,
claims, config, ServiceAccount, Services selecting it, HPAs, NetworkPolicies, and for a Service
the pods behind it), 2 and more for what a symptom points at (a dependency a log cannot reach, a
claim a pending pod waits for), followed transitively.

Findings are ranked by what they are before how close they are: a specific cause with direct
evidence first, then symptoms, then risks; among those, the nearest first, then severity,
confidence and amount of evidence. So an OOM kill outranks the crash loop it causes and the
Deployment it leaves short of replicas, and a Service selecting no pods outranks the crash of
the blog that cannot reach it, even though the blog is what was asked about.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pilothouse.ai.analyzers.pods import looks_unhealthy
from pilothouse.ai.findings import ROLE_RANK, SEVERITY_RANK, Finding, ResourceRef
from pilothouse.ai.objects import (
    JsonObject,
    containers,
    d,
    dicts,
    kind_of,
    labels_of,
    matches_labels,
    matches_selector,
    name_of,
    namespace_of,
    pod_spec_of,
    s,
    template_labels,
    uid_of,
)
from pilothouse.ai.snapshot import ClusterSnapshot

Key = tuple[str, str, str]
MAX_DISTANCE = 4


def key_of(obj: JsonObject | ResourceRef) -> Key:
    if isinstance(obj, ResourceRef):
        return obj.key
    return (kind_of(obj), namespace_of(obj), name_of(obj))


@dataclass
class Scope:
    """The resources around a target, by distance; and the pods whose logs may be read."""

    snapshot: ClusterSnapshot
    target: JsonObject
    distance: dict[Key, int] = field(default_factory=dict)
    log_pods: set[str] = field(default_factory=set)

    def add(self, obj: JsonObject | ResourceRef, distance: int) -> bool:
        key = key_of(obj)
        if distance > MAX_DISTANCE or self.distance.get(key, MAX_DISTANCE + 1) <= distance:
            return False
        self.distance[key] = distance
        return True

    def add_family(self, obj: JsonObject, distance: int) -> None:
        """An object with its owners and everything its top owner runs, then what they use."""
        root = self.snapshot.root_owner(obj)
        members = [obj, *self.snapshot.owner_chain(obj), *self.snapshot.descendants(root)]
        fresh = [member for member in members if self.add(member, distance)]
        for member in fresh:
            if kind_of(member) == "Pod":
                if distance <= 1:
                    self.log_pods.add(uid_of(member))
                self._attached(member, distance + 1)
        if any(member is root for member in fresh):
            self._template(root, distance + 1)

    def refs(self) -> list[ResourceRef]:
        return [
            ResourceRef(kind=k, namespace=ns or None, name=n)
            for (k, ns, n), _ in sorted(self.distance.items(), key=lambda x: x[1])
        ]

    def _attached(self, pod: JsonObject, distance: int) -> None:
        snap = self.snapshot
        namespace = namespace_of(pod)
        spec = d(pod.get("spec"))
        node = snap.get("Node", None, s(spec.get("nodeName")))
        if node is not None:
            self.add(node, distance)
        for service in snap.services_for(pod):
            self.add(service, distance)
        for policy in snap.networkpolicies:
            if namespace_of(policy) == namespace and matches_selector(
                labels_of(pod), d(d(policy.get("spec")).get("podSelector"))
            ):
                self.add(policy, distance)
        for budget in snap.pdbs:
            if namespace_of(budget) == namespace and matches_selector(
                labels_of(pod), d(d(budget.get("spec")).get("selector"))
            ):
                self.add(budget, distance)
        self._uses(spec, namespace, distance)

    def _template(self, workload: JsonObject, distance: int) -> None:
        """What a workload's template uses, even when it has no pods to show it."""
        snap = self.snapshot
        namespace = namespace_of(workload)
        self._uses(pod_spec_of(workload), namespace, distance)
        for service in snap.services_matching_template(workload):
            self.add(service, distance)
        for hpa in snap.hpas_for(workload):
            self.add(hpa, distance)

    def _uses(self, spec: JsonObject, namespace: str, distance: int) -> None:
        snap = self.snapshot
        account = s(spec.get("serviceAccountName")) or "default"
        self.add(ResourceRef(kind="ServiceAccount", namespace=namespace, name=account), distance)
        for binding in snap.bindings_for_service_account(namespace, account):
            self.add(binding, distance)
            role = snap.role_for_binding(binding)
            if role is not None:
                self.add(role, distance)
        for volume in dicts(spec.get("volumes")):
            claim = s(d(volume.get("persistentVolumeClaim")).get("claimName"))
            if claim:
                self.add(ResourceRef(kind="PersistentVolumeClaim", namespace=namespace, name=claim), distance)
            for kind, key, name_key in (
                ("ConfigMap", "configMap", "name"),
                ("Secret", "secret", "secretName"),
            ):
                name = s(d(volume.get(key)).get(name_key))
                if name:
                    self.add(ResourceRef(kind=kind, namespace=namespace, name=name), distance)
        for init in (False, True):
            for container in containers(spec, init=init):
                for source in dicts(container.get("envFrom")):
                    for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                        name = s(d(source.get(key)).get("name"))
                        if name:
                            self.add(ResourceRef(kind=kind, namespace=namespace, name=name), distance)
                for entry in dicts(container.get("env")):
                    source = d(entry.get("valueFrom"))
                    for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                        name = s(d(source.get(key)).get("name"))
                        if name:
                            self.add(ResourceRef(kind=kind, namespace=namespace, name=name), distance)


def build_scope(snap: ClusterSnapshot, target: JsonObject) -> Scope:
    scope = Scope(snap, target)
    kind, namespace, name = kind_of(target), namespace_of(target), name_of(target)
    scope.add_family(target, 0)
    if kind == "Namespace":
        for pod in snap.pods_in(name):
            scope.add_family(pod, 0)
        for listed in (
            snap.services,
            snap.pvcs,
            snap.hpas,
            snap.networkpolicies,
            snap.ingresses,
            snap.jobs,
            snap.cronjobs,
            snap.deployments,
            snap.statefulsets,
            snap.daemonsets,
            snap.roles,
            snap.rolebindings,
        ):
            for obj in listed:
                if namespace_of(obj) == name:
                    scope.add_family(obj, 0)
    elif kind == "Service":
        for pod in snap.pods_selected_by(target):
            scope.add_family(pod, 1)
        selector = d(d(target.get("spec")).get("selector"))
        for workload in [*snap.deployments, *snap.statefulsets, *snap.daemonsets]:
            if namespace_of(workload) == namespace and matches_labels(template_labels(workload), selector):
                scope.add_family(workload, 1)
        # Whoever calls the Service may log what goes wrong with it.
        scope.log_pods.update(uid_of(p) for p in snap.pods_in(namespace))
    elif kind == "Node":
        for pod in snap.pods_by_node.get(name, []):
            scope.add_family(pod, 1)
    elif kind == "PersistentVolumeClaim":
        for pod in snap.pods_using_claim(namespace, name):
            scope.add_family(pod, 1)
        class_name = s(d(target.get("spec")).get("storageClassName"))
        if class_name:
            scope.add(ResourceRef(kind="StorageClass", name=class_name), 1)
    elif kind == "HorizontalPodAutoscaler":
        ref = d(d(target.get("spec")).get("scaleTargetRef"))
        scaled = snap.get(s(ref.get("kind")), namespace, s(ref.get("name")))
        if scaled is not None:
            scope.add_family(scaled, 1)
    elif kind == "NetworkPolicy":
        for pod in snap.pods_matching(namespace, d(d(target.get("spec")).get("podSelector"))):
            scope.add_family(pod, 1)
        # The pods it may cut off: their logs are the evidence of a block.
        scope.log_pods.update(uid_of(p) for p in snap.pods_in(namespace))
    elif kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount"):
        for account_ns, account in _accounts(snap, target):
            scope.add(ResourceRef(kind="ServiceAccount", namespace=account_ns, name=account), 1)
            for pod in snap.pods_in(account_ns):
                if (s(d(pod.get("spec")).get("serviceAccountName")) or "default") == account:
                    scope.add_family(pod, 1)
            for workload in [
                *snap.deployments,
                *snap.statefulsets,
                *snap.daemonsets,
                *snap.jobs,
                *snap.cronjobs,
            ]:
                if (
                    namespace_of(workload) == account_ns
                    and (s(pod_spec_of(workload).get("serviceAccountName")) or "default") == account
                ):
                    scope.add_family(workload, 1)
    elif kind in ("ConfigMap", "Secret"):
        for pod in snap.pods_in(namespace):
            if _references(pod_spec_of(pod), kind, name):
                scope.add_family(pod, 1)
    elif kind == "PersistentVolume":
        claim = d(d(target.get("spec")).get("claimRef"))
        pvc = snap.get("PersistentVolumeClaim", s(claim.get("namespace")), s(claim.get("name")))
        if pvc is not None:
            scope.add(pvc, 1)
            for pod in snap.pods_using_claim(namespace_of(pvc), name_of(pvc)):
                scope.add_family(pod, 1)
    scope.log_pods.update(pods_to_read(scope, 1))
    return scope


def pods_to_read(scope: Scope, max_distance: int) -> set[str]:
    """The pods whose logs bear on the scope: those within ``max_distance``, and, around a
    NetworkPolicy in scope, the pods in trouble in its namespace (the likeliest to be cut off;
    their logs are the evidence of a block)."""
    snap = scope.snapshot
    found = set()
    policy_namespaces = set()
    for (kind, namespace, name), distance in scope.distance.items():
        if distance > max_distance:
            continue
        if kind == "Pod":
            pod = snap.get("Pod", namespace, name)
            if pod is not None:
                found.add(uid_of(pod))
        elif kind == "NetworkPolicy":
            policy_namespaces.add(namespace)
    for namespace in policy_namespaces:
        found.update(uid_of(p) for p in snap.pods_in(namespace) if looks_unhealthy(p))
    return found


def _accounts(snap: ClusterSnapshot, target: JsonObject) -> list[tuple[str, str]]:
    kind, namespace, name = kind_of(target), namespace_of(target), name_of(target)
    if kind == "ServiceAccount":
        return [(namespace, name)]
    bindings = (
        [target]
        if kind.endswith("Binding")
        else [
            b
            for b in [*snap.rolebindings, *snap.clusterrolebindings]
            if d(b.get("roleRef")).get("kind") == kind
            and d(b.get("roleRef")).get("name") == name
            and (kind == "ClusterRole" or namespace_of(b) == namespace)
        ]
    )
    found = []
    for binding in bindings:
        for subject in dicts(binding.get("subjects")):
            if subject.get("kind") == "ServiceAccount":
                found.append((s(subject.get("namespace")) or namespace_of(binding), s(subject.get("name"))))
    return found


def _references(spec: JsonObject, kind: str, name: str) -> bool:
    volume_key, volume_name = ("configMap", "name") if kind == "ConfigMap" else ("secret", "secretName")
    if any(d(v.get(volume_key)).get(volume_name) == name for v in dicts(spec.get("volumes"))):
        return True
    ref_key, key_ref = (
        ("configMapRef", "configMapKeyRef") if kind == "ConfigMap" else ("secretRef", "secretKeyRef")
    )
    for init in (False, True):
        for container in containers(spec, init=init):
            if any(d(x.get(ref_key)).get("name") == name for x in dicts(container.get("envFrom"))):
                return True
            if any(
                d(d(e.get("valueFrom")).get(key_ref)).get("name") == name for e in dicts(container.get("env"))
            ):
                return True
    return False


def follow_dependencies(scope: Scope, findings: Sequence[Finding]) -> None:
    """Extend the scope along what in-scope findings point at (``depends_on``), transitively:
    the dependency itself one step further, and what runs behind it."""
    snap = scope.snapshot
    for _ in range(MAX_DISTANCE):
        grew = False
        for finding in findings:
            near = distance_of(scope, finding.refs_without_dependencies())
            if near is None:
                continue
            for dependency in finding.depends_on:
                step = near + 1
                if scope.add(dependency, step):
                    grew = True
                    obj = snap.get(dependency.kind, dependency.namespace, dependency.name)
                    if obj is None:
                        continue
                    if dependency.kind == "Service":
                        for pod in snap.pods_selected_by(obj):
                            scope.add_family(pod, step)
                    elif dependency.kind in (
                        "Pod",
                        "Deployment",
                        "StatefulSet",
                        "DaemonSet",
                        "ReplicaSet",
                        "Job",
                    ):
                        scope.add_family(obj, step)
        if not grew:
            break


def distance_of(scope: Scope, refs: Iterable[ResourceRef]) -> int | None:
    found = [scope.distance[ref.key] for ref in refs if ref.key in scope.distance]
    return min(found) if found else None


def rank(findings: Sequence[Finding], scope: Scope) -> list[Finding]:
    """The findings bearing on the scope's target, best explanation first, with ``distance`` set."""
    follow_dependencies(scope, findings)
    placed = []
    for finding in findings:
        distance = distance_of(scope, finding.refs())
        if distance is not None:
            placed.append(finding.model_copy(update={"distance": distance}))
    placed.sort(key=sort_key)
    return placed


def sort_key(finding: Finding) -> tuple[int, int, int, float, int, str]:
    return (
        -ROLE_RANK[finding.role],
        finding.distance if finding.distance is not None else MAX_DISTANCE + 1,
        -SEVERITY_RANK[finding.severity],
        -finding.confidence,
        -len(finding.evidence),
        finding.id,
    )


def scan_order(finding: Finding) -> tuple[int, int, float, str]:
    """For a cluster-wide list: the most severe first, causes before symptoms before risks."""
    return (-SEVERITY_RANK[finding.severity], -ROLE_RANK[finding.role], -finding.confidence, finding.id)


def correlate(findings: Sequence[Finding]) -> list[Finding]:
    """Let causes carry the symptoms they explain: a symptom pointing at a resource whose cause
    was found lends that cause its first log line (a caller's "connection refused" is the
    clearest sign of a Service's wrong targetPort) and names the affected workload."""
    causes: dict[Key, list[int]] = {}
    for index, finding in enumerate(findings):
        if finding.role == "cause":
            causes.setdefault(finding.resource.key, []).append(index)
    updated = list(findings)
    for symptom in findings:
        if symptom.role != "symptom":
            continue
        for dependency in symptom.depends_on:
            for index in causes.get(dependency.key, []):
                cause = updated[index]
                extra = [
                    e
                    for e in symptom.evidence
                    if e.kind == "log" and e.id not in {x.id for x in cause.evidence}
                ][:1]
                related = (
                    [] if any(r.key == symptom.resource.key for r in cause.related) else [symptom.resource]
                )
                if extra or related:
                    updated[index] = cause.model_copy(
                        update={"evidence": [*cause.evidence, *extra], "related": [*cause.related, *related]}
                    )
    return updated
