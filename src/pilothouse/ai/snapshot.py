"""`ClusterSnapshot`: the cluster's objects at one moment, read once through ``ClusterOps``.

Every list runs concurrently (the slowest sets the latency, not their sum), then the indexes
the analyzers need are built once: pods by owner chain, by node and by label, services by the
pods they select, events by involved object. Logs are not part of the list: they are fetched
lazily, only for the pods an analyzer asks about, capped to the last lines, and cached per
(pod, container, previous), so two analyzers reading the same container cost one request.

The snapshot never reads anything but the cluster's API: it sees a simulated cluster exactly as
it would a real one.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from pilothouse.ai.objects import (
    JsonObject,
    d,
    dicts,
    kind_of,
    labels_of,
    lst,
    matches_labels,
    matches_selector,
    meta,
    name_of,
    namespace_of,
    normalize_repository,
    parse_time,
    quantity,
    s,
    split_image,
    template_labels,
    uid_of,
)
from pilothouse.events.service import event_time
from pilothouse.kube.ops import ClusterOps, KubeApiError, ListQuery, LogQuery, ResourceType
from pilothouse.kube.resolver import ResourceResolver

LOG_TAIL_LINES = 200
LOG_LIMIT_BYTES = 256 * 1024
LOG_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class Listed:
    """One collection the snapshot reads: its attribute, kind and API group."""

    attr: str
    kind: str
    group: str


COLLECTIONS: tuple[Listed, ...] = (
    Listed("pods", "Pod", ""),
    Listed("nodes", "Node", ""),
    Listed("events", "Event", ""),
    Listed("deployments", "Deployment", "apps"),
    Listed("replicasets", "ReplicaSet", "apps"),
    Listed("statefulsets", "StatefulSet", "apps"),
    Listed("daemonsets", "DaemonSet", "apps"),
    Listed("jobs", "Job", "batch"),
    Listed("cronjobs", "CronJob", "batch"),
    Listed("services", "Service", ""),
    Listed("endpoints", "Endpoints", ""),
    Listed("ingresses", "Ingress", "networking.k8s.io"),
    Listed("ingressclasses", "IngressClass", "networking.k8s.io"),
    Listed("pvcs", "PersistentVolumeClaim", ""),
    Listed("pvs", "PersistentVolume", ""),
    Listed("storageclasses", "StorageClass", "storage.k8s.io"),
    Listed("hpas", "HorizontalPodAutoscaler", "autoscaling"),
    Listed("pdbs", "PodDisruptionBudget", "policy"),
    Listed("networkpolicies", "NetworkPolicy", "networking.k8s.io"),
    Listed("configmaps", "ConfigMap", ""),
    Listed("secrets", "Secret", ""),
    Listed("serviceaccounts", "ServiceAccount", ""),
    Listed("resourcequotas", "ResourceQuota", ""),
    Listed("roles", "Role", "rbac.authorization.k8s.io"),
    Listed("rolebindings", "RoleBinding", "rbac.authorization.k8s.io"),
    Listed("clusterroles", "ClusterRole", "rbac.authorization.k8s.io"),
    Listed("clusterrolebindings", "ClusterRoleBinding", "rbac.authorization.k8s.io"),
    Listed("pod_metrics", "PodMetrics", "metrics.k8s.io"),
    Listed("node_metrics", "NodeMetrics", "metrics.k8s.io"),
)
_ATTR_BY_KIND = {listed.kind: listed.attr for listed in COLLECTIONS}
# Workload kinds whose objects can own pods (directly or through another workload).
OWNER_ATTRS = ("deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs")
METRIC_ATTRS = ("pod_metrics", "node_metrics")


@dataclass(frozen=True, slots=True)
class LogLines:
    """The last lines of one container's log, as read."""

    namespace: str
    pod: str
    container: str
    previous: bool
    lines: tuple[str, ...]
    # How many lines were asked for: ``line_number`` in evidence counts within these.
    tail_lines: int


