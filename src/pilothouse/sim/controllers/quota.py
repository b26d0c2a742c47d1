"""ResourceQuota: the status controller and the admission check that refuses creates over quota.

Usage is evaluated as kube-apiserver's quota evaluators do: a pod counts `pods`, `count/pods`
and its effective requests and limits (the larger of its containers' sum and any one init
container), until it is terminal or past its deletion grace period; other objects count
themselves under their plural (`services`, `configmaps`, ...) and `count/<resource>[.<group>]`;
claims also count `requests.storage`, per StorageClass too. Amounts keep the format of the
quantity they came from, so messages print `1Gi` and `500m` as the real ones do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext

from pilothouse.sim.controllers.base import ControllerContext, KeyMapper
from pilothouse.sim.controllers.serviceaccounts import admission_forbidden
from pilothouse.sim.objects import parse_time
from pilothouse.sim.podutil import is_pod_terminal
from pilothouse.sim.resources import ResourceType
from pilothouse.sim.store import JsonObject, StorageKey, StoreEvent, clone
from pilothouse.sim.validation import canonical_quantity, parse_quantity

# The resources whose absence from a container the quota admission refuses (a historical rule).
CONSTRAINED = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})
_BARE_COMPUTE = ("cpu", "memory", "ephemeral-storage")
_BINARY_SUFFIX = re.compile(r"[KMGTPE]i$")
_CLASS_KEY = ".storageclass.storage.k8s.io/"


@dataclass(frozen=True)
class Amount:
    """A quantity and the format it prints in: BinarySI (Ki, Mi, ...) or DecimalSI."""

    value: Decimal
    binary: bool = False

    @classmethod
    def parse(cls, text: object) -> Amount:
        return cls(parse_quantity(str(text)), bool(_BINARY_SUFFIX.search(str(text))))

    def __add__(self, other: Amount) -> Amount:
        # Quantity.Add keeps the receiver's format unless the receiver is zero.
        return Amount(self.value + other.value, self.binary if self.value else other.binary)

    def __str__(self) -> str:
        if not self.binary:
            return canonical_quantity(f"{self.value:f}")
        # canonical_quantity reads the format from the suffix, so spell a binary amount in Ki.
        with localcontext() as context:
            context.prec = 60
            return canonical_quantity(f"{self.value / 1024:f}Ki")


ONE = Amount(Decimal(1))
Usage = dict[str, Amount]


def _add_usage(total: Usage, more: Mapping[str, Amount]) -> None:
    for key, amount in more.items():
        total[key] = total[key] + amount if key in total else amount


# What an object uses ------------------------------------------------------------------------------


def _compute_usage(requests: Mapping[str, Amount], limits: Mapping[str, Amount]) -> Usage:
    """podComputeUsageHelper: quota names for a set of requests and limits."""
    usage: Usage = {}
    for name, amount in requests.items():
        if name in _BARE_COMPUTE or name.startswith("hugepages-"):
            usage[name] = amount
        usage[f"requests.{name}"] = amount
    for name in _BARE_COMPUTE:
        if name in limits:
            usage[f"limits.{name}"] = limits[name]
    return usage


def _container_amounts(container: JsonObject, field: str) -> dict[str, Amount]:
    values = (container.get("resources") or {}).get(field) or {}
    return {name: Amount.parse(value) for name, value in values.items()}


def _pod_totals(spec: JsonObject, field: str) -> Usage:
    """The pod's effective requests or limits: max(sum of containers, each init container)."""
    total: Usage = {}
    for container in spec.get("containers") or []:
        _add_usage(total, _container_amounts(container, field))
    for container in spec.get("initContainers") or []:
        for name, amount in _container_amounts(container, field).items():
            if name not in total or amount.value > total[name].value:
                total[name] = amount
    return total


def pod_counts(pod: JsonObject, now: float) -> bool:
    """QuotaV1Pod: terminal pods, and pods stuck terminating past their grace period, are free."""
    if is_pod_terminal(pod):
        return False
    meta = pod["metadata"]
    deleted_at = parse_time(meta.get("deletionTimestamp"))
    return deleted_at is None or now <= deleted_at + (meta.get("deletionGracePeriodSeconds") or 0)


