"""Decoding Kubernetes protobuf bodies, checked against a tiny hand-written encoder."""

from __future__ import annotations

import base64
import contextlib

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.sim.apiserver import ApiServer
from pilothouse.sim.cluster import SimCluster
from pilothouse.sim.protobuf import MAGIC, ProtobufError, decode_kubernetes_protobuf

# A field is (number, value): int -> varint, bytes/str -> length-delimited, list -> a nested message.
Field = tuple[int, "int | bytes | str | list[Field]"]


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def msg(*fields: Field) -> bytes:
    out = bytearray()
    for number, value in fields:
        if isinstance(value, int):
            out += varint(number << 3) + varint(value)
            continue
        if isinstance(value, str):
            payload = value.encode()
        elif isinstance(value, bytes):
            payload = value
        else:
            payload = msg(*value)
        out += varint(number << 3 | 2) + varint(len(payload)) + payload
    return bytes(out)


def entry(key: str, value: str | bytes | list[Field]) -> list[Field]:
    return [(1, key), (2, value)]


def quantity(text: str) -> list[Field]:
    return [(1, text)]


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return MAGIC + msg((1, [(1, api_version), (2, kind)]), (2, raw), (3, ""), (4, ""))


def meta(name: str, namespace: str = "") -> list[Field]:
    # Non-pointer fields are always on the wire, zero or not: they must not show up in JSON.
    return [(1, name), (2, ""), (3, namespace), (7, 0), (8, [])]


def test_configmap_with_data() -> None:
    raw = msg(
        (1, meta("cfg", "default")),
        (2, entry("a", "b")),
        (2, entry("c", "")),
        (3, entry("bin", b"\x00\x01")),
    )
    assert decode_kubernetes_protobuf(envelope("v1", "ConfigMap", raw)) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "default"},
        "data": {"a": "b", "c": ""},
        "binaryData": {"bin": "AAE="},
    }


def test_secret_data_is_base64() -> None:
    raw = msg((1, meta("s")), (2, entry("p", b"q")), (3, "Opaque"), (5, 0))
    obj = decode_kubernetes_protobuf(envelope("v1", "Secret", raw))
    assert obj["data"] == {"p": base64.b64encode(b"q").decode()}
    assert obj["type"] == "Opaque"
    assert obj["immutable"] is False  # a pointer field: present on the wire means set


def test_namespace_with_labels_and_timestamp() -> None:
    labels: list[Field] = [(11, entry("team", "a")), (8, [(1, 1_700_000_000), (2, 5)])]
    raw = msg((1, [(1, "team-a"), *labels]), (2, []), (3, []))
    assert decode_kubernetes_protobuf(envelope("v1", "Namespace", raw)) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team-a", "labels": {"team": "a"}, "creationTimestamp": "2023-11-14T22:13:20Z"},
        "spec": {},
        "status": {},
    }


def test_deployment_with_container() -> None:
    container: list[Field] = [
        (1, "nginx"),
        (2, "nginx:1.27"),
        (3, "sh"),
        (3, "-c"),
        (6, [(1, "http"), (2, 0), (3, 80), (4, "TCP")]),
        (7, [(1, "GREETING"), (2, "hello")]),
        (7, [(1, "FROM_CM"), (3, [(3, [(1, [(1, "cfg")]), (2, "a")])])]),
        (8, [(1, entry("cpu", quantity("500m"))), (2, entry("memory", quantity("64Mi")))]),
        (16, 0),
        (99, "unknown fields are skipped"),
    ]
    spec: list[Field] = [
        (1, 3),
        (2, [(1, entry("app", "hello"))]),
        (3, [(1, [(11, entry("app", "hello"))]), (2, [(2, container), (3, "Always")])]),
        (4, [(1, "RollingUpdate"), (2, [(1, [(1, 1), (3, "25%")]), (2, [(1, 0), (2, 1)])])]),
        (5, 0),
    ]
    obj = decode_kubernetes_protobuf(envelope("apps/v1", "Deployment", msg((1, meta("hello")), (2, spec))))
    assert obj["spec"]["replicas"] == 3
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "hello"}}
    assert obj["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1},
    }
    assert "minReadySeconds" not in obj["spec"]
    template = obj["spec"]["template"]
    assert template["metadata"] == {"labels": {"app": "hello"}}
    assert template["spec"]["restartPolicy"] == "Always"
    assert template["spec"]["containers"] == [
        {
            "name": "nginx",
            "image": "nginx:1.27",
            "command": ["sh", "-c"],
            "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
            "env": [
                {"name": "GREETING", "value": "hello"},
                {"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a"}}},
            ],
            "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}},
        }
    ]