class LogCache:
    """Container logs fetched on demand, once each, at most ``concurrency`` at a time."""

    def __init__(
        self,
        ops: ClusterOps,
        *,
        tail_lines: int = LOG_TAIL_LINES,
        limit_bytes: int = LOG_LIMIT_BYTES,
        concurrency: int = LOG_CONCURRENCY,
    ) -> None:
        self._ops = ops
        self.tail_lines = tail_lines
        self._limit_bytes = limit_bytes
        self._semaphore = asyncio.Semaphore(concurrency)
        self._tasks: dict[tuple[str, str, str, bool], asyncio.Task[LogLines | None]] = {}
        self.requests = 0
        self.seconds = 0.0

    async def get(self, namespace: str, pod: str, container: str, previous: bool = False) -> LogLines | None:
        """The lines, or None when the log cannot be read (container never started, no previous
        instance, forbidden): analyzers then simply have no log evidence."""
        key = (namespace, pod, container, previous)
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(*key))
            self._tasks[key] = task
        return await task

    async def _fetch(self, namespace: str, pod: str, container: str, previous: bool) -> LogLines | None:
        query = LogQuery(
            container=container, previous=previous, tail_lines=self.tail_lines, limit_bytes=self._limit_bytes
        )
        async with self._semaphore:
            started = time.perf_counter()
            self.requests += 1
            chunks: list[bytes] = []
            try:
                async for chunk in self._ops.pod_logs(namespace, pod, query):
                    chunks.append(chunk)
            except KubeApiError:
                return None
            finally:
                self.seconds += time.perf_counter() - started
        text = b"".join(chunks).decode("utf-8", errors="replace")
        lines = tuple(text.splitlines()[-self.tail_lines :])
        return LogLines(namespace, pod, container, previous, lines, self.tail_lines)


class _LabelIndex:
    """(namespace, label, value) -> pods: a selector is a set intersection, not a scan."""

    def __init__(self, pods: Sequence[JsonObject]) -> None:
        self._pods = pods
        self._by_namespace: dict[str, list[int]] = defaultdict(list)
        self._index: dict[tuple[str, str, str], set[int]] = defaultdict(set)
        for index, pod in enumerate(pods):
            namespace = namespace_of(pod)
            self._by_namespace[namespace].append(index)
            for key, value in labels_of(pod).items():
                self._index[(namespace, key, value)].add(index)

    def select_map(self, namespace: str, selector: Mapping[str, Any]) -> list[JsonObject]:
        """Pods matching a Service-style map selector (an empty one selects none)."""
        if not selector:
            return []
        sets = sorted(
            (self._index.get((namespace, str(k), str(v)), set()) for k, v in selector.items()), key=len
        )
        result = set(sets[0])
        for other in sets[1:]:
            result &= other
            if not result:
                break
        return [self._pods[index] for index in sorted(result)]

    def select(self, namespace: str, selector: Mapping[str, Any] | None) -> list[JsonObject]:
        """Pods matching a LabelSelector (an empty one selects every pod of the namespace)."""
        if selector is None:
            return []
        match_labels = d(selector.get("matchLabels"))
        if match_labels and not lst(selector.get("matchExpressions")):
            return self.select_map(namespace, match_labels)
        candidates = (
            self.select_map(namespace, match_labels)
            if match_labels
            else [self._pods[index] for index in self._by_namespace.get(namespace, [])]
        )
        return [pod for pod in candidates if matches_selector(labels_of(pod), selector)]

    def in_namespace(self, namespace: str) -> list[JsonObject]:
        return [self._pods[index] for index in self._by_namespace.get(namespace, [])]


