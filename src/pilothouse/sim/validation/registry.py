"""Which rules apply to which kind, and the validate_create / validate_update entry points."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final

from .apps import (
    selector_transition,
    stateful_set_transition,
    validate_daemon_set,
    validate_deployment,
    validate_replica_set,
    validate_stateful_set,
)
from .batch import job_transition, validate_cron_job, validate_job
from .cluster import node_transition, pvc_transition, validate_namespace, validate_node, validate_pvc
from .config import config_map_transition, secret_transition, validate_config_map, validate_secret
from .crd import crd_name_check, crd_transition, validate_crd
from .errors import Errors, InvalidObject
from .fields import JsonObject, as_map, as_text
from .formats import NameCheck, name_is_dns1035_label, name_is_dns_label, name_is_dns_subdomain
from .metadata import validate_object_meta, validate_object_meta_update
from .networking import validate_ingress_create, validate_network_policy
from .pod_updates import pod_transition
from .pods import validate_pod, validate_pod_update_spec
from .scaling import validate_hpa, validate_pdb
from .services import service_transition, validate_service


def _no_errors(new: JsonObject, old: JsonObject) -> Errors:
    return []


SpecCheck = Callable[[JsonObject, "JsonObject | None"], Errors]
TransitionCheck = Callable[[JsonObject, JsonObject], Errors]


class _UpdateOrder(Enum):
    """Where each *Update validator puts its checks; the update-metadata checks always come first."""

    SPEC_THEN_TRANSITION = "spec, then transition"  # e.g. ValidateDeploymentUpdate
    TRANSITION_THEN_FULL = "transition, then all of create's checks"  # e.g. ValidateSecretUpdate
    FULL_THEN_TRANSITION = "all of create's checks, then transition"  # e.g. ValidatePodUpdate
    METADATA_ONLY = "metadata only"  # ValidateNamespaceUpdate


def _fixed_name_check(check: NameCheck) -> Callable[[JsonObject], NameCheck]:
    return lambda _obj: check


def _no_spec(obj: JsonObject, old: JsonObject | None) -> Errors:
    return []


_SUBDOMAIN_NAMES: Final = _fixed_name_check(name_is_dns_subdomain)


@dataclass(frozen=True)
class _KindRules:
    names: Callable[[JsonObject], NameCheck] = _SUBDOMAIN_NAMES
    spec: SpecCheck = _no_spec
    transition: TransitionCheck = _no_errors
    update_order: _UpdateOrder = _UpdateOrder.SPEC_THEN_TRANSITION
    kube_finalizers: bool = True  # core's ObjectMeta wrapper also vets unqualified finalizer names


_KINDS: Final[Mapping[tuple[str, str], _KindRules]] = {
    ("", "Pod"): _KindRules(
        spec=lambda obj, old: validate_pod(obj) if old is None else validate_pod_update_spec(obj),
        transition=pod_transition,
        update_order=_UpdateOrder.FULL_THEN_TRANSITION,
    ),
    ("", "Service"): _KindRules(
        names=_fixed_name_check(name_is_dns1035_label),
        spec=validate_service,
        transition=service_transition,
        update_order=_UpdateOrder.TRANSITION_THEN_FULL,
    ),
    ("", "Namespace"): _KindRules(
        names=_fixed_name_check(name_is_dns_label),
        spec=validate_namespace,
        update_order=_UpdateOrder.METADATA_ONLY,
    ),
    ("", "Node"): _KindRules(spec=validate_node, transition=node_transition),
    ("", "ConfigMap"): _KindRules(
        spec=validate_config_map,
        transition=config_map_transition,
        update_order=_UpdateOrder.TRANSITION_THEN_FULL,
    ),
    ("", "Secret"): _KindRules(
        spec=validate_secret, transition=secret_transition, update_order=_UpdateOrder.TRANSITION_THEN_FULL
    ),
    ("", "PersistentVolumeClaim"): _KindRules(
        spec=validate_pvc, transition=pvc_transition, update_order=_UpdateOrder.FULL_THEN_TRANSITION
    ),
    ("", "ServiceAccount"): _KindRules(update_order=_UpdateOrder.FULL_THEN_TRANSITION),
    ("apps", "Deployment"): _KindRules(spec=validate_deployment, transition=selector_transition),
    ("apps", "ReplicaSet"): _KindRules(spec=validate_replica_set, transition=selector_transition),
    ("apps", "DaemonSet"): _KindRules(spec=validate_daemon_set, transition=selector_transition),
    ("apps", "StatefulSet"): _KindRules(
        names=_fixed_name_check(name_is_dns_label),
        spec=validate_stateful_set,
        transition=stateful_set_transition,
    ),
    ("batch", "Job"): _KindRules(spec=validate_job, transition=job_transition),
    ("batch", "CronJob"): _KindRules(spec=validate_cron_job),
    ("autoscaling", "HorizontalPodAutoscaler"): _KindRules(spec=validate_hpa),
    ("policy", "PodDisruptionBudget"): _KindRules(
        spec=validate_pdb, update_order=_UpdateOrder.FULL_THEN_TRANSITION
    ),
    ("networking.k8s.io", "Ingress"): _KindRules(
        spec=validate_ingress_create, update_order=_UpdateOrder.FULL_THEN_TRANSITION
    ),
    ("networking.k8s.io", "NetworkPolicy"): _KindRules(spec=validate_network_policy),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _KindRules(
        names=crd_name_check, spec=validate_crd, transition=crd_transition, kube_finalizers=False
    ),
}
# Custom resources and kinds without rules get the generic ObjectMeta checks only.
_GENERIC: Final = _KindRules(kube_finalizers=False)


def _object_name(obj: JsonObject) -> str:
    return as_text(as_map(obj.get("metadata")).get("name"))


def validate_create(kind: str, group: str, obj: JsonObject, *, namespaced: bool) -> None:
    """Validate an object about to be created; raise InvalidObject as kube-apiserver would.

    ``group`` is the API group ("" for core). Defaulting may or may not have run.
    """
    rules = _KINDS.get((group, kind), _GENERIC)
    causes = validate_object_meta(obj, namespaced, rules.names(obj), rules.kube_finalizers)
    causes += rules.spec(obj, None)
    if causes:
        raise InvalidObject(kind, group, _object_name(obj), causes)


def validate_update(kind: str, group: str, new: JsonObject, old: JsonObject, *, namespaced: bool) -> None:
    """Validate replacing ``old`` (as stored) with ``new``, including what may not change.

    Raise InvalidObject as kube-apiserver would. ``new`` should carry the same defaults as ``old``.
    """
    rules = _KINDS.get((group, kind), _GENERIC)
    causes = validate_object_meta_update(new, old, rules.kube_finalizers)
    order = rules.update_order
    if order is _UpdateOrder.SPEC_THEN_TRANSITION:
        causes += rules.spec(new, old) + rules.transition(new, old)
    elif order is not _UpdateOrder.METADATA_ONLY:
        # These *Update validators re-run the whole create validation, metadata included.
        full = validate_object_meta(new, namespaced, rules.names(new), rules.kube_finalizers)
        full += rules.spec(new, old)
        transition = rules.transition(new, old)
        causes += transition + full if order is _UpdateOrder.TRANSITION_THEN_FULL else full + transition
    if causes:
        raise InvalidObject(kind, group, _object_name(new), causes)
