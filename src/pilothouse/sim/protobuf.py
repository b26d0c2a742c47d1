"""Decoding Kubernetes protobuf request bodies into the JSON dicts the API accepts.

client-go's typed clients send built-in types as `application/vnd.kubernetes.protobuf`: the
4-byte magic ``k8s\\x00`` followed by a `runtime.Unknown` envelope whose `raw` field holds the typed
object. The schema below lists, per message, field number -> (JSON name, type). Type strings:

- ``s`` string, ``i`` integer (varint, two's complement), ``b`` bool, ``y`` bytes (base64 in JSON)
- ``t`` meta.v1.Time (RFC 3339), ``q`` resource.Quantity, ``ios`` intstr.IntOrString
- ``m:Name`` a nested message, ``map:s`` / ``map:y`` / ``map:q`` a map from strings to that type
- a ``[]`` prefix marks a repeated field; a ``?`` suffix marks a Go pointer field, whose zero value
  is kept (non-pointer fields are always on the wire, so their zero values are dropped as
  `omitempty` would)
- an empty JSON name inlines the nested message's fields into the parent (Go embedded structs)

Fields missing from the schema are skipped; so is everything in ``Empty`` (used for statuses).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"
_MAX_DEPTH = 64


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf message of a known kind."""


Schema = dict[int, tuple[str, str]]

_META = "m:ObjectMeta"
_SELECTOR = "m:LabelSelector"
_LOR = "m:LocalObjectReference"

