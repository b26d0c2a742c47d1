"""The resource types the simulated API server serves, and discovery documents built from them.

Built-in kinds are declared once in `BUILTIN_RESOURCES`; custom resources are added at run time
when a CustomResourceDefinition is created, and removed when it is deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

READ_VERBS = ("get", "list", "watch")
WRITE_VERBS = ("create", "delete", "deletecollection", "patch", "update")
ALL_VERBS = tuple(sorted(READ_VERBS + WRITE_VERBS))


@dataclass(frozen=True)
class ResourceType:
    """One REST resource: where it lives in the URL space and how it is named."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    # Several views may share one storage (core/v1 and events.k8s.io/v1 events do).
    storage_group: str | None = None
    # For custom resources: the CRD's additionalPrinterColumns for this version.
    printer_columns: tuple[dict[str, Any], ...] | None = None
    custom: bool = False

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def storage_key(self) -> tuple[str, str]:
        group = self.group if self.storage_group is None else self.storage_group
        return (group, self.plural)

    @property
    def qualified_name(self) -> str:
        """`deployments.apps`, as Kubernetes names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def group_kind(self) -> str:
        """`Deployment.apps`, as Kubernetes names a kind in error messages."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def discovery_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        return entry


def _core(kind: str, plural: str, namespaced: bool = True, **kw: Any) -> ResourceType:
    return ResourceType("", "v1", kind, plural, namespaced, **kw)


def _res(
    group: str, version: str, kind: str, plural: str, namespaced: bool = True, **kw: Any
) -> ResourceType:
    return ResourceType(group, version, kind, plural, namespaced, **kw)


# API groups served by kube-apiserver itself; any other group belongs to a custom resource
# (which, for example, takes no strategic merge patches and gets the default table printer).
BUILTIN_API_GROUPS: frozenset[str] = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
    }
)

_ALL = ("all",)
_READ_ONLY = ("get", "list")

BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    _core(
        "Namespace",
        "namespaces",
        False,
        short_names=("ns",),
        subresources=("status",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    ),
    _core(
        "Pod",
        "pods",
        short_names=("po",),
        categories=_ALL,
        subresources=("status", "log", "exec", "ephemeralcontainers"),
    ),
    _core(
        "Service",
        "services",
        short_names=("svc",),
        categories=_ALL,
        subresources=("status",),
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
    ),
    _core("Endpoints", "endpoints", short_names=("ep",)),
    _core("ConfigMap", "configmaps", short_names=("cm",)),
    _core("Secret", "secrets"),
    _core("ServiceAccount", "serviceaccounts", short_names=("sa",)),
    _core("Node", "nodes", False, short_names=("no",), subresources=("status",)),
    _core("Event", "events", short_names=("ev",)),
    _core("PersistentVolumeClaim", "persistentvolumeclaims", short_names=("pvc",), subresources=("status",)),
    _core("PersistentVolume", "persistentvolumes", False, short_names=("pv",), subresources=("status",)),
    _core("ResourceQuota", "resourcequotas", short_names=("quota",), subresources=("status",)),
    _core("LimitRange", "limitranges", short_names=("limits",)),
    _res(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        short_names=("deploy",),
        categories=_ALL,
        subresources=("status", "scale"),
    ),
    _res(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        short_names=("rs",),
        categories=_ALL,
        subresources=("status", "scale"),
    ),
    _res(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        short_names=("sts",),
        categories=_ALL,
        subresources=("status", "scale"),
    ),
    _res(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        short_names=("ds",),
        categories=_ALL,
        subresources=("status",),
    ),
    _res("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _res("batch", "v1", "Job", "jobs", categories=_ALL, subresources=("status",)),
    _res(
        "batch", "v1", "CronJob", "cronjobs", short_names=("cj",), categories=_ALL, subresources=("status",)
    ),
    _res("networking.k8s.io", "v1", "Ingress", "ingresses", short_names=("ing",), subresources=("status",)),
    _res("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    _res("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=("netpol",)),
    _res(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        short_names=("pdb",),
        subresources=("status",),
    ),
    _res(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short_names=("hpa",),
        categories=_ALL,
        subresources=("status",),
    ),
    _res("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, short_names=("sc",)),
    _res("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _res("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _res("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _res("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _res("events.k8s.io", "v1", "Event", "events", short_names=("ev",), storage_group=""),
    _res("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", False),
    _res("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, short_names=("pc",)),
    _res("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _res("coordination.k8s.io", "v1", "Lease", "leases"),
    _res(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        short_names=("crd", "crds"),
        subresources=("status",),
    ),
    _res("metrics.k8s.io", "v1beta1", "NodeMetrics", "nodes", False, verbs=_READ_ONLY),
    _res("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", verbs=_READ_ONLY),
)

# Preferred order of groups in discovery, as a real API server lists them (core first).
_GROUP_ORDER = [
    "",
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "metrics.k8s.io",
]


@dataclass
class ResourceRegistry:
    """Every resource type currently served, looked up the ways URLs and clients need."""

    _by_path: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _by_kind: dict[tuple[str, str], ResourceType] = field(default_factory=dict)

    @classmethod
    def with_builtins(cls) -> ResourceRegistry:
        registry = cls()
        for resource in BUILTIN_RESOURCES:
            registry.add(resource)
        return registry

    def add(self, resource: ResourceType) -> None:
        self._by_path[(resource.group, resource.version, resource.plural)] = resource
        # The first registered version of a kind is its preferred one (core events win over
        # events.k8s.io for the kind lookup, as kubectl's RESTMapper prefers the core group).
        self._by_kind.setdefault((resource.group, resource.kind), resource)

    def remove_group_resource(self, group: str, plural: str) -> None:
        for key in [k for k in self._by_path if k[0] == group and k[2] == plural]:
            resource = self._by_path.pop(key)
            if self._by_kind.get((group, resource.kind)) is resource:
                del self._by_kind[(group, resource.kind)]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((group, kind))

    def by_api_version(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for resource in self._by_path.values():
            if resource.group == group and resource.version == version and resource.kind == kind:
                return resource
        return None

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._by_path.values())

    def groups(self) -> list[tuple[str, list[str]]]:
        """(group, versions) pairs in discovery order; versions preferred first."""
        versions: dict[str, list[str]] = {}
        for resource in self._by_path.values():
            group_versions = versions.setdefault(resource.group, [])
            if resource.version not in group_versions:
                group_versions.append(resource.version)

        def order(group: str) -> tuple[int, str]:
            return (_GROUP_ORDER.index(group), "") if group in _GROUP_ORDER else (len(_GROUP_ORDER), group)

        return [(g, _sorted_versions(versions[g])) for g in sorted(versions, key=order)]

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self._by_path.values() if r.group == group and r.version == version]

    # Discovery documents -------------------------------------------------------------------

    def api_versions_document(self) -> dict[str, Any]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
        }

    def api_group_list_document(self) -> dict[str, Any]:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self.api_group_document(g) for g, _ in self.groups() if g],
        }

    def api_group_document(self, group: str) -> dict[str, Any]:
        versions = dict(self.groups()).get(group, [])
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": entries,
            "preferredVersion": entries[0] if entries else {},
        }

    def resource_list_document(self, group: str, version: str) -> dict[str, Any]:
        entries: list[dict[str, Any]] = []
        for resource in self.in_group_version(group, version):
            entries.append(resource.discovery_entry())
            for sub in resource.subresources:
                entries.append(_subresource_entry(resource, sub))
        group_version = f"{group}/{version}" if group else version
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": entries,
        }


def _subresource_entry(resource: ResourceType, sub: str) -> dict[str, Any]:
    verbs = {
        "status": ["get", "patch", "update"],
        "scale": ["get", "patch", "update"],
        "log": ["get"],
        "exec": ["create", "get"],
        "ephemeralcontainers": ["get", "patch", "update"],
    }[sub]
    entry: dict[str, Any] = {
        "name": f"{resource.plural}/{sub}",
        "singularName": "",
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": verbs,
    }
    if sub == "scale":
        entry.update(group="autoscaling", version="v1", kind="Scale")
    elif sub in ("log", "exec"):
        entry["kind"] = "PodExecOptions" if sub == "exec" else "Pod"
    return entry


def _sorted_versions(versions: Iterable[str]) -> list[str]:
    """Kubernetes version priority: GA before beta before alpha, higher numbers first."""

    def priority(version: str) -> tuple[int, int, int]:
        match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
        if not match:
            return (3, 0, 0)
        major, stage, minor = int(match[1]), match[2], int(match[3] or 0)
        rank = {None: 0, "beta": 1, "alpha": 2}[stage]
        return (rank, -major, -minor)

    return sorted(versions, key=priority)