@dataclass
class ClusterSnapshot:
    """The objects of one read of the cluster, and indexes over them.

    ``namespaces`` is None for a full-cluster snapshot, else the namespaces that were read
    (cluster-scoped kinds are always read whole). A collection the cluster does not serve or
    forbids us is empty and noted in ``errors``; metrics are None when metrics.k8s.io is absent.
    """

    namespaces: tuple[str, ...] | None = None
    pods: list[JsonObject] = field(default_factory=list)
    nodes: list[JsonObject] = field(default_factory=list)
    events: list[JsonObject] = field(default_factory=list)
    deployments: list[JsonObject] = field(default_factory=list)
    replicasets: list[JsonObject] = field(default_factory=list)
    statefulsets: list[JsonObject] = field(default_factory=list)
    daemonsets: list[JsonObject] = field(default_factory=list)
    jobs: list[JsonObject] = field(default_factory=list)
    cronjobs: list[JsonObject] = field(default_factory=list)
    services: list[JsonObject] = field(default_factory=list)
    endpoints: list[JsonObject] = field(default_factory=list)
    ingresses: list[JsonObject] = field(default_factory=list)
    ingressclasses: list[JsonObject] = field(default_factory=list)
    pvcs: list[JsonObject] = field(default_factory=list)
    pvs: list[JsonObject] = field(default_factory=list)
    storageclasses: list[JsonObject] = field(default_factory=list)
    hpas: list[JsonObject] = field(default_factory=list)
    pdbs: list[JsonObject] = field(default_factory=list)
    networkpolicies: list[JsonObject] = field(default_factory=list)
    configmaps: list[JsonObject] = field(default_factory=list)
    secrets: list[JsonObject] = field(default_factory=list)
    serviceaccounts: list[JsonObject] = field(default_factory=list)
    resourcequotas: list[JsonObject] = field(default_factory=list)
    roles: list[JsonObject] = field(default_factory=list)
    rolebindings: list[JsonObject] = field(default_factory=list)
    clusterroles: list[JsonObject] = field(default_factory=list)
    clusterrolebindings: list[JsonObject] = field(default_factory=list)
    pod_metrics: list[JsonObject] | None = None
    node_metrics: list[JsonObject] | None = None
    # Which collections could not be read, and why.
    errors: dict[str, str] = field(default_factory=dict)
    # Wall-clock seconds spent listing.
    list_seconds: float = 0.0
    logs: LogCache | None = None
    _controllers: dict[int, JsonObject | None] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        # List items arrive without ``kind`` (the API server sets it on the list only): tag them,
        # so that every object knows what it is wherever an analyzer meets it.
        for listed in COLLECTIONS:
            items = getattr(self, listed.attr)
            if items is None:
                continue
            for obj in items:
                if not obj.get("kind"):
                    obj["kind"] = listed.kind

    # --- identity and lookup ------------------------------------------------------------------

    @cached_property
    def _by_uid(self) -> dict[str, JsonObject]:
        found: dict[str, JsonObject] = {}
        for attr in (*OWNER_ATTRS, "pods", "nodes"):
            for obj in getattr(self, attr):
                uid = uid_of(obj)
                if uid:
                    found[uid] = obj
        return found

    @cached_property
    def _by_name(self) -> dict[tuple[str, str, str], JsonObject]:
        found: dict[tuple[str, str, str], JsonObject] = {}
        for listed in COLLECTIONS:
            if listed.attr in ("events", *METRIC_ATTRS):
                continue
            for obj in getattr(self, listed.attr):
                found[(listed.kind, namespace_of(obj), name_of(obj))] = obj
        return found

    def get(self, kind: str, namespace: str | None, name: str) -> JsonObject | None:
        """An object by kind (``Pod``, ``Deployment``, ...), namespace ("" or None if cluster-scoped)
        and name."""
        return self._by_name.get((kind, namespace or "", name))

    def by_uid(self, uid: str) -> JsonObject | None:
        return self._by_uid.get(uid)

    def covers(self, namespace: str | None) -> bool:
        """Whether the snapshot read that namespace."""
        return self.namespaces is None or not namespace or namespace in self.namespaces

    def knows(self, kind: str, namespace: str | None) -> bool:
        """Whether absence from the snapshot means "does not exist": the namespace was read and
        so was the collection (a Secret list we were forbidden proves nothing missing)."""
        attr = _ATTR_BY_KIND.get(kind)
        return attr is not None and attr not in self.errors and self.covers(namespace)

    # --- owners -------------------------------------------------------------------------------

    def controller_of(self, obj: JsonObject) -> JsonObject | None:
        """The object's controlling owner, when the snapshot holds it."""
        # Asked for every pod by several analyzers: remembered per object (the snapshot's
        # objects live as long as it does, so their ids are stable).
        key = id(obj)
        if key in self._controllers:
            return self._controllers[key]
        owner = None
        refs = lst(meta(obj).get("ownerReferences"))
        for ref in dicts(refs):
            if ref.get("controller") is True or len(refs) == 1:
                owner = self._by_uid.get(s(ref.get("uid")))
                if owner is None:
                    owner = self.get(s(ref.get("kind")), namespace_of(obj), s(ref.get("name")))
                break
        self._controllers[key] = owner
        return owner

    def owner_chain(self, obj: JsonObject) -> list[JsonObject]:
        """The controllers above ``obj``, nearest first (a pod's ReplicaSet, then its Deployment)."""
        chain: list[JsonObject] = []
        current = self.controller_of(obj)
        while current is not None and len(chain) < 8 and current not in chain:
            chain.append(current)
            current = self.controller_of(current)
        return chain

    def root_owner(self, obj: JsonObject) -> JsonObject:
        """The top controller (a Deployment for its pods), or the object itself when it has none."""
        chain = self.owner_chain(obj)
        return chain[-1] if chain else obj

    @cached_property
    def _children(self) -> dict[str, list[JsonObject]]:
        children: dict[str, list[JsonObject]] = defaultdict(list)
        for attr in (*OWNER_ATTRS, "pods"):
            for obj in getattr(self, attr):
                owner = self.controller_of(obj)
                if owner is not None:
                    children[uid_of(owner)].append(obj)
        return children

    def children_of(self, obj: JsonObject) -> list[JsonObject]:
        return self._children.get(uid_of(obj), [])

    def descendants(self, obj: JsonObject) -> list[JsonObject]:
        """Everything ``obj`` controls, transitively (a Deployment's ReplicaSets and their pods)."""
        found: list[JsonObject] = []
        queue = [obj]
        while queue and len(found) < 10_000:
            current = queue.pop()
            for child in self.children_of(current):
                found.append(child)
                queue.append(child)
        return found

    def pods_of(self, obj: JsonObject) -> list[JsonObject]:
        """The pods a workload runs (through any depth of owners); a pod's is itself."""
        if kind_of(obj) == "Pod":
            return [obj]
        return [child for child in self.descendants(obj) if kind_of(child) == "Pod"]

    @cached_property
    def pods_by_root(self) -> dict[str, list[JsonObject]]:
        """Pods grouped by the uid of their top controller (their own uid when they have none)."""
        groups: dict[str, list[JsonObject]] = defaultdict(list)
        for pod in self.pods:
            groups[uid_of(self.root_owner(pod))].append(pod)
        return groups

    # --- pods by node, label, service -----------------------------------------------------------

    @cached_property
    def pods_by_node(self) -> dict[str, list[JsonObject]]:
        groups: dict[str, list[JsonObject]] = defaultdict(list)
        for pod in self.pods:
            node = s(d(pod.get("spec")).get("nodeName"))
            if node:
                groups[node].append(pod)
        return groups

    @cached_property
    def _labels(self) -> _LabelIndex:
        return _LabelIndex(self.pods)

    def pods_matching(self, namespace: str, selector: Mapping[str, Any] | None) -> list[JsonObject]:
        """Pods matching a LabelSelector (``matchLabels``/``matchExpressions``)."""
        return self._labels.select(namespace, selector)

    def pods_selected_by(self, service: JsonObject) -> list[JsonObject]:
        """The pods a Service's (map) selector picks."""
        return self._labels.select_map(namespace_of(service), d(d(service.get("spec")).get("selector")))

    def pods_in(self, namespace: str) -> list[JsonObject]:
        return self._labels.in_namespace(namespace)

    @cached_property
    def _services_by_pod(self) -> dict[str, list[JsonObject]]:
        found: dict[str, list[JsonObject]] = defaultdict(list)
        for service in self.services:
            for pod in self.pods_selected_by(service):
                found[uid_of(pod)].append(service)
        return found

    def services_for(self, pod: JsonObject) -> list[JsonObject]:
        return self._services_by_pod.get(uid_of(pod), [])

    def services_matching_template(self, workload: JsonObject) -> list[JsonObject]:
        """Services whose selector matches a workload's pod template (even with no pods yet)."""
        labels = template_labels(workload)
        namespace = namespace_of(workload)
        return [
            svc
            for svc in self.services
            if namespace_of(svc) == namespace
            and matches_labels(labels, d(d(svc.get("spec")).get("selector")))
        ]

    @cached_property
    def _service_by_ip(self) -> dict[str, JsonObject]:
        found: dict[str, JsonObject] = {}
        for service in self.services:
            spec = d(service.get("spec"))
            for ip in [s(spec.get("clusterIP")), *(s(x) for x in lst(spec.get("clusterIPs")))]:
                if ip and ip != "None":
                    found[ip] = service
        return found

    def service_by_ip(self, ip: str) -> JsonObject | None:
        return self._service_by_ip.get(ip)

    def service_by_host(self, host: str, namespace: str) -> JsonObject | None:
        """The Service a DNS name means from a pod in ``namespace``: ``svc``, ``svc.ns``,
        ``svc.ns.svc``, ``svc.ns.svc.cluster.local`` (or its cluster IP)."""
        host = host.strip().rstrip(".").lower()
        if not host:
            return None
        by_ip = self._service_by_ip.get(host)
        if by_ip is not None:
            return by_ip
        parts = host.split(".")
        if len(parts) == 1:
            return self.get("Service", namespace, parts[0])
        if len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"):
            return self.get("Service", parts[1], parts[0])
        return None

    @cached_property
    def _pulled(self) -> dict[str, dict[str, tuple[JsonObject, str, str]]]:
        found: dict[str, dict[str, tuple[JsonObject, str, str]]] = defaultdict(dict)
        for pod in self.pods:
            for key in ("containerStatuses", "initContainerStatuses"):
                for index, status in enumerate(dicts(d(pod.get("status")).get(key))):
                    image_id = s(status.get("imageID"))
                    repository, tag, _ = split_image(s(status.get("image")))
                    if image_id and tag:
                        path = f"status.{key}[{index}].imageID"
                        found[normalize_repository(repository)].setdefault(tag, (pod, path, image_id))
        return found

    def pulled_tags(self, repository: str) -> dict[str, tuple[JsonObject, str, str]]:
        """Tags of a (normalized) repository some container of the cluster pulled: the pod, the
        path of the imageID that proves it, and the imageID."""
        return self._pulled.get(repository, {})

    def endpoints_for(self, service: JsonObject) -> JsonObject | None:
        return self.get("Endpoints", namespace_of(service), name_of(service))

    # --- events -------------------------------------------------------------------------------

    @cached_property
    def _events_by_uid(self) -> dict[str, list[JsonObject]]:
        found: dict[str, list[JsonObject]] = defaultdict(list)
        for event in self.events:
            uid = s(d(event.get("involvedObject")).get("uid"))
            if uid:
                found[uid].append(event)
        return found

    @cached_property
    def _events_by_name(self) -> dict[tuple[str, str, str], list[JsonObject]]:
        found: dict[tuple[str, str, str], list[JsonObject]] = defaultdict(list)
        for event in self.events:
            involved = d(event.get("involvedObject"))
            key = (s(involved.get("kind")), s(involved.get("namespace")), s(involved.get("name")))
            found[key].append(event)
        return found

    def events_for(self, obj: JsonObject, *, warnings_only: bool = False) -> list[JsonObject]:
        """Events about ``obj``, newest last. Matched by uid, falling back to kind/namespace/name
        for events written without one (and ignoring events of an older object of that name)."""
        uid = uid_of(obj)
        by_name = self._events_by_name.get((kind_of(obj), namespace_of(obj), name_of(obj)), [])
        events = [e for e in by_name if s(d(e.get("involvedObject")).get("uid")) in ("", uid)]
        if uid:
            seen = {id(e) for e in events}
            events.extend(e for e in self._events_by_uid.get(uid, []) if id(e) not in seen)
        if warnings_only:
            events = [e for e in events if e.get("type") == "Warning"]
        events.sort(key=_event_sort_key)
        return events

    # --- config, accounts, storage -------------------------------------------------------------

    def hpas_for(self, workload: JsonObject) -> list[JsonObject]:
        kind, name, namespace = kind_of(workload), name_of(workload), namespace_of(workload)
        return [
            hpa
            for hpa in self.hpas
            if namespace_of(hpa) == namespace
            and d(d(hpa.get("spec")).get("scaleTargetRef")).get("kind") == kind
            and d(d(hpa.get("spec")).get("scaleTargetRef")).get("name") == name
        ]

    def bindings_for_service_account(self, namespace: str, name: str) -> list[JsonObject]:
        """RoleBindings (in the namespace) and ClusterRoleBindings naming the ServiceAccount."""
        found = []
        for binding in [*self.rolebindings, *self.clusterrolebindings]:
            if kind_of(binding) == "RoleBinding" and namespace_of(binding) != namespace:
                continue
            for subject in dicts(binding.get("subjects")):
                if (
                    subject.get("kind") == "ServiceAccount"
                    and subject.get("name") == name
                    and (subject.get("namespace") or namespace_of(binding)) == namespace
                ):
                    found.append(binding)
                    break
        return found

    def role_for_binding(self, binding: JsonObject) -> JsonObject | None:
        ref = d(binding.get("roleRef"))
        if ref.get("kind") == "ClusterRole":
            return self.get("ClusterRole", None, s(ref.get("name")))
        return self.get("Role", namespace_of(binding), s(ref.get("name")))

    def pods_using_claim(self, namespace: str, claim: str) -> list[JsonObject]:
        return [
            pod
            for pod in self.pods_in(namespace)
            if any(
                d(volume.get("persistentVolumeClaim")).get("claimName") == claim
                for volume in dicts(d(pod.get("spec")).get("volumes"))
            )
        ]

    # --- metrics ------------------------------------------------------------------------------

    @cached_property
    def _pod_usage(self) -> dict[tuple[str, str], dict[str, tuple[Decimal | None, Decimal | None]]]:
        found: dict[tuple[str, str], dict[str, tuple[Decimal | None, Decimal | None]]] = {}
        for sample in self.pod_metrics or []:
            usage = {}
            for container in dicts(sample.get("containers")):
                values = d(container.get("usage"))
                usage[s(container.get("name"))] = (
                    quantity(values.get("cpu")),
                    quantity(values.get("memory")),
                )
            found[(namespace_of(sample), name_of(sample))] = usage
        return found

    def pod_usage(self, pod: JsonObject) -> dict[str, tuple[Decimal | None, Decimal | None]] | None:
        """Per container (cpu cores, memory bytes) from metrics.k8s.io; None when unavailable."""
        if self.pod_metrics is None:
            return None
        return self._pod_usage.get((namespace_of(pod), name_of(pod)))

    # --- time ---------------------------------------------------------------------------------

    @cached_property
    def now(self) -> datetime:
        """The cluster's "now": the newest time it wrote (events, heartbeats, metrics).

        Judging ages against the cluster's own clock rather than ours keeps the analysis right
        for a cluster with a skewed clock, and for a simulated one whose clock is not ours.
        """
        newest: datetime | None = None
        # Parsing every event's time costs more than the rest of the analysis of a large
        # cluster; RFC 3339 UTC times sort as text, so only the latest few need parsing.
        texts = {
            value
            for event in self.events
            for value in (event.get("lastTimestamp"), event.get("eventTime"))
            if isinstance(value, str) and value
        }
        for text in heapq.nlargest(16, texts):
            moment = parse_time(text)
            if moment is not None and (newest is None or moment > newest):
                newest = moment
        for node in self.nodes:
            for cond in dicts(d(node.get("status")).get("conditions")):
                moment = parse_time(cond.get("lastHeartbeatTime"))
                if moment is not None and (newest is None or moment > newest):
                    newest = moment
        for sample in [*(self.pod_metrics or []), *(self.node_metrics or [])]:
            moment = parse_time(sample.get("timestamp"))
            if moment is not None and (newest is None or moment > newest):
                newest = moment
        return newest or datetime.now(UTC)

    def age_seconds(self, value: Any) -> float | None:
        moment = parse_time(value)
        return None if moment is None else (self.now - moment).total_seconds()