def usage_of(resource: ResourceType, obj: JsonObject, now: float) -> Usage:
    """Everything one object counts against a quota."""
    usage: Usage = {f"count/{resource.qualified_name}": ONE}
    if resource.group:
        return usage
    spec = obj.get("spec") or {}
    if resource.plural == "pods":
        if not pod_counts(obj, now):
            return {}
        usage["pods"] = ONE
        usage.update(_compute_usage(_pod_totals(spec, "requests"), _pod_totals(spec, "limits")))
    elif resource.plural == "services":
        usage["services"] = ONE
        if spec.get("type") == "LoadBalancer":
            usage["services.loadbalancers"] = ONE
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            usage["services.nodeports"] = Amount(Decimal(len(spec.get("ports") or [])))
    elif resource.plural == "persistentvolumeclaims":
        storage = Amount.parse(((spec.get("resources") or {}).get("requests") or {}).get("storage", "0"))
        usage.update({"persistentvolumeclaims": ONE, "requests.storage": storage})
        if spec.get("storageClassName"):
            prefix = f"{spec['storageClassName']}{_CLASS_KEY}"
            usage.update({f"{prefix}persistentvolumeclaims": ONE, f"{prefix}requests.storage": storage})
    else:
        usage[resource.plural] = ONE
    return usage


def counts_toward(resource: ResourceType, key: str) -> bool:
    """Whether objects of `resource` can use quota resource `key` (the evaluator's MatchingResources)."""
    if key.startswith("count/"):
        return key == f"count/{resource.qualified_name}"
    if resource.group:
        return False
    if resource.plural == "pods":
        return (
            key == "pods"
            or key in _BARE_COMPUTE
            or key.startswith(("hugepages-", "limits."))
            or (key.startswith("requests.") and key != "requests.storage")
        )
    if resource.plural == "services":
        return key in ("services", "services.loadbalancers", "services.nodeports")
    if resource.plural == "persistentvolumeclaims":
        return key in ("persistentvolumeclaims", "requests.storage") or _CLASS_KEY in key
    return key == resource.plural


def missing_compute(pod: JsonObject, required: Iterable[str]) -> str | None:
    """The quota admission's "must specify" list: constrained resources a container leaves out."""
    needed = sorted(set(required) & CONSTRAINED)
    missing: dict[str, set[str]] = {}
    spec = pod.get("spec") or {}
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        has = _compute_usage(
            _container_amounts(container, "requests"), _container_amounts(container, "limits")
        )
        for name in needed:
            if name not in has:
                missing.setdefault(name, set()).add(container.get("name", ""))
    if not missing:
        return None
    return "must specify " + "; ".join(
        f"{name} for: {','.join(sorted(missing[name]))}" for name in sorted(missing)
    )


# Scopes -------------------------------------------------------------------------------------------


def _pod_in_scope(scope: str, operator: str, values: list[str], pod: JsonObject) -> bool:
    spec = pod.get("spec") or {}
    if scope == "PriorityClass":
        name = spec.get("priorityClassName")
        return {
            "Exists": name is not None,
            "DoesNotExist": name is None,
            "In": name in values,
            "NotIn": name not in values,
        }.get(operator, False)
    terminating = spec.get("activeDeadlineSeconds") is not None
    best_effort = (pod.get("status") or {}).get("qosClass") == "BestEffort"
    return {
        "Terminating": terminating,
        "NotTerminating": not terminating,
        "BestEffort": best_effort,
        "NotBestEffort": not best_effort,
    }.get(scope, False)


def in_scope(quota: JsonObject, resource: ResourceType, obj: JsonObject) -> bool:
    """A quota with scopes only ever applies to pods, and to those matching every scope."""
    spec = quota.get("spec") or {}
    terms: list[tuple[str, str, list[str]]] = [(scope, "Exists", []) for scope in spec.get("scopes") or []]
    terms += [
        (e.get("scopeName", ""), e.get("operator", "Exists"), list(e.get("values") or []))
        for e in (spec.get("scopeSelector") or {}).get("matchExpressions") or []
    ]
    if not terms:
        return True
    return (
        resource.plural == "pods"
        and not resource.group
        and all(_pod_in_scope(scope, operator, values, obj) for scope, operator, values in terms)
    )


def _pretty(usage: Mapping[str, Amount], keys: Iterable[str]) -> str:
    return ",".join(f"{key}={usage[key]}" for key in sorted(keys))


# The controller -----------------------------------------------------------------------------------