SCHEMAS: dict[str, Schema] = {
    "Empty": {},
    # k8s.io/apimachinery/pkg/apis/meta/v1
    "TypeMeta": {1: ("apiVersion", "s"), 2: ("kind", "s")},
    "Unknown": {
        1: ("typeMeta", "m:TypeMeta"),
        2: ("raw", "y"),
        3: ("contentEncoding", "s"),
        4: ("contentType", "s"),
    },
    "ObjectMeta": {
        1: ("name", "s"),
        2: ("generateName", "s"),
        3: ("namespace", "s"),
        4: ("selfLink", "s"),
        5: ("uid", "s"),
        6: ("resourceVersion", "s"),
        7: ("generation", "i"),
        8: ("creationTimestamp", "t"),
        9: ("deletionTimestamp", "t"),
        10: ("deletionGracePeriodSeconds", "i?"),
        11: ("labels", "map:s"),
        12: ("annotations", "map:s"),
        13: ("ownerReferences", "[]m:OwnerReference"),
        14: ("finalizers", "[]s"),
    },
    "OwnerReference": {
        1: ("kind", "s"),
        3: ("name", "s"),
        4: ("uid", "s"),
        5: ("apiVersion", "s"),
        6: ("controller", "b?"),
        7: ("blockOwnerDeletion", "b?"),
    },
    "LabelSelector": {1: ("matchLabels", "map:s"), 2: ("matchExpressions", "[]m:LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "s"), 2: ("operator", "s"), 3: ("values", "[]s")},
    # k8s.io/api/core/v1
    "ConfigMap": {
        1: ("metadata", _META),
        2: ("data", "map:s"),
        3: ("binaryData", "map:y"),
        4: ("immutable", "b?"),
    },
    "Secret": {
        1: ("metadata", _META),
        2: ("data", "map:y"),
        3: ("type", "s"),
        4: ("stringData", "map:s"),
        5: ("immutable", "b?"),
    },
    "Namespace": {1: ("metadata", _META), 2: ("spec", "m:NamespaceSpec"), 3: ("status", "m:Empty")},
    "NamespaceSpec": {1: ("finalizers", "[]s")},
    "ServiceAccount": {
        1: ("metadata", _META),
        2: ("secrets", "[]m:ObjectReference"),
        3: ("imagePullSecrets", "[]" + _LOR),
        4: ("automountServiceAccountToken", "b?"),
    },
    "ObjectReference": {
        1: ("kind", "s"),
        2: ("namespace", "s"),
        3: ("name", "s"),
        4: ("uid", "s"),
        5: ("apiVersion", "s"),
        6: ("resourceVersion", "s"),
        7: ("fieldPath", "s"),
    },
    "LocalObjectReference": {1: ("name", "s")},
    "TypedLocalObjectReference": {1: ("apiGroup", "s?"), 2: ("kind", "s"), 3: ("name", "s")},
    "Service": {1: ("metadata", _META), 2: ("spec", "m:ServiceSpec"), 3: ("status", "m:Empty")},
    "ServiceSpec": {
        1: ("ports", "[]m:ServicePort"),
        2: ("selector", "map:s"),
        3: ("clusterIP", "s"),
        4: ("type", "s"),
        5: ("externalIPs", "[]s"),
        7: ("sessionAffinity", "s"),
        8: ("loadBalancerIP", "s"),
        9: ("loadBalancerSourceRanges", "[]s"),
        10: ("externalName", "s"),
        11: ("externalTrafficPolicy", "s"),
        12: ("healthCheckNodePort", "i"),
        13: ("publishNotReadyAddresses", "b"),
        17: ("ipFamilyPolicy", "s?"),
        18: ("clusterIPs", "[]s"),
        19: ("ipFamilies", "[]s"),
        20: ("allocateLoadBalancerNodePorts", "b?"),
        21: ("loadBalancerClass", "s?"),
        22: ("internalTrafficPolicy", "s?"),
        23: ("trafficDistribution", "s?"),
    },
    "ServicePort": {
        1: ("name", "s"),
        2: ("protocol", "s"),
        3: ("port", "i"),
        4: ("targetPort", "ios"),
        5: ("nodePort", "i"),
        6: ("appProtocol", "s?"),
    },
    "Pod": {1: ("metadata", _META), 2: ("spec", "m:PodSpec"), 3: ("status", "m:Empty")},
    "PodTemplateSpec": {1: ("metadata", _META), 2: ("spec", "m:PodSpec")},
    "PodSpec": {
        1: ("volumes", "[]m:Volume"),
        2: ("containers", "[]m:Container"),
        3: ("restartPolicy", "s"),
        4: ("terminationGracePeriodSeconds", "i?"),
        5: ("activeDeadlineSeconds", "i?"),
        6: ("dnsPolicy", "s"),
        7: ("nodeSelector", "map:s"),
        8: ("serviceAccountName", "s"),
        9: ("serviceAccount", "s"),
        10: ("nodeName", "s"),
        11: ("hostNetwork", "b"),
        12: ("hostPID", "b"),
        13: ("hostIPC", "b"),
        14: ("securityContext", "m:PodSecurityContext"),
        15: ("imagePullSecrets", "[]" + _LOR),
        16: ("hostname", "s"),
        17: ("subdomain", "s"),
        19: ("schedulerName", "s"),
        20: ("initContainers", "[]m:Container"),
        21: ("automountServiceAccountToken", "b?"),
        22: ("tolerations", "[]m:Toleration"),
        24: ("priorityClassName", "s"),
        25: ("priority", "i?"),
        27: ("shareProcessNamespace", "b?"),
        29: ("runtimeClassName", "s?"),
        30: ("enableServiceLinks", "b?"),
        31: ("preemptionPolicy", "s?"),
        35: ("setHostnameAsFQDN", "b?"),
        37: ("hostUsers", "b?"),
    },
    "PodSecurityContext": {
        2: ("runAsUser", "i?"),
        3: ("runAsNonRoot", "b?"),
        4: ("supplementalGroups", "[]i"),
        5: ("fsGroup", "i?"),
        6: ("runAsGroup", "i?"),
    },
    "SecurityContext": {
        1: ("capabilities", "m:Capabilities"),
        2: ("privileged", "b?"),
        4: ("runAsUser", "i?"),
        5: ("runAsNonRoot", "b?"),
        6: ("readOnlyRootFilesystem", "b?"),
        7: ("allowPrivilegeEscalation", "b?"),
        8: ("runAsGroup", "i?"),
    },
    "Capabilities": {1: ("add", "[]s"), 2: ("drop", "[]s")},
    "Toleration": {
        1: ("key", "s"),
        2: ("operator", "s"),
        3: ("value", "s"),
        4: ("effect", "s"),
        5: ("tolerationSeconds", "i?"),
    },
    "Volume": {1: ("name", "s"), 2: ("", "m:VolumeSource")},
    "VolumeSource": {
        1: ("hostPath", "m:HostPathVolumeSource"),
        2: ("emptyDir", "m:EmptyDirVolumeSource"),
        6: ("secret", "m:SecretVolumeSource"),
        10: ("persistentVolumeClaim", "m:PersistentVolumeClaimVolumeSource"),
        19: ("configMap", "m:ConfigMapVolumeSource"),
    },
    "HostPathVolumeSource": {1: ("path", "s"), 2: ("type", "s?")},
    "EmptyDirVolumeSource": {1: ("medium", "s"), 2: ("sizeLimit", "q")},
    "SecretVolumeSource": {
        1: ("secretName", "s"),
        2: ("items", "[]m:KeyToPath"),
        3: ("defaultMode", "i?"),
        4: ("optional", "b?"),
    },
    "PersistentVolumeClaimVolumeSource": {1: ("claimName", "s"), 2: ("readOnly", "b")},
    "ConfigMapVolumeSource": {
        1: ("", _LOR),
        2: ("items", "[]m:KeyToPath"),
        3: ("defaultMode", "i?"),
        4: ("optional", "b?"),
    },
    "KeyToPath": {1: ("key", "s"), 2: ("path", "s"), 3: ("mode", "i?")},
    "Container": {
        1: ("name", "s"),
        2: ("image", "s"),
        3: ("command", "[]s"),
        4: ("args", "[]s"),
        5: ("workingDir", "s"),
        6: ("ports", "[]m:ContainerPort"),
        7: ("env", "[]m:EnvVar"),
        8: ("resources", "m:ResourceRequirements"),
        9: ("volumeMounts", "[]m:VolumeMount"),
        10: ("livenessProbe", "m:Probe"),
        11: ("readinessProbe", "m:Probe"),
        12: ("lifecycle", "m:Lifecycle"),
        13: ("terminationMessagePath", "s"),
        14: ("imagePullPolicy", "s"),
        15: ("securityContext", "m:SecurityContext"),
        16: ("stdin", "b"),
        17: ("stdinOnce", "b"),
        18: ("tty", "b"),
        19: ("envFrom", "[]m:EnvFromSource"),
        20: ("terminationMessagePolicy", "s"),
        22: ("startupProbe", "m:Probe"),
        24: ("restartPolicy", "s?"),
    },
    "ContainerPort": {
        1: ("name", "s"),
        2: ("hostPort", "i"),
        3: ("containerPort", "i"),
        4: ("protocol", "s"),
        5: ("hostIP", "s"),
    },
    "EnvVar": {1: ("name", "s"), 2: ("value", "s"), 3: ("valueFrom", "m:EnvVarSource")},
    "EnvVarSource": {
        1: ("fieldRef", "m:ObjectFieldSelector"),
        2: ("resourceFieldRef", "m:ResourceFieldSelector"),
        3: ("configMapKeyRef", "m:KeySelector"),
        4: ("secretKeyRef", "m:KeySelector"),
    },
    "ObjectFieldSelector": {1: ("apiVersion", "s"), 2: ("fieldPath", "s")},
    "ResourceFieldSelector": {1: ("containerName", "s"), 2: ("resource", "s"), 3: ("divisor", "q")},
    "KeySelector": {1: ("", _LOR), 2: ("key", "s"), 3: ("optional", "b?")},
    "EnvFromSource": {
        1: ("prefix", "s"),
        2: ("configMapRef", "m:EnvSource"),
        3: ("secretRef", "m:EnvSource"),
    },
    "EnvSource": {1: ("", _LOR), 2: ("optional", "b?")},
    "ResourceRequirements": {1: ("limits", "map:q"), 2: ("requests", "map:q")},
    "VolumeMount": {
        1: ("name", "s"),
        2: ("readOnly", "b"),
        3: ("mountPath", "s"),
        4: ("subPath", "s"),
        5: ("mountPropagation", "s?"),
        6: ("subPathExpr", "s"),
        7: ("recursiveReadOnly", "s?"),
    },
    "Probe": {
        1: ("", "m:ProbeHandler"),
        2: ("initialDelaySeconds", "i"),
        3: ("timeoutSeconds", "i"),
        4: ("periodSeconds", "i"),
        5: ("successThreshold", "i"),
        6: ("failureThreshold", "i"),
        7: ("terminationGracePeriodSeconds", "i?"),
    },
    "ProbeHandler": {
        1: ("exec", "m:ExecAction"),
        2: ("httpGet", "m:HTTPGetAction"),
        3: ("tcpSocket", "m:TCPSocketAction"),
        4: ("grpc", "m:GRPCAction"),
    },
    "Lifecycle": {1: ("postStart", "m:LifecycleHandler"), 2: ("preStop", "m:LifecycleHandler")},
    "LifecycleHandler": {
        1: ("exec", "m:ExecAction"),
        2: ("httpGet", "m:HTTPGetAction"),
        3: ("tcpSocket", "m:TCPSocketAction"),
        4: ("sleep", "m:SleepAction"),
    },
    "SleepAction": {1: ("seconds", "i")},
    "ExecAction": {1: ("command", "[]s")},
    "HTTPGetAction": {
        1: ("path", "s"),
        2: ("port", "ios"),
        3: ("host", "s"),
        4: ("scheme", "s"),
        5: ("httpHeaders", "[]m:HTTPHeader"),
    },
    "HTTPHeader": {1: ("name", "s"), 2: ("value", "s")},
    "TCPSocketAction": {1: ("port", "ios"), 2: ("host", "s")},
    "GRPCAction": {1: ("port", "i"), 2: ("service", "s?")},
    "ResourceQuota": {1: ("metadata", _META), 2: ("spec", "m:ResourceQuotaSpec"), 3: ("status", "m:Empty")},
    "ResourceQuotaSpec": {
        1: ("hard", "map:q"),
        2: ("scopes", "[]s"),
        3: ("scopeSelector", "m:ScopeSelector"),
    },
    "ScopeSelector": {1: ("matchExpressions", "[]m:ScopedResourceSelectorRequirement")},
    "ScopedResourceSelectorRequirement": {1: ("scopeName", "s"), 2: ("operator", "s"), 3: ("values", "[]s")},
    # k8s.io/api/apps/v1
    "Deployment": {1: ("metadata", _META), 2: ("spec", "m:DeploymentSpec"), 3: ("status", "m:Empty")},
    "DeploymentSpec": {
        1: ("replicas", "i?"),
        2: ("selector", _SELECTOR),
        3: ("template", "m:PodTemplateSpec"),
        4: ("strategy", "m:DeploymentStrategy"),
        5: ("minReadySeconds", "i"),
        6: ("revisionHistoryLimit", "i?"),
        7: ("paused", "b"),
        9: ("progressDeadlineSeconds", "i?"),
    },
    "DeploymentStrategy": {1: ("type", "s"), 2: ("rollingUpdate", "m:RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "ios?"), 2: ("maxSurge", "ios?")},
    # k8s.io/api/batch/v1
    "Job": {1: ("metadata", _META), 2: ("spec", "m:JobSpec"), 3: ("status", "m:Empty")},
    "JobSpec": {
        1: ("parallelism", "i?"),
        2: ("completions", "i?"),
        3: ("activeDeadlineSeconds", "i?"),
        4: ("selector", _SELECTOR),
        5: ("manualSelector", "b?"),
        6: ("template", "m:PodTemplateSpec"),
        7: ("backoffLimit", "i?"),
        8: ("ttlSecondsAfterFinished", "i?"),
        9: ("completionMode", "s?"),
        10: ("suspend", "b?"),
        12: ("backoffLimitPerIndex", "i?"),
        13: ("maxFailedIndexes", "i?"),
        14: ("podReplacementPolicy", "s?"),
        16: ("managedBy", "s?"),
    },
    "CronJob": {1: ("metadata", _META), 2: ("spec", "m:CronJobSpec"), 3: ("status", "m:Empty")},
    "CronJobSpec": {
        1: ("schedule", "s"),
        2: ("startingDeadlineSeconds", "i?"),
        3: ("concurrencyPolicy", "s"),
        4: ("suspend", "b?"),
        5: ("jobTemplate", "m:JobTemplateSpec"),
        6: ("successfulJobsHistoryLimit", "i?"),
        7: ("failedJobsHistoryLimit", "i?"),
        8: ("timeZone", "s?"),
    },
    "JobTemplateSpec": {1: ("metadata", _META), 2: ("spec", "m:JobSpec")},
    # k8s.io/api/rbac/v1
    "Role": {1: ("metadata", _META), 2: ("rules", "[]m:PolicyRule")},
    "ClusterRole": {
        1: ("metadata", _META),
        2: ("rules", "[]m:PolicyRule"),
        3: ("aggregationRule", "m:AggregationRule"),
    },
    "AggregationRule": {1: ("clusterRoleSelectors", "[]" + _SELECTOR)},
    "PolicyRule": {
        1: ("verbs", "[]s"),
        2: ("apiGroups", "[]s"),
        3: ("resources", "[]s"),
        4: ("resourceNames", "[]s"),
        5: ("nonResourceURLs", "[]s"),
    },
    "RoleBinding": {1: ("metadata", _META), 2: ("subjects", "[]m:Subject"), 3: ("roleRef", "m:RoleRef")},
    "Subject": {1: ("kind", "s"), 2: ("apiGroup", "s"), 3: ("name", "s"), 4: ("namespace", "s")},
    "RoleRef": {1: ("apiGroup", "s"), 2: ("kind", "s"), 3: ("name", "s")},
    # k8s.io/api/scheduling/v1
    "PriorityClass": {
        1: ("metadata", _META),
        2: ("value", "i"),
        3: ("globalDefault", "b"),
        4: ("description", "s"),
        5: ("preemptionPolicy", "s?"),
    },
    # k8s.io/api/policy/v1
    "PodDisruptionBudget": {
        1: ("metadata", _META),
        2: ("spec", "m:PodDisruptionBudgetSpec"),
        3: ("status", "m:Empty"),
    },
    "PodDisruptionBudgetSpec": {
        1: ("minAvailable", "ios?"),
        2: ("selector", _SELECTOR),
        3: ("maxUnavailable", "ios?"),
        4: ("unhealthyPodEvictionPolicy", "s?"),
    },
    # k8s.io/api/networking/v1
    "Ingress": {1: ("metadata", _META), 2: ("spec", "m:IngressSpec"), 3: ("status", "m:Empty")},
    "IngressSpec": {
        1: ("defaultBackend", "m:IngressBackend"),
        2: ("tls", "[]m:IngressTLS"),
        3: ("rules", "[]m:IngressRule"),
        4: ("ingressClassName", "s?"),
    },
    "IngressBackend": {
        3: ("resource", "m:TypedLocalObjectReference"),
        4: ("service", "m:IngressServiceBackend"),
    },
    "IngressServiceBackend": {1: ("name", "s"), 2: ("port", "m:ServiceBackendPort")},
    "ServiceBackendPort": {1: ("name", "s"), 2: ("number", "i")},
    "IngressTLS": {1: ("hosts", "[]s"), 2: ("secretName", "s")},
    "IngressRule": {1: ("host", "s"), 2: ("", "m:IngressRuleValue")},
    "IngressRuleValue": {1: ("http", "m:HTTPIngressRuleValue")},
    "HTTPIngressRuleValue": {1: ("paths", "[]m:HTTPIngressPath")},
    "HTTPIngressPath": {1: ("path", "s"), 2: ("backend", "m:IngressBackend"), 3: ("pathType", "s?")},
}

# (apiVersion, kind) -> top-level message.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "Namespace"): "Namespace",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("v1", "Pod"): "Pod",
    ("v1", "ResourceQuota"): "ResourceQuota",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "RoleBinding",
    ("scheduling.k8s.io/v1", "PriorityClass"): "PriorityClass",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("networking.k8s.io/v1", "Ingress"): "Ingress",
}

_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        if shift == 63 and byte > 1:
            raise ProtobufError("varint overflows 64 bits")
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
    raise ProtobufError("varint longer than 10 bytes")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """Split a message into (field number, wire type, value) triples, in wire order."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise ProtobufError(f"invalid field number {number}")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _read_varint(data, pos)
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if pos + size > len(data):
                raise ProtobufError("truncated fixed-width field")
            value = int.from_bytes(data[pos : pos + size], "little")
            pos += size
        elif wire == _LEN:
            length, pos = _read_varint(data, pos)
            if length > len(data) - pos:
                raise ProtobufError(f"field {number} length {length} overruns the message")
            value = data[pos : pos + length]
            pos += length
        else:
            raise ProtobufError(f"unsupported wire type {wire} for field {number}")
        out.append((number, wire, value))
    return out


def _expect_bytes(value: int | bytes, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError(f"{what}: expected a length-delimited field")
    return value


def _expect_int(value: int | bytes, what: str) -> int:
    if not isinstance(value, int):
        raise ProtobufError(f"{what}: expected a varint field")
    return value


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError(f"{what}: invalid UTF-8") from None


def _time(raw: bytes) -> str | None:
    seconds = 0
    for number, _wire, value in _fields(raw):
        if number == 1:
            seconds = _signed(_expect_int(value, "Time.seconds"))
    if seconds == 0:
        return None
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ProtobufError(f"Time.seconds {seconds} out of range") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _quantity(raw: bytes) -> str:
    text = ""
    for number, _wire, value in _fields(raw):
        if number == 1:
            text = _text(_expect_bytes(value, "Quantity"), "Quantity")
    return text


def _int_or_string(raw: bytes) -> int | str:
    kind, int_val, str_val = 0, 0, ""
    for number, _wire, value in _fields(raw):
        if number == 1:
            kind = _signed(_expect_int(value, "IntOrString.type"))
        elif number == 2:
            int_val = _signed(_expect_int(value, "IntOrString.intVal"))
        elif number == 3:
            str_val = _text(_expect_bytes(value, "IntOrString.strVal"), "IntOrString.strVal")
    return str_val if kind == 1 else int_val


def _scalar(kind: str, wire: int, value: int | bytes, what: str, depth: int) -> Any:
    if kind == "i":
        if wire == _LEN:
            raise ProtobufError(f"{what}: expected an integer")
        return _signed(value) if isinstance(value, int) else value
    if kind == "b":
        return _expect_int(value, what) != 0
    raw = _expect_bytes(value, what)
    if kind == "s":
        return _text(raw, what)
    if kind == "y":
        return base64.b64encode(raw).decode("ascii")
    if kind == "t":
        return _time(raw)
    if kind == "q":
        return _quantity(raw)
    if kind == "ios":
        return _int_or_string(raw)
    if kind.startswith("m:"):
        return _message(kind[2:], raw, depth + 1)
    raise ProtobufError(f"{what}: unknown schema type {kind!r}")  # pragma: no cover - schema bug


def _map_entry(kind: str, raw: bytes, what: str, depth: int) -> tuple[str, Any]:
    key, val = "", _scalar(kind, _LEN, b"", what, depth)
    for number, wire, value in _fields(raw):
        if number == 1:
            key = _text(_expect_bytes(value, what), what)
        elif number == 2:
            val = _scalar(kind, wire, value, what, depth)
    return key, val


def _is_zero(value: Any) -> bool:
    return value is None or (not isinstance(value, dict) and value in ("", 0, False))


def _message(name: str, data: bytes, depth: int = 0) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise ProtobufError("message nesting is too deep")
    schema = SCHEMAS[name]
    out: dict[str, Any] = {}
    for number, wire, value in _fields(data):
        spec = schema.get(number)
        if spec is None:
            continue
        json_name, kind = spec
        what = f"{name}.{json_name or number}"
        keep_zero = kind.endswith("?")
        kind = kind.rstrip("?")
        if kind.startswith("map:"):
            key, val = _map_entry(kind[4:], _expect_bytes(value, what), what, depth)
            out.setdefault(json_name, {})[key] = val
        elif kind.startswith("[]"):
            item_kind = kind[2:]
            items = out.setdefault(json_name, [])
            if item_kind in ("i", "b") and isinstance(value, bytes):  # packed encoding
                pos = 0
                while pos < len(value):
                    item, pos = _read_varint(value, pos)
                    items.append(_scalar(item_kind, _VARINT, item, what, depth))
            else:
                items.append(_scalar(item_kind, wire, value, what, depth))
        elif not json_name:
            out.update(_scalar(kind, wire, value, what, depth))
        else:
            decoded = _scalar(kind, wire, value, what, depth)
            if _is_zero(decoded) and not (keep_zero and decoded is not None):
                out.pop(json_name, None)
            else:
                out[json_name] = decoded
    return out


def decode_kubernetes_protobuf(body: bytes) -> dict[str, Any]:
    """Decode a `k8s\\x00`-prefixed runtime.Unknown body into the object's JSON form."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number")
    envelope = _message("Unknown", body[len(MAGIC) :])
    if envelope.get("contentEncoding"):
        raise ProtobufError(f"unsupported content encoding {envelope['contentEncoding']!r}")
    type_meta = envelope.get("typeMeta", {})
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise ProtobufError(f"protobuf decoding is not supported for {api_version}/{kind}")
    raw = base64.b64decode(envelope.get("raw", ""))
    obj = _message(message, raw)
    return {"apiVersion": api_version, "kind": kind, **obj}