def _event_sort_key(event: JsonObject) -> datetime:
    return event_time(event) or datetime.min.replace(tzinfo=UTC)


async def gather_snapshot(
    ops: ClusterOps,
    resolver: ResourceResolver,
    *,
    namespaces: Iterable[str] | None = None,
    log_tail_lines: int = LOG_TAIL_LINES,
) -> ClusterSnapshot:
    """Read every collection concurrently: all namespaces, or only ``namespaces`` (cluster-scoped
    kinds are read whole either way)."""
    wanted = None if namespaces is None else tuple(sorted(set(namespaces)))
    started = time.perf_counter()
    types = await asyncio.gather(*(resolver.kind(listed.kind, listed.group) for listed in COLLECTIONS))

    async def read(
        listed: Listed, resource: ResourceType | None
    ) -> tuple[list[JsonObject] | None, str | None]:
        if resource is None:
            return None, "not served by this cluster"
        try:
            if not resource.namespaced or wanted is None:
                return (await ops.list(resource, ListQuery())).items, None
            pages = await asyncio.gather(*(ops.list(resource, ListQuery(namespace=ns)) for ns in wanted))
            return [item for page in pages for item in page.items], None
        except KubeApiError as err:
            return None, f"{err.status} {err.reason}: {err.message}"

    results = await asyncio.gather(
        *(read(listed, resource) for listed, resource in zip(COLLECTIONS, types, strict=True))
    )
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for listed, (items, error) in zip(COLLECTIONS, results, strict=True):
        if error is not None:
            errors[listed.attr] = error
        if listed.attr in METRIC_ATTRS:
            values[listed.attr] = items
        else:
            values[listed.attr] = items or []
    snapshot = ClusterSnapshot(namespaces=wanted, errors=errors, **values)
    snapshot.list_seconds = time.perf_counter() - started
    snapshot.logs = LogCache(ops, tail_lines=log_tail_lines)
    return snapshot
