"""Patch semantics against the patches kubectl and the Python clients really send."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from pilothouse.sim.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    apply_json_merge_patch,
    apply_json_patch,
    apply_patch,
    apply_strategic_merge_patch,
)


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web", "tier": "front"},
            "finalizers": ["example.com/a", "example.com/b"],
        },
        "spec": {
            "replicas": 2,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx:1.24",
                            "env": [{"name": "MODE", "value": "prod"}, {"name": "LEVEL", "value": "info"}],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                        },
                        {"name": "sidecar", "image": "envoy:1.30"},
                    ],
                    "volumes": [{"name": "cache", "emptyDir": {}}],
                    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                },
            },
        },
        "status": {"conditions": [{"type": "Available", "status": "True"}]},
    }


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def _container_images(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], c["image"]) for c in _pod_spec(obj)["containers"]]


def _smp(target: dict[str, Any], patch: dict[str, Any], kind: str = "Deployment", group: str = "apps") -> Any:
    """Apply through the Content-Type dispatcher, as the API server does, and check immutability."""
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    result = apply_patch(target, orjson.dumps(patch), STRATEGIC_MERGE_PATCH, kind, group)
    assert target == target_before
    assert patch == patch_before
    return result


# --- strategic merge: what kubectl sends ------------------------------------------------------


def test_kubectl_set_image_updates_one_container_and_keeps_order() -> None:
    # kubectl set image deployment/web app=nginx:1.25
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
                    "containers": [{"image": "nginx:1.25", "name": "app"}],
                }
            }
        }
    }
    result = _smp(_deployment(), patch)
    assert _container_images(result) == [("app", "nginx:1.25"), ("sidecar", "envoy:1.30")]
    # Untouched container fields survive the merge.
    assert _pod_spec(result)["containers"][0]["env"] == _pod_spec(_deployment())["containers"][0]["env"]


def test_kubectl_rollout_restart_adds_template_annotation() -> None:
    patch = {
        "spec": {
            "template": {
                "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2025-05-01T10:00:00Z"}}
            }
        }
    }
    result = _smp(_deployment(), patch)
    template_meta = result["spec"]["template"]["metadata"]
    assert template_meta == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-05-01T10:00:00Z"},
    }
    assert _pod_spec(result) == _pod_spec(_deployment())


def test_kubectl_apply_three_way_patch_deletes_and_orders_containers() -> None:
    # kubectl apply of a manifest that drops the sidecar, adds a worker before "app" and bumps replicas.
    patch = {
        "metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Deployment"}\n'}
        },
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "worker"}, {"name": "app"}],
                    "containers": [
                        {"name": "worker", "image": "busybox"},
                        {"$patch": "delete", "name": "sidecar"},
                    ],
                }
            },
        },
    }
    result = _smp(_deployment(), patch)
    assert _container_images(result) == [("worker", "busybox"), ("app", "nginx:1.24")]
    assert result["spec"]["replicas"] == 3
    assert "kubectl.kubernetes.io/last-applied-configuration" in result["metadata"]["annotations"]


def test_set_element_order_alone_reorders_the_live_list() -> None:
    patch = {
        "spec": {
            "template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}]}}
        }
    }
    assert _container_images(_smp(_deployment(), patch)) == [("sidecar", "envoy:1.30"), ("app", "nginx:1.24")]


def test_set_element_order_places_a_new_element_in_the_middle() -> None:
    target = _deployment()
    _pod_spec(target)["containers"].append({"name": "last", "image": "x"})
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [
                        {"name": "app"},
                        {"name": "middle"},
                        {"name": "sidecar"},
                        {"name": "last"},
                    ],
                    "containers": [{"name": "middle", "image": "m"}],
                }
            }
        }
    }
    assert [name for name, _ in _container_images(_smp(target, patch))] == [
        "app",
        "middle",
        "sidecar",
        "last",
    ]


def test_plain_patch_puts_a_new_list_element_first_like_kubernetes() -> None:
    # Without $setElementOrder the apiserver places new elements before the server-only ones
    # (the documented `kubectl patch` example shows the added container first).
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "debug", "image": "busybox"}]}}}}
    assert [name for name, _ in _container_images(_smp(_deployment(), patch))] == ["debug", "app", "sidecar"]


def test_container_env_merges_by_name() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "env": [{"name": "LEVEL", "value": "debug"}, {"name": "NEW", "value": "1"}],
                        }
                    ]
                }
            }
        }
    }
    env = _pod_spec(_smp(_deployment(), patch))["containers"][0]["env"]
    assert {e["name"]: e["value"] for e in env} == {"MODE": "prod", "LEVEL": "debug", "NEW": "1"}


def test_patch_delete_directive_removes_a_container() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"$patch": "delete", "name": "sidecar"}]}}}}
    assert _container_images(_smp(_deployment(), patch)) == [("app", "nginx:1.24")]


def test_patch_replace_directive_replaces_a_merging_list() -> None:
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "solo"}]}}
        }
    }
    assert _pod_spec(_smp(_deployment(), patch))["containers"] == [{"name": "only", "image": "solo"}]


def test_patch_replace_directive_in_a_map_drops_unlisted_keys() -> None:
    patch = {"metadata": {"labels": {"$patch": "replace", "app": "web2"}}}
    assert _smp(_deployment(), patch)["metadata"]["labels"] == {"app": "web2"}


def test_patch_delete_directive_in_a_map_empties_it() -> None:
    assert _smp(_deployment(), {"metadata": {"labels": {"$patch": "delete"}}})["metadata"]["labels"] == {}


def test_retain_keys_clears_the_other_strategy_fields() -> None:
    # kubectl apply switching a Deployment to Recreate sends $retainKeys for spec.strategy.
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert _smp(_deployment(), patch)["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_must_list_every_field_the_patch_sets() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}}
    with pytest.raises(PatchError, match="invalid patch format of retainKeys") as excinfo:
        _smp(_deployment(), patch)
    assert excinfo.value.status_code == 400


def test_finalizers_merge_as_a_set_with_deletion_and_order_directives() -> None:
    patch = {
        "metadata": {
            "$setElementOrder/finalizers": ["example.com/b", "example.com/c"],
            "finalizers": ["example.com/c"],
            "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
        }
    }
    assert _smp(_deployment(), patch)["metadata"]["finalizers"] == ["example.com/b", "example.com/c"]


def test_finalizers_are_not_duplicated() -> None:
    patch = {"metadata": {"finalizers": ["example.com/b", "example.com/z"]}}
    assert sorted(_smp(_deployment(), patch)["metadata"]["finalizers"]) == [
        "example.com/a",
        "example.com/b",
        "example.com/z",
    ]


def test_null_deletes_a_key_and_unmatched_nulls_vanish() -> None:
    patch = {"metadata": {"labels": {"tier": None, "ghost": None}}, "spec": {"paused": None}}
    result = _smp(_deployment(), patch)
    assert result["metadata"]["labels"] == {"app": "web"}
    assert "paused" not in result["spec"]


def test_lists_without_merge_key_are_replaced() -> None:
    # core/v1 PodSpec.tolerations carries no patchStrategy tag.
    patch = {"spec": {"template": {"spec": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}}}}
    assert _pod_spec(_smp(_deployment(), patch))["tolerations"] == [{"key": "gpu", "operator": "Exists"}]


def test_container_ports_merge_by_container_port() -> None:
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 443}]}]}}}
    }
    ports = _pod_spec(_smp(_deployment(), patch))["containers"][0]["ports"]
    assert sorted(p["containerPort"] for p in ports) == [80, 443]


@pytest.mark.parametrize(
    ("kind", "group", "target", "patch", "path", "expected"),
    [
        pytest.param(
            "Pod",
            "",
            {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}},
            {"spec": {"containers": [{"name": "b", "image": "3"}]}},
            ("spec", "containers"),
            [{"name": "a", "image": "1"}, {"name": "b", "image": "3"}],
            id="pod-containers-by-name",
        ),
        pytest.param(
            "CronJob",
            "batch",
            {
                "spec": {
                    "jobTemplate": {
                        "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}]}}}
                    }
                }
            },
            {
                "spec": {
                    "jobTemplate": {
                        "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "2"}]}}}
                    }
                }
            },
            ("spec", "jobTemplate", "spec", "template", "spec", "containers"),
            [{"name": "a", "image": "2"}],
            id="cronjob-nested-template",
        ),
        pytest.param(
            "Service",
            "",
            {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}},
            {"spec": {"ports": [{"port": 443, "targetPort": 8443}]}},
            ("spec", "ports"),
            [{"port": 80, "name": "http"}, {"port": 443, "name": "https", "targetPort": 8443}],
            id="service-ports-by-port",
        ),
        pytest.param(
            "Endpoints",
            "",
            {"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]},
            {"subsets": [{"addresses": [{"ip": "10.0.0.2"}]}]},
            ("subsets",),
            [{"addresses": [{"ip": "10.0.0.2"}]}],
            id="endpoints-subsets-replaced",
        ),
        pytest.param(
            "ConfigMap",
            "",
            {"metadata": {"ownerReferences": [{"uid": "u1", "name": "a"}, {"uid": "u2", "name": "b"}]}},
            {"metadata": {"ownerReferences": [{"uid": "u2", "controller": True}]}},
            ("metadata", "ownerReferences"),
            [{"uid": "u1", "name": "a"}, {"uid": "u2", "name": "b", "controller": True}],
            id="owner-references-by-uid",
        ),
        pytest.param(
            "Pod",
            "",
            {
                "status": {
                    "conditions": [
                        {"type": "Ready", "status": "False"},
                        {"type": "Scheduled", "status": "True"},
                    ]
                }
            },
            {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
            ("status", "conditions"),
            [{"type": "Ready", "status": "True"}, {"type": "Scheduled", "status": "True"}],
            id="status-conditions-by-type",
        ),
        pytest.param(
            "DaemonSet",
            "apps",
            {"spec": {"template": {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}}},
            {"spec": {"template": {"spec": {"volumes": [{"name": "w", "hostPath": {"path": "/w"}}]}}}},
            ("spec", "template", "spec", "volumes"),
            [{"name": "w", "hostPath": {"path": "/w"}}, {"name": "v", "emptyDir": {}}],
            id="daemonset-volumes-by-name",
        ),
    ],
)
def test_merge_keys_follow_the_field_path_of_each_kind(
    kind: str, group: str, target: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...], expected: Any
) -> None:
    result: Any = _smp(target, patch, kind, group)
    for segment in path:
        result = result[segment]
    assert result == expected


def test_directives_never_reach_a_newly_created_field() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [
                        {"name": "init", "image": "busybox", "env": [{"name": "X", "value": None}]}
                    ],
                    "$setElementOrder/initContainers": [{"name": "init"}],
                }
            }
        }
    }
    assert _pod_spec(_smp(_deployment(), patch))["initContainers"] == [
        {"name": "init", "image": "busybox", "env": [{"name": "X"}]}
    ]


def test_strategic_merge_is_refused_for_custom_resources() -> None:
    with pytest.raises(PatchError) as excinfo:
        apply_strategic_merge_patch({"spec": {}}, {"spec": {"x": 1}}, "Widget", "example.com")
    assert excinfo.value.status_code == 415
    assert excinfo.value.reason == "UnsupportedMediaType"
    assert str(excinfo.value) == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
            "does not contain declared merge key: name",
        ),
        (
            {"spec": {"template": {"spec": {"containers": [{"$patch": "bogus", "name": "a"}]}}}},
            "unknown patch type",
        ),
        ({"spec": {"template": {"spec": {"containers": [{"$patch": "merge"}]}}}}, "cannot yet be specified"),
        ({"spec": {"$setElementOrder/": []}}, "invalid patch format of setElementOrder list"),
        (
            {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
            "invalid patch format of primitive list",
        ),
        (
            {
                "spec": {
                    "template": {
                        "spec": {
                            "$setElementOrder/containers": [{"name": "app"}],
                            "containers": [{"name": "sidecar", "image": "y"}],
                        }
                    }
                }
            },
            "doesn't match \\$setElementOrder list",
        ),
    ],
)
def test_malformed_strategic_patches_are_bad_requests(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(PatchError, match=message) as excinfo:
        _smp(_deployment(), patch)
    assert excinfo.value.status_code == 400


# --- JSON merge patch -------------------------------------------------------------------------


def test_kubectl_scale_merge_patch_on_the_scale_subresource() -> None:
    scale = {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "spec": {"replicas": 2},
        "status": {"replicas": 2},
    }
    result = apply_patch(scale, b'{"spec":{"replicas":5}}', MERGE_PATCH, "Scale", "autoscaling")
    assert result["spec"] == {"replicas": 5}
    assert result["status"] == {"replicas": 2}


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        ({"metadata": {"finalizers": ["x"]}}, {"metadata": {"finalizers": None}}, {"metadata": {}}),
    ],
)
def test_json_merge_patch_follows_rfc_7386(
    target: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    assert apply_json_merge_patch(target, patch) == expected
    assert (target, patch) == (target_before, patch_before)


def test_json_merge_patch_result_shares_nothing_with_the_patch() -> None:
    patch = {"spec": {"ports": [{"port": 80}]}}
    result = apply_json_merge_patch({}, patch)
    result["spec"]["ports"][0]["port"] = 81
    assert patch == {"spec": {"ports": [{"port": 80}]}}


@pytest.mark.parametrize("patch", [None, [1], "x"])
def test_json_merge_patch_must_be_an_object(patch: Any) -> None:
    with pytest.raises(PatchError) as excinfo:
        apply_json_merge_patch({"a": 1}, patch)
    assert excinfo.value.status_code == 400


# --- JSON patch -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operations", "expected_spec"),
    [
        ([{"op": "replace", "path": "/spec/replicas", "value": 4}], {"replicas": 4}),
        ([{"op": "add", "path": "/spec/paused", "value": True}], {"replicas": 2, "paused": True}),
        ([{"op": "remove", "path": "/spec/replicas"}], {}),
        (
            [
                {"op": "test", "path": "/spec/replicas", "value": 2},
                {"op": "replace", "path": "/spec/replicas", "value": 0},
            ],
            {"replicas": 0},
        ),
        (
            [{"op": "copy", "from": "/spec/replicas", "path": "/spec/minReadySeconds"}],
            {"replicas": 2, "minReadySeconds": 2},
        ),
        ([{"op": "move", "from": "/spec/replicas", "path": "/spec/count"}], {"count": 2}),
    ],
)
def test_json_patch_operations(operations: list[dict[str, Any]], expected_spec: dict[str, Any]) -> None:
    target = {"kind": "Deployment", "spec": {"replicas": 2}}
    target_before, operations_before = copy.deepcopy(target), copy.deepcopy(operations)
    result = apply_patch(target, orjson.dumps(operations), JSON_PATCH, "Deployment", "apps")
    assert result == {"kind": "Deployment", "spec": expected_spec}
    assert (target, operations) == (target_before, operations_before)


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "test", "path": "/spec/replicas", "value": 3}],
        [{"op": "remove", "path": "/spec/affinity"}],
        [{"op": "replace", "path": "/spec/missing/deeper", "value": 1}],
        [{"op": "frobnicate", "path": "/spec"}],
    ],
)
def test_failed_json_patch_is_the_generic_422(operations: list[dict[str, Any]]) -> None:
    with pytest.raises(PatchError) as excinfo:
        apply_json_patch({"spec": {"replicas": 2}}, operations)
    assert excinfo.value.status_code == 422
    assert excinfo.value.reason == "Invalid"
    assert str(excinfo.value) == "the server rejected our request due to an error in our request"


def test_json_patch_body_must_be_a_list() -> None:
    with pytest.raises(
        PatchError, match=r"cannot unmarshal object into Go value of type jsonpatch\.Patch"
    ) as excinfo:
        apply_json_patch({"spec": {}}, {"op": "add"})
    assert excinfo.value.status_code == 400


def test_json_patch_values_are_copied_into_the_result() -> None:
    operations = [{"op": "add", "path": "/data", "value": {"k": "v"}}]
    result = apply_json_patch({}, operations)
    result["data"]["k"] = "changed"
    assert operations[0]["value"] == {"k": "v"}


# --- dispatch and server-side apply -----------------------------------------------------------


def test_unknown_content_type_is_415_listing_what_the_kind_accepts() -> None:
    with pytest.raises(PatchError) as excinfo:
        apply_patch({}, b"{}", "application/json", "Deployment", "apps")
    assert excinfo.value.status_code == 415
    assert "application/strategic-merge-patch+json" in str(excinfo.value)


def test_content_type_parameters_are_ignored() -> None:
    result = apply_patch({"a": 1}, b'{"b":2}', "application/merge-patch+json; charset=utf-8", "ConfigMap", "")
    assert result == {"a": 1, "b": 2}


def test_undecodable_body_is_a_bad_request() -> None:
    with pytest.raises(PatchError) as excinfo:
        apply_patch({}, b"{not json", MERGE_PATCH, "ConfigMap", "")
    assert excinfo.value.status_code == 400


def test_server_side_apply_yaml_merges_strategically() -> None:
    body = b"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    deployed-at: 2025-01-01
    marker: =
spec:
  replicas: 4
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.26
"""
    result = apply_patch(_deployment(), body, APPLY_PATCH, "Deployment", "apps")
    # Timestamps and "=" stay strings, as sigs.k8s.io/yaml decodes them.
    assert result["metadata"]["annotations"] == {"deployed-at": "2025-01-01", "marker": "="}
    assert result["spec"]["replicas"] == 4
    assert _container_images(result) == [("app", "nginx:1.26"), ("sidecar", "envoy:1.30")]


def test_server_side_apply_accepts_json_and_merges_custom_resources() -> None:
    target = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"items": [1, 2], "size": 1}}
    body = b'{"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"items": [3]}}'
    result = apply_patch(target, body, APPLY_PATCH, "Widget", "example.com")
    assert result["spec"] == {"items": [3], "size": 1}


def test_server_side_apply_rejects_a_non_object() -> None:
    with pytest.raises(PatchError) as excinfo:
        apply_patch({}, b"- a\n- b\n", APPLY_PATCH, "ConfigMap", "")
    assert excinfo.value.status_code == 400