def test_service_int_or_string_target_port() -> None:
    ports: list[Field] = [
        (3, [(1, "http"), (2, "TCP"), (3, 80), (4, [(1, 0), (2, 8080)])]),
        (3, [(1, "named"), (2, "TCP"), (3, 81), (4, [(1, 1), (3, "web")])]),
        (3, [(1, "unset"), (2, "TCP"), (3, 82), (4, [(1, 0), (2, 0), (3, "")])]),
    ]
    spec = [(1, p[1]) for p in ports] + [(2, entry("app", "hello")), (4, "ClusterIP"), (3, "")]
    obj = decode_kubernetes_protobuf(envelope("v1", "Service", msg((1, meta("hello")), (2, spec))))
    assert obj["spec"] == {
        "ports": [
            {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
            {"name": "named", "protocol": "TCP", "port": 81, "targetPort": "web"},
            {"name": "unset", "protocol": "TCP", "port": 82},
        ],
        "selector": {"app": "hello"},
        "type": "ClusterIP",
    }


def test_job_with_negative_and_pointer_ints() -> None:
    spec: list[Field] = [
        (2, 0),
        (7, 4),
        (6, [(2, [(2, [(1, "once"), (2, "busybox:1.37")]), (3, "Never"), (4, -1)])]),
    ]
    obj = decode_kubernetes_protobuf(envelope("batch/v1", "Job", msg((1, meta("once")), (2, spec))))
    assert obj["spec"]["completions"] == 0
    assert obj["spec"]["backoffLimit"] == 4
    pod = obj["spec"]["template"]["spec"]
    assert pod["containers"] == [{"name": "once", "image": "busybox:1.37"}]
    assert pod["terminationGracePeriodSeconds"] == -1


def test_role_and_rolebinding() -> None:
    rule: list[Field] = [(1, "get"), (2, ""), (3, "pods")]
    role = decode_kubernetes_protobuf(
        envelope("rbac.authorization.k8s.io/v1", "Role", msg((1, meta("r")), (2, rule)))
    )
    assert role["rules"] == [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]
    raw = msg(
        (1, meta("rb")),
        (2, [(1, "User"), (2, "rbac.authorization.k8s.io"), (3, "u"), (4, "")]),
        (3, [(1, "rbac.authorization.k8s.io"), (2, "Role"), (3, "r")]),
    )
    binding = decode_kubernetes_protobuf(envelope("rbac.authorization.k8s.io/v1", "RoleBinding", raw))
    assert binding == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "rb"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "u"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
    }


def test_packed_repeated_ints() -> None:
    packed = varint(1) + varint(2) + varint(300)
    raw = msg((2, [(2, [(1, "c")]), (14, [(4, packed)])]))
    obj = decode_kubernetes_protobuf(envelope("v1", "Pod", raw))
    assert obj["spec"]["securityContext"] == {"supplementalGroups": [1, 2, 300]}


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", "magic"),
        (b'{"kind": "ConfigMap"}', "magic"),
        (MAGIC + b"\x0a\x05ab", "overruns"),
        (MAGIC + b"\x08" + b"\xff" * 11, "varint"),
        (MAGIC + b"\x08\xff", "truncated"),
        (MAGIC + b"\x0b", "wire type"),
        (MAGIC + b"\x00\x00", "field number"),
        (envelope("v1", "Nope", b""), "not supported"),
        (envelope("example.com/v1", "ConfigMap", b""), "not supported"),
        (envelope("v1", "ConfigMap", msg((1, [(1, b"\xff\xfe")]))), "UTF-8"),
        (envelope("v1", "ConfigMap", msg((1, 5))), "length-delimited"),
        (envelope("v1", "ConfigMap", msg((1, [(1, 7)]))), "length-delimited"),
        (envelope("apps/v1", "Deployment", msg((2, [(1, "three")]))), "integer"),
        (MAGIC + msg((1, [(1, "v1"), (2, "ConfigMap")]), (3, "gzip")), "encoding"),
    ],
)
def test_malformed_bodies_raise_protobuf_error(body: bytes, match: str) -> None:
    with pytest.raises(ProtobufError, match=match):
        decode_kubernetes_protobuf(body)


def test_protobuf_error_is_a_value_error() -> None:
    assert issubclass(ProtobufError, ValueError)


def test_unknown_nested_fields_are_skipped_without_decoding() -> None:
    raw = b""
    for _ in range(200):
        raw = msg((50, [(3, raw)]))
    obj = decode_kubernetes_protobuf(envelope("v1", "ConfigMap", msg((1, meta("x")), (9, raw))))
    assert obj == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_raise_anything_else(tail: bytes) -> None:
    for body in (tail, MAGIC + tail):
        with contextlib.suppress(ProtobufError):
            decode_kubernetes_protobuf(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["ConfigMap", "Secret", "Service", "Pod", "Namespace"]))
def test_random_object_bytes_never_raise_anything_else(raw: bytes, kind: str) -> None:
    with contextlib.suppress(ProtobufError):
        decode_kubernetes_protobuf(envelope("v1", kind, raw))


async def test_api_server_accepts_protobuf_and_rejects_malformed_with_400() -> None:
    transport = httpx.ASGITransport(app=ApiServer(SimCluster(seed=1, manual_clock=True)).build_app())
    headers = {"Content-Type": "application/vnd.kubernetes.protobuf", "Accept": "application/json"}
    url = "/api/v1/namespaces/default/configmaps"
    good = envelope("v1", "ConfigMap", msg((1, meta("cfg")), (2, entry("a", "b"))))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
        created = await http.post(url, content=good, headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["data"] == {"a": "b"}
        bad = await http.post(url, content=MAGIC + b"\x0a\x7f", headers=headers)
        assert bad.status_code == 400
        assert bad.json()["kind"] == "Status"
        assert bad.json()["reason"] == "BadRequest"