class ResourceQuotaController:
    name = "resourcequota"

    def __init__(self, context: ControllerContext) -> None:
        self.context = context
        self.quotas = context.resource("", "ResourceQuota")
        self._resources: dict[StorageKey, ResourceType] = {}
        context.store.add_listener(self._on_change)
        context.objects.admission.append(self.admit)

    def watches(self) -> dict[StorageKey, KeyMapper]:
        return {}  # a store listener: `count/<resource>` can name any resource, custom ones too

    def _resource(self, storage_key: StorageKey) -> ResourceType | None:
        if storage_key not in self._resources:
            for resource in self.context.registry:
                self._resources.setdefault(resource.storage_key, resource)
        return self._resources.get(storage_key)

    def _on_change(self, storage_key: StorageKey, event: StoreEvent) -> None:
        namespace = event.object["metadata"].get("namespace")
        if not namespace:
            return
        if storage_key == self.quotas.storage_key:
            if event.previous is None or event.previous.get("spec") != event.object.get("spec"):
                self.context.engine.enqueue(self.name, namespace)
            return
        quotas = self.context.store.list(self.quotas.storage_key, namespace)
        resource = self._resource(storage_key)
        if not quotas or resource is None:
            return
        keys = {
            key
            for quota in quotas
            for key in (quota.get("spec") or {}).get("hard") or {}
            if counts_toward(resource, key)
        }
        if not keys:
            return
        now = self.context.clock.now()
        after = usage_of(resource, event.object, now) if event.type != "DELETED" else {}
        before = usage_of(resource, event.previous, now) if event.previous is not None else {}
        if {k: v.value for k, v in after.items() if k in keys} != {
            k: v.value for k, v in before.items() if k in keys
        }:
            self.context.engine.enqueue(self.name, namespace)
        deleted_at = parse_time(event.object["metadata"].get("deletionTimestamp"))
        if resource.plural == "pods" and deleted_at is not None and event.type != "DELETED" and after:
            # A pod stuck terminating stops counting once its grace period is over.
            grace = event.object["metadata"].get("deletionGracePeriodSeconds") or 0
            self.context.engine.call_at(deleted_at + grace + 1, self.name, namespace)

    def reconcile(self, key: str) -> None:
        for quota in self.context.store.list(self.quotas.storage_key, key):
            hard = (quota.get("spec") or {}).get("hard") or {}
            used = self.used(quota, hard)
            status = {
                "hard": {k: str(Amount.parse(v)) for k, v in hard.items()},
                "used": {k: str(used[k]) for k in hard},
            }
            if quota.get("status") != status:
                updated = clone(quota)
                updated["status"] = status
                self.context.objects.save(self.quotas, updated)

    def used(self, quota: JsonObject, keys: Iterable[str]) -> Usage:
        """What the namespace's objects in the quota's scope use, for each of `keys` (zero if nothing)."""
        wanted = set(keys)
        namespace = quota["metadata"]["namespace"]
        now = self.context.clock.now()
        used: Usage = {key: Amount(Decimal(0)) for key in wanted}
        seen: set[StorageKey] = set()
        for resource in self.context.registry:
            if resource.storage_key in seen or not any(counts_toward(resource, k) for k in wanted):
                continue
            seen.add(resource.storage_key)
            for obj in self.context.store.list(resource.storage_key, namespace):
                if in_scope(quota, resource, obj):
                    _add_usage(used, {k: v for k, v in usage_of(resource, obj, now).items() if k in wanted})
        return used

    def admit(self, resource: ResourceType, obj: JsonObject) -> None:
        """Refuse a create that would take any matching quota over its hard limits."""
        namespace = obj["metadata"].get("namespace")
        if not resource.namespaced or not namespace:
            return
        interesting = []
        for quota in self.context.store.list(self.quotas.storage_key, namespace):
            hard = (quota.get("spec") or {}).get("hard") or {}
            keys = [key for key in hard if counts_toward(resource, key)]
            if not keys or not in_scope(quota, resource, obj):
                continue
            if resource.plural == "pods" and not resource.group:
                problem = missing_compute(obj, keys)
                if problem:
                    raise admission_forbidden(
                        resource, obj, f"failed quota: {quota['metadata']['name']}: {problem}"
                    )
            interesting.append((quota, hard, keys))
        if not interesting:
            return
        delta = usage_of(resource, obj, self.context.clock.now())
        for quota, hard, keys in interesting:
            requested = {key: delta[key] for key in keys if key in delta}
            used = self.used(quota, requested)
            limits = {key: Amount.parse(hard[key]) for key in requested}
            exceeded = [
                key for key in requested if used[key].value + requested[key].value > limits[key].value
            ]
            if exceeded:
                name = quota["metadata"]["name"]
                raise admission_forbidden(
                    resource,
                    obj,
                    f"exceeded quota: {name}, requested: {_pretty(requested, exceeded)}, "
                    f"used: {_pretty(used, exceeded)}, limited: {_pretty(limits, exceeded)}",
                )
