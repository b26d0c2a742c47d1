"""Validation of the simulated API server against kube-apiserver's own rules and messages.

Expected messages are written out by hand from the Go sources (field.Error.ErrorBody,
apimachinery util/validation, pkg/apis/*/validation), not computed from the module.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from pilothouse.sim.validation import (
    CronParseError,
    InvalidObject,
    QuantityError,
    canonical_quantity,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    parse_cron,
    parse_quantity,
    validate_create,
    validate_update,
)

JsonObject = dict[str, Any]
Cause = tuple[str, str, str]  # (field, reason, message)

SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
    "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_RULE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
LABEL_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
NAME_PART_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


# --- realistic objects ------------------------------------------------------------------------------


def pod_spec() -> JsonObject:
    return {
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "ports": [{"name": "http", "containerPort": 8080}],
                "env": [
                    {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                ],
                "envFrom": [{"configMapRef": {"name": "web-config"}}],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"cpu": "1", "memory": "128Mi"},
                },
                "volumeMounts": [
                    {"name": "cache", "mountPath": "/cache"},
                    {"name": "config", "mountPath": "/etc/web"},
                ],
            }
        ],
        "initContainers": [{"name": "migrate", "image": "web-migrations:1.0"}],
        "volumes": [
            {"name": "cache", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "config", "configMap": {"name": "web"}},
        ],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}],
    }


def template(labels: dict[str, str], restart_policy: str | None = None) -> JsonObject:
    spec = pod_spec()
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return {"metadata": {"labels": labels}, "spec": spec}


def meta(name: str = "web", namespace: str | None = "default", **extra: Any) -> JsonObject:
    result: JsonObject = {"name": name, **extra}
    if namespace:
        result["namespace"] = namespace
    return result


def pod() -> JsonObject:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(labels={"app": "web"}), "spec": pod_spec()}


def deployment() -> JsonObject:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(labels={"app": "web"}, annotations={"team": "payments"}),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template({"app": "web", "tier": "frontend"}),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
        },
    }


def replica_set() -> JsonObject:
    return {**deployment(), "kind": "ReplicaSet", "spec": {**deployment()["spec"], "strategy": None}}


def stateful_set() -> JsonObject:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta("db"),
        "spec": {
            "serviceName": "db",
            "replicas": 3,
            "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]},
            "template": template({"app": "db"}),
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "10Gi"}},
                    },
                }
            ],
        },
    }


def daemon_set() -> JsonObject:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta("agent", "kube-system"),
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": template({"app": "agent"}),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
        },
    }


def job() -> JsonObject:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta("migrate"),
        "spec": {
            "completions": 3,
            "parallelism": 2,
            "backoffLimit": 4,
            "template": template({}, "OnFailure"),
        },
    }


def cron_job() -> JsonObject:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta("backup"),
        "spec": {
            "schedule": "30 2 * * MON-FRI",
            "timeZone": "Europe/Berlin",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"template": template({}, "Never")}},
        },
    }


def service() -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(),
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "metrics", "port": 9090}],
        },
    }


def config_map() -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(),
        "data": {"app.conf": "x=1", "LOG_LEVEL": "info"},
    }


def secret() -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta("tls"),
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"},
    }


def pvc() -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta("data"),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    }


def hpa() -> JsonObject:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    }


def pdb() -> JsonObject:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(),
        "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}},
    }


def ingress() -> JsonObject:
    def backend() -> JsonObject:
        return {"service": {"name": "web", "port": {"number": 80}}}

    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta(),
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
            "rules": [
                {
                    "host": "shop.example.com",
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend()}]},
                },
                {
                    "host": "*.example.com",
                    "http": {"paths": [{"path": "/api", "pathType": "Exact", "backend": backend()}]},
                },
            ],
        },
    }


def network_policy() -> JsonObject:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta("allow-web"),
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {}}], "ports": [{"protocol": "TCP", "port": 8080}]}],
        },
    }


def namespace() -> JsonObject:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta("payments", None)}


def node() -> JsonObject:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta("node-1.cluster.local", None, labels={"kubernetes.io/hostname": "node-1"}),
        "spec": {"taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]},
        "status": {"capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"}},
    }


def crd() -> JsonObject:
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": meta("crontabs.stable.example.com", None),
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
            "versions": [
                {"name": "v1", "served": True, "storage": True, "schema": schema},
                {"name": "v1beta1", "served": True, "storage": False, "schema": schema},
            ],
        },
    }


# kind -> (group, namespaced, builder)
KINDS: dict[str, tuple[str, bool, Callable[[], JsonObject]]] = {
    "Pod": ("", True, pod),
    "Deployment": ("apps", True, deployment),
    "ReplicaSet": ("apps", True, replica_set),
    "StatefulSet": ("apps", True, stateful_set),
    "DaemonSet": ("apps", True, daemon_set),
    "Job": ("batch", True, job),
    "CronJob": ("batch", True, cron_job),
    "Service": ("", True, service),
    "ConfigMap": ("", True, config_map),
    "Secret": ("", True, secret),
    "PersistentVolumeClaim": ("", True, pvc),
    "HorizontalPodAutoscaler": ("autoscaling", True, hpa),
    "PodDisruptionBudget": ("policy", True, pdb),
    "Ingress": ("networking.k8s.io", True, ingress),
    "NetworkPolicy": ("networking.k8s.io", True, network_policy),
    "Namespace": ("", False, namespace),
    "Node": ("", False, node),
    "CustomResourceDefinition": ("apiextensions.k8s.io", False, crd),
}

DELETE = object()


def patched(obj: JsonObject, changes: dict[str, Any]) -> JsonObject:
    """A copy of obj with dotted paths ("spec.ports.0.port") set, or removed with DELETE."""
    result = copy.deepcopy(obj)
    for path, value in changes.items():
        *parents, last = path.split(".")
        target: Any = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
        if isinstance(target, list):
            target[int(last)] = value
        elif value is DELETE:
            del target[last]
        else:
            target[last] = value
    return result


def causes_on_create(kind: str, obj: JsonObject) -> list[Cause]:
    group, namespaced, _ = KINDS[kind]
    try:
        validate_create(kind, group, obj, namespaced=namespaced)
    except InvalidObject as err:
        return [(c.field, c.reason, c.message) for c in err.causes]
    return []


def causes_on_update(kind: str, new: JsonObject, old: JsonObject) -> list[Cause]:
    group, namespaced, _ = KINDS[kind]
    try:
        validate_update(kind, group, new, old, namespaced=namespaced)
    except InvalidObject as err:
        return [(c.field, c.reason, c.message) for c in err.causes]
    return []


# --- valid objects pass -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_realistic_objects_are_valid(kind: str) -> None:
    assert causes_on_create(kind, KINDS[kind][2]()) == []


# What the registry adds on create that a later update then carries: a Job's generated selector.
GENERATED_JOB_SELECTOR = {
    "spec.selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
    "spec.template.metadata.labels": {"batch.kubernetes.io/controller-uid": "u1"},
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unchanged_objects_update_cleanly(kind: str) -> None:
    obj = patched(KINDS[kind][2](), GENERATED_JOB_SELECTOR if kind == "Job" else {})
    assert causes_on_update(kind, copy.deepcopy(obj), obj) == []


def test_generated_name_and_custom_resources() -> None:
    obj = patched(pod(), {"metadata.name": DELETE, "metadata.generateName": "web-"})
    assert causes_on_create("Pod", obj) == []
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": meta("w1"),
        "spec": {"anything": 1},
    }
    validate_create("Widget", "example.com", widget, namespaced=True)


# --- each rule's failure ----------------------------------------------------------------------------

INVALID, REQUIRED, UNSUPPORTED = "FieldValueInvalid", "FieldValueRequired", "FieldValueNotSupported"
DUPLICATE, FORBIDDEN, TOO_LONG, NOT_FOUND = (
    "FieldValueDuplicate",
    "FieldValueForbidden",
    "FieldValueTooLong",
    "FieldValueNotFound",
)
C0 = "spec.containers[0]"
MISMATCH = "`selector` does not match template `labels`"
WEB_LABELS = '{"app":"web","tier":"frontend"}'
BOUND_10GI = {"phase": "Bound", "capacity": {"storage": "10Gi"}}
PORT_RANGE = "must be between 1 and 65535, inclusive"
OWNER_A = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "a", "uid": "a", "controller": True}
T0 = "spec.template.spec.containers[0]"

# fmt: off
CREATE_FAILURES: list[tuple[str, str, dict[str, Any], list[Cause]]] = [
    # metadata
    ("name required", "Pod", {"metadata.name": DELETE},
     [("metadata.name", REQUIRED, "Required value: name or generateName is required")]),
    ("name subdomain", "Deployment", {"metadata.name": "Web_1"},
     [("metadata.name", INVALID, f'Invalid value: "Web_1": {SUBDOMAIN_RULE}')]),
    ("name too long", "ConfigMap", {"metadata.name": "a" * 254},
     [("metadata.name", INVALID, f'Invalid value: "{"a" * 254}": must be no more than 253 bytes')]),
    ("generateName masked", "Pod", {"metadata.name": DELETE, "metadata.generateName": "Web-"},
     [("metadata.generateName", INVALID, f'Invalid value: "Web-": {SUBDOMAIN_RULE}')]),
    ("namespace label", "Namespace", {"metadata.name": "pay.ments"},
     [("metadata.name", INVALID, 'Invalid value: "pay.ments": must not contain dots')]),
    ("service rfc1035", "Service", {"metadata.name": "1web"},
     [("metadata.name", INVALID, f'Invalid value: "1web": {DNS1035_RULE}')]),
    ("statefulset label", "StatefulSet", {"metadata.name": "db.primary"},
     [("metadata.name", INVALID, 'Invalid value: "db.primary": must not contain dots')]),
    ("namespace required", "ConfigMap", {"metadata.namespace": DELETE},
     [("metadata.namespace", REQUIRED, "Required value")]),
    ("label key", "Pod", {"metadata.labels": {"-app": "web"}},
     [("metadata.labels", INVALID, f'Invalid value: "-app": {NAME_PART_RULE}')]),
    ("label value", "Pod", {"metadata.labels": {"app": "web app"}},
     [("metadata.labels", INVALID, f'Invalid value: "web app": {LABEL_VALUE_RULE}')]),
    ("annotation size", "ConfigMap", {"metadata.annotations": {"big": "x" * (256 * 1024)}},
     [("metadata.annotations", TOO_LONG, "Too long: may not be more than 262144 bytes")]),
    ("finalizer", "ConfigMap", {"metadata.finalizers": ["cleanup"]},
     [("metadata.finalizers[0]", INVALID,
       'Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified')]),
    ("two controllers", "ReplicaSet",
     {"metadata.ownerReferences": [OWNER_A, {**OWNER_A, "name": "b", "uid": "b"}]},
     [("metadata.ownerReferences", INVALID,
       'Invalid value: [{"apiVersion":"apps/v1","kind":"Deployment","name":"a","uid":"a","controller":true},'
       '{"apiVersion":"apps/v1","kind":"Deployment","name":"b","uid":"b","controller":true}]: Only one '
       'reference can have Controller set to true. Found "true" in references for Deployment/a and '
       "Deployment/b")]),
    # pods
    ("containers required", "Pod", {"spec.containers": []},
     [("spec.containers", REQUIRED, "Required value")]),
    ("container name", "Pod", {"spec.containers.0.name": "Web"},
     [(f"{C0}.name", INVALID, f'Invalid value: "Web": {LABEL_RULE}')]),
    ("container name duplicate", "Pod", {"spec.initContainers.0.name": "web"},
     [("spec.initContainers[0].name", DUPLICATE, 'Duplicate value: "web"')]),
    ("image required", "Pod", {"spec.containers.0.image": ""},
     [(f"{C0}.image", REQUIRED, "Required value")]),
    ("image whitespace", "Pod", {"spec.containers.0.image": "nginx "},
     [(f"{C0}.image", INVALID, 'Invalid value: "nginx ": must not have leading or trailing whitespace')]),
    ("port range", "Pod", {"spec.containers.0.ports.0.containerPort": 70000},
     [(f"{C0}.ports[0].containerPort", INVALID, f"Invalid value: 70000: {PORT_RANGE}")]),
    ("port required", "Pod", {"spec.containers.0.ports.0.containerPort": DELETE},
     [(f"{C0}.ports[0].containerPort", REQUIRED, "Required value")]),
    ("port protocol", "Pod", {"spec.containers.0.ports.0.protocol": "HTTP"},
     [(f"{C0}.ports[0].protocol", UNSUPPORTED,
       'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"')]),
    ("port name", "Pod", {"spec.containers.0.ports.0.name": "8080"},
     [(f"{C0}.ports[0].name", INVALID, 'Invalid value: "8080": must contain at least one letter (a-z)')]),
    ("env name", "Pod", {"spec.containers.0.env.0.name": "LOG=LEVEL"},
     [(f"{C0}.env[0].name", INVALID, 'Invalid value: "LOG=LEVEL": a valid environment variable name must '
       "consist only of printable ASCII characters other than '='")]),
    ("env value and valueFrom", "Pod", {"spec.containers.0.env.1.value": "x"},
     [(f"{C0}.env[1].valueFrom", INVALID,
       'Invalid value: "": may not be specified when `value` is not empty')]),
    ("env fieldPath", "Pod", {"spec.containers.0.env.1.valueFrom.fieldRef.fieldPath": "spec.restartPolicy"},
     [(f"{C0}.env[1].valueFrom.fieldRef.fieldPath", UNSUPPORTED,
       'Unsupported value: "spec.restartPolicy": supported values: "metadata.name", "metadata.namespace", '
       '"metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", '
       '"status.podIP", "status.podIPs"')]),
    ("env secret key", "Pod", {"spec.containers.0.env.2.valueFrom.secretKeyRef.key": DELETE},
     [(f"{C0}.env[2].valueFrom.secretKeyRef.key", REQUIRED, "Required value")]),
    ("envFrom source", "Pod", {"spec.containers.0.envFrom.0": {"prefix": "APP_"}},
     [(f"{C0}.envFrom", INVALID, 'Invalid value: "": must specify one of: `configMapRef` or `secretRef`')]),
    ("pull policy", "Pod", {"spec.containers.0.imagePullPolicy": "Sometimes"},
     [(f"{C0}.imagePullPolicy", UNSUPPORTED,
       'Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"')]),
    ("restart policy", "Pod", {"spec.restartPolicy": "Sometimes"},
     [("spec.restartPolicy", UNSUPPORTED,
       'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"')]),
    ("requests above limits", "Pod", {"spec.containers.0.resources.requests.cpu": "1500m"},
     [(f"{C0}.resources.requests", INVALID,
       'Invalid value: "1500m": must be less than or equal to cpu limit of 1')]),
    ("memory above limit", "Pod", {"spec.containers.0.resources.requests.memory": "0.25Gi"},
     [(f"{C0}.resources.requests", INVALID,
       'Invalid value: "256Mi": must be less than or equal to memory limit of 128Mi')]),
    ("bad quantity", "Pod", {"spec.containers.0.resources.limits.memory": "lots"},
     [(f"{C0}.resources.limits[memory]", INVALID, 'Invalid value: "lots": quantities must match the regular '
       "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]),
    ("negative quantity", "Pod", {"spec.containers.0.resources.requests.cpu": "-1"},
     [(f"{C0}.resources.requests[cpu]", INVALID, 'Invalid value: "-1": must be greater than or equal to 0')]),
    ("resource name", "Pod", {"spec.containers.0.resources.limits.gpu": "1"},
     [(f"{C0}.resources.limits[gpu]", INVALID,
       'Invalid value: "gpu": must be a standard resource type or fully qualified'),
      (f"{C0}.resources.limits[gpu]", INVALID,
       'Invalid value: "gpu": must be a standard resource for containers')]),
    ("extended resource", "Pod",
     {"spec.containers.0.resources.requests": {"cpu": "1", "example.com/gpu": "1"}},
     [(f"{C0}.resources.limits", REQUIRED,
       "Required value: Limit must be set for non overcommitable resources")]),
    ("volume names unique", "Pod", {"spec.volumes.1.name": "cache"},
     [("spec.volumes[1].name", DUPLICATE, 'Duplicate value: "cache"'),
      (f"{C0}.volumeMounts[1].name", NOT_FOUND, 'Not found: "config"')]),
    ("volume type", "Pod", {"spec.volumes.0": {"name": "cache"}},
     [("spec.volumes[0]", REQUIRED, "Required value: must specify a volume type"),
      (f"{C0}.volumeMounts[0].name", NOT_FOUND, 'Not found: "cache"')]),
    ("two volume types", "Pod", {"spec.volumes.0.secret": {"secretName": "s"}},
     [("spec.volumes[0].secret", FORBIDDEN, "Forbidden: may not specify more than 1 volume type"),
      (f"{C0}.volumeMounts[0].name", NOT_FOUND, 'Not found: "cache"')]),
    ("mount path unique", "Pod", {"spec.containers.0.volumeMounts.1.mountPath": "/cache"},
     [(f"{C0}.volumeMounts[1].mountPath", INVALID, 'Invalid value: "/cache": must be unique')]),
    ("configmap volume name", "Pod", {"spec.volumes.1.configMap.name": ""},
     [("spec.volumes[1].configMap.name", REQUIRED, "Required value"),
      (f"{C0}.volumeMounts[1].name", NOT_FOUND, 'Not found: "config"')]),
    ("toleration operator", "Pod", {"spec.tolerations.0.operator": "Maybe"},
     [("spec.tolerations[0].operator", UNSUPPORTED,
       'Unsupported value: "Maybe": supported values: "Equal", "Exists"')]),
    ("node selector", "Pod", {"spec.nodeSelector": {"zone": "eu west"}},
     [("spec.nodeSelector", INVALID, f'Invalid value: "eu west": {LABEL_VALUE_RULE}')]),
    # workloads
    ("selector required", "Deployment", {"spec.selector": DELETE},
     [("spec.selector", REQUIRED, "Required value"),
      ("spec.template.metadata.labels", INVALID, f"Invalid value: {WEB_LABELS}: {MISMATCH}")]),
    ("selector mismatch", "Deployment", {"spec.selector.matchLabels.app": "api"},
     [("spec.template.metadata.labels", INVALID, f"Invalid value: {WEB_LABELS}: {MISMATCH}")]),
    ("empty selector", "ReplicaSet", {"spec.selector": {}},
     [("spec.selector", INVALID, "Invalid value: {}: empty selector is invalid for deployment")]),
    ("bad selector operator", "Deployment",
     {"spec.selector": {"matchExpressions": [{"key": "app", "operator": "Is"}]}},
     [("spec.selector.matchExpressions[0].operator", INVALID,
       'Invalid value: "Is": not a valid selector operator'),
      ("spec.selector", INVALID,
       'Invalid value: {"matchExpressions":[{"key":"app","operator":"Is"}]}: invalid label selector')]),
    ("replicas negative", "Deployment", {"spec.replicas": -1},
     [("spec.replicas", INVALID, "Invalid value: -1: must be greater than or equal to 0")]),
    ("template restart policy", "Deployment", {"spec.template.spec.restartPolicy": "OnFailure"},
     [("spec.template.spec.restartPolicy", UNSUPPORTED,
       'Unsupported value: "OnFailure": supported values: "Always"')]),
    ("template validated like a pod", "ReplicaSet", {"spec.template.spec.containers.0.image": DELETE},
     [(f"{T0}.image", REQUIRED, "Required value")]),
    ("strategy type", "Deployment", {"spec.strategy": {"type": "BlueGreen"}},
     [("spec.strategy", UNSUPPORTED, 'Unsupported value: {"Type":"BlueGreen","RollingUpdate":null}: '
       'supported values: "Recreate", "RollingUpdate"')]),
    ("rolling update zero", "Deployment",
     {"spec.strategy.rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}},
     [("spec.strategy.rollingUpdate.maxUnavailable", INVALID,
       'Invalid value: "0%": may not be 0 when `maxSurge` is 0')]),
    ("rolling update percent", "Deployment", {"spec.strategy.rollingUpdate.maxUnavailable": "150%"},
     [("spec.strategy.rollingUpdate.maxUnavailable", INVALID,
       'Invalid value: "150%": must not be greater than 100%')]),
    ("recreate with rolling update", "Deployment", {"spec.strategy.type": "Recreate"},
     [("spec.strategy.rollingUpdate", FORBIDDEN,
       "Forbidden: may not be specified when strategy `type` is 'Recreate'")]),
    ("progress deadline", "Deployment", {"spec.minReadySeconds": 600},
     [("spec.progressDeadlineSeconds", INVALID, "Invalid value: 600: must be greater than minReadySeconds")]),
    ("statefulset pod management", "StatefulSet", {"spec.podManagementPolicy": "Random"},
     [("spec.podManagementPolicy", INVALID,
       "Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'")]),
    ("statefulset template spec unchecked", "StatefulSet", {"spec.template.spec.containers": []}, []),
    ("statefulset template labels", "StatefulSet", {"spec.template.metadata.labels.app": "cache"},
     [("spec.template.metadata.labels", INVALID, f'Invalid value: {{"app":"cache"}}: {MISMATCH}')]),
    ("daemonset strategy", "DaemonSet", {"spec.updateStrategy.rollingUpdate.maxSurge": 1},
     [("spec.updateStrategy.rollingUpdate.maxSurge", INVALID,
       "Invalid value: 1: may not be set when maxUnavailable is non-zero")]),
    ("daemonset nil selector", "DaemonSet", {"spec.selector": DELETE},
     [("spec.template.metadata.labels", INVALID, f'Invalid value: {{"app":"agent"}}: {MISMATCH}')]),
    ("job restart policy default", "Job", {"spec.template.spec.restartPolicy": DELETE},
     [("spec.template.spec.restartPolicy", REQUIRED, 'Required value: valid values: "OnFailure", "Never"')]),
    ("job restart policy", "Job", {"spec.template.spec.restartPolicy": "Sometimes"},
     [("spec.template.spec.restartPolicy", UNSUPPORTED,
       'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'),
      ("spec.template.spec.restartPolicy", UNSUPPORTED,
       'Unsupported value: "Sometimes": supported values: "OnFailure", "Never"')]),
    ("job counts", "Job", {"spec.completions": -1, "spec.backoffLimit": -2},
     [("spec.completions", INVALID, "Invalid value: -1: must be greater than or equal to 0"),
      ("spec.backoffLimit", INVALID, "Invalid value: -2: must be greater than or equal to 0")]),
    ("job manual selector", "Job",
     {"spec.manualSelector": True, "spec.selector": {"matchLabels": {"app": "x"}}},
     [("spec.template.metadata.labels", INVALID, f"Invalid value: {{}}: {MISMATCH}")]),
    ("job generated selector", "Job", {"spec.selector": {"matchLabels": {"app": "x"}}},
     [("spec.selector", INVALID,
       'Invalid value: {"matchLabels":{"app":"x"}}: `selector` not auto-generated')]),
    ("cron schedule required", "CronJob", {"spec.schedule": ""},
     [("spec.schedule", REQUIRED, "Required value")]),
    ("cron schedule", "CronJob", {"spec.schedule": "0 25 * * *"},
     [("spec.schedule", INVALID, 'Invalid value: "0 25 * * *": end of range (25) above maximum (23): 25')]),
    ("cron TZ prefix", "CronJob", {"spec.schedule": "CRON_TZ=UTC 0 * * * *", "spec.timeZone": DELETE},
     [("spec.schedule", INVALID, 'Invalid value: "CRON_TZ=UTC 0 * * * *": '
       "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")]),
    ("cron timezone", "CronJob", {"spec.timeZone": "Mars/Olympus"},
     [("spec.timeZone", INVALID, 'Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus')]),
    ("cron job template", "CronJob", {"spec.jobTemplate.spec.template.spec.restartPolicy": "Always"},
     [("spec.jobTemplate.spec.template.spec.restartPolicy", REQUIRED,
       'Required value: valid values: "OnFailure", "Never"')]),
    ("cron concurrency", "CronJob", {"spec.concurrencyPolicy": "Sometimes"},
     [("spec.concurrencyPolicy", UNSUPPORTED,
       'Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"')]),
    ("cron name length", "CronJob", {"metadata.name": "b" * 53},
     [("metadata.name", INVALID, f'Invalid value: "{"b" * 53}": must be no more than 52 characters')]),
    # services
    ("service ports required", "Service", {"spec.ports": []},
     [("spec.ports", REQUIRED, "Required value")]),
    ("headless needs no ports", "Service", {"spec.ports": [], "spec.clusterIP": "None"}, []),
    ("external name needs no ports", "Service",
     {"spec.ports": [], "spec.type": "ExternalName", "spec.externalName": "db.example.com."}, []),
    ("external name required", "Service", {"spec.type": "ExternalName"},
     [("spec.externalName", REQUIRED, "Required value")]),
    ("service port range", "Service", {"spec.ports.1.port": 0},
     [("spec.ports[1].port", INVALID, "Invalid value: 0: must be between 1 and 65535, inclusive"),
      ("spec.ports[1].targetPort", INVALID, "Invalid value: 0: must be between 1 and 65535, inclusive")]),
    ("service port name required", "Service", {"spec.ports.1.name": DELETE},
     [("spec.ports[1].name", REQUIRED, "Required value")]),
    ("target port name", "Service", {"spec.ports.0.targetPort": "Http"},
     [("spec.ports[0].targetPort", INVALID,
       'Invalid value: "Http": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)')]),
    ("service type", "Service", {"spec.type": "Public"},
     [("spec.type", UNSUPPORTED,
       'Unsupported value: "Public": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
       '"NodePort"')]),
    ("duplicate service port", "Service", {"spec.ports.1.port": 80},
     [("spec.ports[1]", DUPLICATE,
       'Duplicate value: {"Name":"","Protocol":"TCP","AppProtocol":null,"Port":80,"TargetPort":0,'
       '"NodePort":0}')]),
    ("node port on cluster ip", "Service", {"spec.ports.0.nodePort": 30080},
     [("spec.ports[0].nodePort", FORBIDDEN, "Forbidden: may not be used when `type` is 'ClusterIP'")]),
    # configuration
    ("config key", "ConfigMap", {"data": {"bad key": "x"}},
     [("data[bad key]", INVALID,
       "Invalid value: \"bad key\": a valid config key must consist of alphanumeric "
       "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
       "validation is '[-._a-zA-Z0-9]+')")]),
    ("config size", "ConfigMap", {"data.big": "x" * (1024 * 1024)},
     [("[]", TOO_LONG, "Too long: may not be more than 1048576 bytes")]),
    ("binary duplicate", "ConfigMap", {"binaryData": {"LOG_LEVEL": "eA=="}},
     [("data[LOG_LEVEL]", INVALID, 'Invalid value: "LOG_LEVEL": duplicate of key present in binaryData')]),
    ("secret tls keys", "Secret", {"data": {}},
     [("data[tls.crt]", REQUIRED, "Required value"), ("data[tls.key]", REQUIRED, "Required value")]),
    ("secret base64", "Secret", {"data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5!"}},
     [("data[tls.key]", INVALID,
       'Invalid value: "<secret contents redacted>": illegal base64 data at input byte 4')]),
    ("secret dockerconfigjson", "Secret",
     {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30K"}}, []),
    ("secret dockerconfigjson json", "Secret",
     {"type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": "{"}, "data": {}},
     [("data[.dockerconfigjson]", INVALID,
       'Invalid value: "<secret contents redacted>": unexpected end of JSON input')]),
    ("secret basic auth", "Secret", {"type": "kubernetes.io/basic-auth", "data": {}},
     [("data[username]", REQUIRED, "Required value"), ("data[password]", REQUIRED, "Required value")]),
    ("service account token", "Secret", {"type": "kubernetes.io/service-account-token", "data": {}},
     [("metadata.annotations[kubernetes.io/service-account.name]", REQUIRED, "Required value")]),
    # storage, cluster objects
    ("pvc access modes", "PersistentVolumeClaim", {"spec.accessModes": []},
     [("spec.accessModes", REQUIRED, "Required value: at least 1 access mode is required")]),
    ("pvc access mode", "PersistentVolumeClaim", {"spec.accessModes": ["ReadWriteSometimes"]},
     [("spec.accessModes", UNSUPPORTED, 'Unsupported value: "ReadWriteSometimes": supported values: '
       '"ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"')]),
    ("pvc storage", "PersistentVolumeClaim", {"spec.resources.requests": {}},
     [("spec.resources[storage]", REQUIRED, "Required value")]),
    ("pvc storage positive", "PersistentVolumeClaim", {"spec.resources.requests.storage": "0"},
     [("spec.resources[storage]", INVALID, 'Invalid value: "0": must be greater than zero')]),
    ("node taint effect", "Node", {"spec.taints.0.effect": "NoRun"},
     [("metadata.taints[0].effect", UNSUPPORTED,
       'Unsupported value: "NoRun": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"')]),
    ("node duplicate taint", "Node",
     {"spec.taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}]},
     [("metadata.taints[1]", DUPLICATE, 'Duplicate value: {"Key":"a","Value":"","Effect":"NoSchedule",'
       '"TimeAdded":null}: taints must be unique by key and effect pair')]),
    ("namespace finalizer", "Namespace", {"spec": {"finalizers": ["cleanup"]}},
     [("spec.finalizers", INVALID,
       'Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified')]),
    # autoscaling, policy, networking
    ("hpa max replicas", "HorizontalPodAutoscaler", {"spec.maxReplicas": 0},
     [("spec.maxReplicas", INVALID, "Invalid value: 0: must be greater than 0"),
      ("spec.maxReplicas", INVALID, "Invalid value: 0: must be greater than or equal to `minReplicas`")]),
    ("hpa min replicas", "HorizontalPodAutoscaler", {"spec.minReplicas": 0},
     [("spec.minReplicas", INVALID, "Invalid value: 0: must be greater than or equal to 1")]),
    ("hpa target", "HorizontalPodAutoscaler", {"spec.scaleTargetRef.name": DELETE},
     [("spec.scaleTargetRef.name", REQUIRED, "Required value")]),
    ("hpa metric type", "HorizontalPodAutoscaler", {"spec.metrics.0.type": "Pods"},
     [("spec.metrics[0].pods", REQUIRED,
       "Required value: must populate information for the given metric source")]),
    ("pdb both set", "PodDisruptionBudget", {"spec.maxUnavailable": 1},
     [("spec", INVALID, 'Invalid value: {"MinAvailable":"50%","Selector":{"matchLabels":{"app":"web"}},'
       '"MaxUnavailable":1,"UnhealthyPodEvictionPolicy":null}: '
       "minAvailable and maxUnavailable cannot be both set")]),
    ("pdb percent", "PodDisruptionBudget", {"spec.minAvailable": "fifty"},
     [("spec.minAvailable", INVALID, 'Invalid value: "fifty": a valid percent string must be a numeric '
       "string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")]),
    ("ingress empty", "Ingress", {"spec": {}},
     [("spec", INVALID, "Invalid value: null: either `defaultBackend` or `rules` must be specified")]),
    ("ingress ip host", "Ingress", {"spec.rules.0.host": "10.0.0.1"},
     [("spec.rules[0].host", INVALID, 'Invalid value: "10.0.0.1": must be a DNS name, not an IP address')]),
    ("ingress path type", "Ingress", {"spec.rules.0.http.paths.0.pathType": DELETE},
     [("spec.rules[0].http.paths[0].pathType", REQUIRED, "Required value: pathType must be specified")]),
    ("ingress absolute path", "Ingress", {"spec.rules.1.http.paths.0.path": "api"},
     [("spec.rules[1].http.paths[0].path", INVALID, 'Invalid value: "api": must be an absolute path')]),
    ("ingress backend port", "Ingress", {"spec.rules.0.http.paths.0.backend.service.port": {}},
     [("spec.rules[0].http.paths[0].backend", REQUIRED, "Required value: port name or number is required")]),
    ("network policy peer", "NetworkPolicy", {"spec.ingress.0.from.0": {}},
     [("spec.ingress[0].from[0]", REQUIRED, "Required value: must specify a peer")]),
    ("network policy type", "NetworkPolicy", {"spec.policyTypes": ["Inbound"]},
     [("spec.policyTypes[0]", UNSUPPORTED,
       'Unsupported value: "Inbound": supported values: "Ingress", "Egress"')]),
    # CRDs
    ("crd name", "CustomResourceDefinition", {"metadata.name": "crontab.stable.example.com"},
     [("metadata.name", INVALID,
       'Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group')]),
    ("crd storage versions", "CustomResourceDefinition", {"spec.versions.1.storage": True},
     [("spec.versions", INVALID, "must have exactly one version marked as storage version")]),
    ("crd schema", "CustomResourceDefinition", {"spec.versions.1.schema": DELETE},
     [("spec.versions[1].schema.openAPIV3Schema", REQUIRED, "Required value: schemas are required")]),
    ("crd names", "CustomResourceDefinition", {"spec.names.kind": DELETE, "spec.names.singular": DELETE},
     [("spec.names.singular", REQUIRED, "Required value"), ("spec.names.kind", REQUIRED, "Required value"),
      ("spec.names.listKind", REQUIRED, "Required value")]),
    ("crd group", "CustomResourceDefinition", {"spec.group": "example", "metadata.name": "crontabs.example"},
     [("spec.group", INVALID, 'Invalid value: "example": should be a domain with at least one dot')]),
    ("crd scope", "CustomResourceDefinition", {"spec.scope": "Global"},
     [("spec.scope", UNSUPPORTED, 'Unsupported value: "Global": supported values: "Cluster", "Namespaced"')]),
]
# fmt: on


@pytest.mark.parametrize(
    ("kind", "changes", "expected"), [c[1:] for c in CREATE_FAILURES], ids=[c[0] for c in CREATE_FAILURES]
)
def test_create_failures(kind: str, changes: dict[str, Any], expected: list[Cause]) -> None:
    causes = causes_on_create(kind, patched(KINDS[kind][2](), changes))
    if expected and expected[0][2].startswith("must have exactly one"):  # the bad value is a whole list
        assert [(f, r, m.rsplit(": ", 1)[1]) for f, r, m in causes] == expected
    else:
        assert causes == expected


# --- updates ----------------------------------------------------------------------------------------

POD_UPDATE_FORBIDDEN = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)\n"
)

# fmt: off
UPDATE_FAILURES: list[tuple[str, str, dict[str, Any], dict[str, Any], list[Cause]]] = [
    ("name immutable", "ConfigMap", {}, {"metadata.name": "other"},
     [("metadata.name", INVALID, 'Invalid value: "other": field is immutable')]),
    ("namespace immutable", "Deployment", {}, {"metadata.namespace": "prod"},
     [("metadata.namespace", INVALID, 'Invalid value: "prod": field is immutable')]),
    ("uid immutable", "Pod", {"metadata.uid": "a"}, {"metadata.uid": "b"},
     [("metadata.uid", INVALID, 'Invalid value: "b": field is immutable')]),
    ("uid may be omitted", "Pod", {"metadata.uid": "a"}, {"metadata.uid": DELETE}, []),
    ("deployment selector", "Deployment", {}, {"spec.selector.matchLabels.tier": "frontend"},
     [("spec.selector", INVALID,
       'Invalid value: {"matchLabels":{"app":"web","tier":"frontend"}}: field is immutable')]),
    ("replicaset selector", "ReplicaSet", {}, {"spec.selector": {"matchLabels": {"tier": "frontend"}}},
     [("spec.selector", INVALID, 'Invalid value: {"matchLabels":{"tier":"frontend"}}: field is immutable')]),
    ("daemonset selector", "DaemonSet", {},
     {"spec.selector.matchLabels.app": "agent2", "spec.template.metadata.labels.app": "agent2"},
     [("spec.selector", INVALID, 'Invalid value: {"matchLabels":{"app":"agent2"}}: field is immutable')]),
    ("deployment template may change", "Deployment", {},
     {"spec.template.spec.containers.0.image": "nginx:1.28", "spec.replicas": 5}, []),
    ("statefulset forbidden", "StatefulSet", {}, {"spec.serviceName": "db2"},
     [("spec", FORBIDDEN, "Forbidden: updates to statefulset spec for fields other than 'replicas', "
       "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
       "'minReadySeconds' are forbidden")]),
    ("statefulset allowed", "StatefulSet", {},
     {"spec.replicas": 5, "spec.template.spec.containers.0.image": "db:2"}, []),
    ("job template", "Job", GENERATED_JOB_SELECTOR, {"spec.template.spec.containers.0.image": "migrate:2"},
     [("spec.template", INVALID, "field is immutable")]),
    ("job completions", "Job", GENERATED_JOB_SELECTOR, {"spec.completions": 5},
     [("spec.completions", INVALID, "Invalid value: 5: field is immutable")]),
    ("job selector removed", "Job", GENERATED_JOB_SELECTOR, {"spec.selector": DELETE},
     [("spec.selector", REQUIRED, "Required value"),
      ("spec.template.metadata.labels", INVALID,
       f'Invalid value: {{"batch.kubernetes.io/controller-uid":"u1"}}: {MISMATCH}'),
      ("spec.selector", INVALID, "Invalid value: null: field is immutable")]),
    ("job stored without selector", "Job", {}, {"metadata.labels": {"team": "data"}}, []),
    ("service cluster ip", "Service", {"spec.clusterIP": "10.96.0.10"}, {"spec.clusterIP": "10.96.0.11"},
     [("spec.clusterIPs[0]", INVALID, 'Invalid value: ["10.96.0.11"]: may not change once set')]),
    ("service cluster ip kept", "Service", {"spec.clusterIP": "10.96.0.10"},
     {"spec.clusterIP": DELETE, "spec.ports.0.port": 8080}, []),
    ("secret immutable", "Secret", {"immutable": True}, {"data": {"tls.crt": "Y2VydA==", "tls.key": "bmV3"}},
     [("data", FORBIDDEN, "Forbidden: field is immutable when `immutable` is set")]),
    ("secret type", "Secret", {}, {"type": "Opaque"},
     [("type", INVALID, 'Invalid value: "Opaque": field is immutable')]),
    ("configmap immutable flag", "ConfigMap", {"immutable": True}, {"immutable": False},
     [("immutable", FORBIDDEN, "Forbidden: field is immutable when `immutable` is set")]),
    ("configmap mutable data", "ConfigMap", {}, {"data.LOG_LEVEL": "debug"}, []),
    ("pvc spec", "PersistentVolumeClaim", {}, {"spec.accessModes": ["ReadWriteMany"]},
     [("spec", FORBIDDEN, "Forbidden: spec is immutable after creation except resources.requests and "
       'volumeAttributesClassName for bound claims\n  accessModes[0]: "ReadWriteOnce" -> "ReadWriteMany"')]),
    ("pvc resize bound", "PersistentVolumeClaim", {"status": BOUND_10GI},
     {"spec.resources.requests.storage": "20Gi"}, []),
    ("pvc shrink", "PersistentVolumeClaim", {"status": BOUND_10GI},
     {"spec.resources.requests.storage": "5Gi"},
     [("spec.resources.requests.storage", FORBIDDEN,
       "Forbidden: field can not be less than status.capacity")]),
    ("pod image may change", "Pod", {}, {"spec.containers.0.image": "nginx:1.28"}, []),
    ("pod ports", "Pod", {}, {"spec.containers.0.ports.0.containerPort": 9090},
     [("spec", FORBIDDEN, POD_UPDATE_FORBIDDEN + "  containers[0].ports[0].containerPort: 8080 -> 9090")]),
    ("pod containers added", "Pod", {},
     {"spec.containers": [*pod_spec()["containers"], {"name": "b", "image": "b"}]},
     [("spec.containers", FORBIDDEN, "Forbidden: pod updates may not add or remove containers")]),
    ("pod toleration modified", "Pod", {}, {"spec.tolerations.0.value": "api"},
     [("spec.tolerations", FORBIDDEN,
       "Forbidden: existing toleration can not be modified except its tolerationSeconds")]),
    ("pod toleration added", "Pod", {},
     {"spec.tolerations": [*pod_spec()["tolerations"], {"operator": "Exists"}]}, []),
    ("pod deadline", "Pod", {"spec.activeDeadlineSeconds": 60}, {"spec.activeDeadlineSeconds": 120},
     [("spec.activeDeadlineSeconds", INVALID,
       "Invalid value: 120: must be less than or equal to previous value")]),
    ("pod defaults are no change", "Pod",
     {"spec.restartPolicy": "Always", "spec.dnsPolicy": "ClusterFirst"}, {}, []),
    ("hpa keeps stored min 0", "HorizontalPodAutoscaler",
     {"spec.minReplicas": 0}, {"spec.maxReplicas": 5}, []),
    # The CRD update validator does not re-check the name against the new group.
    ("crd group", "CustomResourceDefinition", {}, {"spec.group": "other.example.com"},
     [("spec.group", INVALID, 'Invalid value: "other.example.com": field is immutable')]),
    ("namespace spec unchecked", "Namespace", {}, {"spec.finalizers": ["cleanup"]}, []),
    ("node pod cidr", "Node", {"spec.podCIDRs": ["10.244.1.0/24"]}, {"spec.podCIDRs": ["10.244.2.0/24"]},
     [("spec.podCIDRs", FORBIDDEN,
       'Forbidden: node updates may not change podCIDR except from "" to valid')]),
]
# fmt: on


@pytest.mark.parametrize(
    ("kind", "old_changes", "new_changes", "expected"),
    [c[1:] for c in UPDATE_FAILURES],
    ids=[c[0] for c in UPDATE_FAILURES],
)
def test_update_rules(
    kind: str, old_changes: dict[str, Any], new_changes: dict[str, Any], expected: list[Cause]
) -> None:
    old = patched(KINDS[kind][2](), old_changes)
    causes = causes_on_update(kind, patched(old, new_changes), old)
    if kind == "Job" and expected and expected[0][0] == "spec.template":  # the bad value is a whole template
        assert [(f, r, m.rsplit(": ", 1)[1]) for f, r, m in causes] == expected
    else:
        assert causes == expected


# --- the Status ------------------------------------------------------------------------------------


def test_status_matches_new_invalid() -> None:
    obj = patched(deployment(), {"metadata.name": "Web_1", "spec.template.spec.containers": []})
    with pytest.raises(InvalidObject) as caught:
        validate_create("Deployment", "apps", obj, namespaced=True)
    assert caught.value.to_status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Deployment.apps "Web_1" is invalid: '
        f'[metadata.name: Invalid value: "Web_1": {SUBDOMAIN_RULE}, '
        "spec.template.spec.containers: Required value]",
        "reason": "Invalid",
        "details": {
            "name": "Web_1",
            "group": "apps",
            "kind": "Deployment",
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "message": f'Invalid value: "Web_1": {SUBDOMAIN_RULE}',
                    "field": "metadata.name",
                },
                {
                    "reason": "FieldValueRequired",
                    "message": "Required value",
                    "field": "spec.template.spec.containers",
                },
            ],
        },
        "code": 422,
    }


def test_status_single_cause_core_group_and_repeated_lines() -> None:
    obj = patched(pod(), {"spec.containers.0.image": ""})
    with pytest.raises(InvalidObject) as caught:
        validate_create("Pod", "", obj, namespaced=True)
    status = caught.value.to_status()
    assert status["message"] == 'Pod "web" is invalid: spec.containers[0].image: Required value'
    assert "group" not in status["details"]  # omitempty, like the core group's Status
    # A pod update re-validates tolerations, so Go reports the same line twice; the message shows it once.
    old = pod()
    new = patched(old, {"spec.tolerations": [*old["spec"]["tolerations"], {"key": "a", "operator": "Maybe"}]})
    with pytest.raises(InvalidObject) as caught:
        validate_update("Pod", "", new, old, namespaced=True)
    line = 'spec.tolerations[1].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists"'
    assert [str(cause) for cause in caught.value.causes] == [line, line]
    assert caught.value.message == f'Pod "web" is invalid: {line}'


def test_names_are_go_quoted() -> None:
    with pytest.raises(InvalidObject) as caught:
        validate_create("ConfigMap", "", patched(config_map(), {"metadata.name": 'a"b\n'}), namespaced=True)
    assert caught.value.message.startswith(
        'ConfigMap "a\\"b\\n" is invalid: metadata.name: Invalid value: "a\\"b\\n": '
    )


# --- string formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "value", "expected"),
    [
        (is_dns1123_label, "my-name", []),
        (is_dns1123_label, "a.b", ["must not contain dots"]),
        (is_dns1123_label, "a" * 64, ["must be no more than 63 bytes"]),
        (is_dns1123_label, "A" * 64, ["must be no more than 63 bytes", LABEL_RULE]),
        (is_dns1123_subdomain, "example.com", []),
        (is_dns1123_subdomain, "-x", [SUBDOMAIN_RULE]),
        (is_qualified_name, "example.com/MyName", []),
        (is_qualified_name, "/name", ["prefix part must be non-empty"]),
        (is_qualified_name, "Example.com/name", ["prefix part " + SUBDOMAIN_RULE]),
        (
            is_qualified_name,
            "a/b/c",
            [
                "a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start "
                "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
                "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
                "subdomain prefix and '/' (e.g. 'example.com/MyName')"
            ],
        ),
        (is_qualified_name, "a/", ["name part must be non-empty", NAME_PART_RULE]),
        (is_valid_label_value, "", []),
        (is_valid_label_value, "v" * 64, ["must be no more than 63 bytes"]),
    ],
)
def test_string_formats(check: Callable[[str], list[str]], value: str, expected: list[str]) -> None:
    assert check(value) == expected


# --- quantities -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "canonical"),
    [
        ("100m", Decimal("0.1"), "100m"),
        ("1000m", Decimal(1), "1"),
        ("0.5", Decimal("0.5"), "500m"),
        ("1", Decimal(1), "1"),
        ("1000", Decimal(1000), "1k"),
        ("1500", Decimal(1500), "1500"),
        ("1k", Decimal(1000), "1k"),
        ("1M", Decimal(10**6), "1M"),
        ("2G", Decimal(2 * 10**9), "2G"),
        ("1T", Decimal(10**12), "1T"),
        ("1P", Decimal(10**15), "1P"),
        ("1E", Decimal(10**18), "1E"),
        ("64Ki", Decimal(64 * 1024), "64Ki"),
        ("128Mi", Decimal(128 * 2**20), "128Mi"),
        ("1.5Gi", Decimal(1536 * 2**20), "1536Mi"),
        ("2048Mi", Decimal(2 * 2**30), "2Gi"),
        ("1Ti", Decimal(2**40), "1Ti"),
        ("1Pi", Decimal(2**50), "1Pi"),
        ("1Ei", Decimal(2**60), "1Ei"),
        ("0.5Ki", Decimal(512), "512"),
        ("1e3", Decimal(1000), "1e3"),
        ("1.5e3", Decimal(1500), "1500"),
        ("12E-3", Decimal("0.012"), "12e-3"),
        ("250u", Decimal("0.00025"), "250u"),
        ("5n", Decimal("5e-9"), "5n"),
        ("0.1m", Decimal("0.0001"), "100u"),
        ("1.0000000001", Decimal("1.000000001"), "1000000001n"),
        ("-2Gi", Decimal(-2 * 2**30), "-2Gi"),
        ("+3", Decimal(3), "3"),
        ("0", Decimal(0), "0"),
        ("0Gi", Decimal(0), "0"),
        (2, Decimal(2), "2"),
        (0.5, Decimal("0.5"), "500m"),
    ],
)
def test_quantities(text: str | int | float, value: Decimal, canonical: str) -> None:
    assert parse_quantity(text) == value
    assert canonical_quantity(text) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
        (
            "ten",
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        ),
        (
            "1.2.3",
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        ),
        (
            "1Kb",
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        ),
        ("1K", "unable to parse quantity's suffix"),
        ("1e", "unable to parse quantity's suffix"),
        ("Mi", "unable to parse numeric part of quantity"),
    ],
)
def test_quantity_errors(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as caught:
        parse_quantity(text)
    assert str(caught.value) == message


# --- cron ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "minutes", "hours", "days", "months", "weekdays"),
    [
        (
            "*/15 * * * *",
            {0, 15, 30, 45},
            set(range(24)),
            set(range(1, 32)),
            set(range(1, 13)),
            set(range(7)),
        ),
        ("0 9-17/4 * * MON-FRI", {0}, {9, 13, 17}, set(range(1, 32)), set(range(1, 13)), {1, 2, 3, 4, 5}),
        ("5,35 0 1,15 JAN,Jul *", {5, 35}, {0}, {1, 15}, {1, 7}, set(range(7))),
        ("0 0 ? * sun", {0}, {0}, set(range(1, 32)), set(range(1, 13)), {0}),
        ("30 2/6 * * *", {30}, {2, 8, 14, 20}, set(range(1, 32)), set(range(1, 13)), set(range(7))),
        ("@hourly", {0}, set(range(24)), set(range(1, 32)), set(range(1, 13)), set(range(7))),
        ("@daily", {0}, {0}, set(range(1, 32)), set(range(1, 13)), set(range(7))),
        ("@weekly", {0}, {0}, set(range(1, 32)), set(range(1, 13)), {0}),
        ("@monthly", {0}, {0}, {1}, set(range(1, 13)), set(range(7))),
        ("@yearly", {0}, {0}, {1}, {1}, set(range(7))),
    ],
)
def test_cron_fields(
    schedule: str, minutes: set[int], hours: set[int], days: set[int], months: set[int], weekdays: set[int]
) -> None:
    parsed = parse_cron(schedule)
    fields = (parsed.minutes, parsed.hours, parsed.days_of_month, parsed.months, parsed.days_of_week)
    assert [set(field) for field in fields] == [minutes, hours, days, months, weekdays]


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("", "empty spec string"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("*/2/3 * * * *", "too many slashes: */2/3"),
        ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
        ("* * * FOO *", 'failed to parse int from FOO: strconv.Atoi: parsing "FOO": invalid syntax'),
        ("-1 * * * *", 'failed to parse int from : strconv.Atoi: parsing "": invalid syntax'),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("TZ=Moon/Base * * * * *", "provided bad location Moon/Base: unknown time zone Moon/Base"),
        ("@every 5", 'time: missing unit in duration "5"'),
    ],
)
def test_cron_errors(schedule: str, message: str) -> None:
    with pytest.raises(CronParseError) as caught:
        parse_cron(schedule)
    assert str(caught.value) == message


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(
    ("schedule", "timezone", "after", "expected"),
    [
        ("*/15 * * * *", None, "2024-01-01T10:07:30+00:00", "2024-01-01T10:15:00+00:00"),
        ("*/15 * * * *", None, "2024-01-01T10:15:00+00:00", "2024-01-01T10:30:00+00:00"),
        (
            "0 9 * * MON-FRI",
            None,
            "2024-01-05T10:00:00+00:00",
            "2024-01-08T09:00:00+00:00",
        ),  # Friday -> Monday
        ("0 0 31 * *", None, "2024-04-01T00:00:00+00:00", "2024-05-31T00:00:00+00:00"),  # April has no 31st
        ("0 0 29 2 *", None, "2024-03-01T00:00:00+00:00", "2028-02-29T00:00:00+00:00"),  # leap years only
        ("0 0 1,15 * MON", None, "2024-01-02T00:00:00+00:00", "2024-01-08T00:00:00+00:00"),  # day fields OR
        ("0 0 1-7 * *", None, "2024-01-31T12:00:00+00:00", "2024-02-01T00:00:00+00:00"),
        ("59 23 31 12 *", None, "2024-12-31T23:59:00+00:00", "2025-12-31T23:59:00+00:00"),
        ("@daily", None, "2024-06-30T23:59:59.9+00:00", "2024-07-01T00:00:00+00:00"),
        ("30 2 * * *", "Europe/Berlin", "2024-07-01T12:00:00+00:00", "2024-07-02T00:30:00+00:00"),
        (
            "CRON_TZ=America/New_York 0 9 * * *",
            None,
            "2024-01-01T00:00:00+00:00",
            "2024-01-01T14:00:00+00:00",
        ),
        ("@every 90s", None, "2024-01-01T00:00:00.5+00:00", "2024-01-01T00:01:30+00:00"),
    ],
)
def test_cron_next_after(schedule: str, timezone: str | None, after: str, expected: str) -> None:
    assert parse_cron(schedule, timezone).next_after(at(after)) == at(expected)


def test_cron_impossible_schedule_never_fires() -> None:
    assert parse_cron("0 0 30 2 *").next_after(at("2024-01-01T00:00:00+00:00")) == math.inf


def test_cron_steps_forward_from_its_own_answer() -> None:
    schedule = parse_cron("0 */6 * * *")
    moment = at("2024-03-01T01:00:00+00:00")
    fired = []
    for _ in range(5):
        moment = schedule.next_after(moment)
        fired.append(datetime.fromtimestamp(moment, UTC).hour)
    assert fired == [6, 12, 18, 0, 6]
