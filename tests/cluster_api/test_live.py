"""WebSockets: the live watch (``/api/v1/ws``) and the interactive shell (``/api/v1/shell``)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import time
import uuid
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.cluster_api.conftest import ClusterApiStack
from tests.cluster_api.test_pods import running_pod


def open_socket(
    stack: ClusterApiStack, path: str, transport: str, *, token: str | None = None
) -> ClientConnection:
    query = f"?token={token or stack.admin_key}&cluster={transport}"
    # max_queue=None: the client takes messages off the socket as fast as they come (a fast reader).
    return connect(stack.ws_url(path) + query, open_timeout=10, max_size=16 * 1024 * 1024, max_queue=None)


def next_message(ws: ClientConnection, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
    """The next message whose fields equal ``match`` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no message matching {match} within {timeout:g} s")
        message: dict[str, Any] = json.loads(ws.recv(timeout=remaining))
        if all(_field(message, key) == value for key, value in match.items()):
            return message


def _field(message: dict[str, Any], key: str) -> Any:
    if key == "name":
        return message.get("resource", {}).get("metadata", {}).get("name")
    return message.get(key)


def configmap(name: str, label: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": {"watch-test": label}},
        "data": data or {"k": "v"},
    }


def test_watch_delivers_added_modified_deleted(stack: ClusterApiStack, transport: str) -> None:
    label = uuid.uuid4().hex[:8]
    with stack.client(transport) as api:
        assert (
            api.post("/api/v1/resources/ConfigMap", json=configmap(f"pre-{label}", label)).status_code == 201
        )
        with open_socket(stack, "/api/v1/ws", transport) as ws:
            ws.send(
                json.dumps(
                    {
                        "action": "subscribe",
                        "resource_kind": "ConfigMap",
                        "namespace": "default",
                        "label_selector": f"watch-test={label}",
                        "subscription_id": "sub-1",
                    }
                )
            )
            assert next_message(ws, type="SUBSCRIBED")["subscription_id"] == "sub-1"
            initial = next_message(ws, type="ADDED")
            assert initial["resource"]["metadata"]["name"] == f"pre-{label}"
            assert initial["subscription_id"] == "sub-1" and initial["timestamp"]

            name = f"cm-{label}"
            assert api.post("/api/v1/resources/ConfigMap", json=configmap(name, label)).status_code == 201
            assert next_message(ws, type="ADDED", name=name)["resource"]["kind"] == "ConfigMap"
            api.put(
                f"/api/v1/resources/ConfigMap/default/{name}",
                params={"patch_strategy": "merge_patch"},
                json={"data": {"k": "changed"}},
            )
            modified = next_message(ws, type="MODIFIED", name=name)
            assert modified["resource"]["data"] == {"k": "changed"}
            # Outside the selector: never delivered.
            api.post("/api/v1/resources/ConfigMap", json=configmap(f"other-{label}", "other"))
            api.delete(f"/api/v1/resources/ConfigMap/default/{name}")
            deleted = next_message(ws, type="DELETED")
            assert deleted["resource"]["metadata"]["name"] == name

            ws.send(json.dumps({"action": "unsubscribe", "subscription_id": "sub-1"}))
            assert next_message(ws, type="UNSUBSCRIBED")["subscription_id"] == "sub-1"
        for leftover in (f"pre-{label}", f"other-{label}"):
            api.delete(f"/api/v1/resources/ConfigMap/default/{leftover}")


def test_watch_resumes_after_the_cluster_drops_it(stack: ClusterApiStack, transport: str) -> None:
    label = uuid.uuid4().hex[:8]
    assert stack.cluster is not None
    cluster = stack.cluster
    with open_socket(stack, "/api/v1/ws", transport) as ws:
        ws.send(
            json.dumps(
                {
                    "action": "subscribe",
                    "resource_kind": "configmaps",
                    "namespace": "default",
                    "label_selector": f"watch-test={label}",
                    "subscription_id": "resume",
                }
            )
        )
        next_message(ws, type="SUBSCRIBED")
        with stack.client(transport) as api:
            api.post("/api/v1/resources/ConfigMap", json=configmap(f"before-{label}", label))
            next_message(ws, type="ADDED", name=f"before-{label}")

            # The API server ends every watch (a restart): the watch resumes from its last version.
            stack.call(lambda: cluster.store.close_watchers(("", "configmaps")))
            api.post("/api/v1/resources/ConfigMap", json=configmap(f"after-close-{label}", label))
            next_message(ws, type="ADDED", name=f"after-close-{label}")

            # Dropped and its history compacted, with a change in the gap: 410, relist, and the
            # change arrives as a synthesised event; nothing already seen is sent again.
            def drop_and_change() -> None:
                cluster.store.close_watchers(("", "configmaps"))
                cluster.apply(configmap(f"in-gap-{label}", label))
                cluster.store.compact(("", "configmaps"))

            stack.call(drop_and_change)
            gap = next_message(ws, type="ADDED")
            assert gap["resource"]["metadata"]["name"] == f"in-gap-{label}"
            api.post("/api/v1/resources/ConfigMap", json=configmap(f"after-gap-{label}", label))
            assert next_message(ws, type="ADDED")["resource"]["metadata"]["name"] == f"after-gap-{label}"
            for name in ("before", "after-close", "in-gap", "after-gap"):
                api.delete(f"/api/v1/resources/ConfigMap/default/{name}-{label}")


def test_watch_errors_are_messages_not_disconnects(stack: ClusterApiStack) -> None:
    with open_socket(stack, "/api/v1/ws", "direct") as ws:
        ws.send(json.dumps({"action": "subscribe", "resource_kind": "NoSuchKind", "subscription_id": "x"}))
        error = next_message(ws, type="ERROR")
        assert error["subscription_id"] == "x"
        assert "NoSuchKind" in error["error"]
        ws.send("not json")
        assert next_message(ws, type="ERROR")["error"]
        ws.send(json.dumps({"action": "ping"}))
        assert next_message(ws, type="PONG")


def test_watch_needs_credentials(stack: ClusterApiStack) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(stack.ws_url("/api/v1/ws"), open_timeout=10)
    assert refused.value.response.status_code == 401
    with connect(
        stack.ws_url("/api/v1/ws"),
        additional_headers={"Authorization": f"Bearer {stack.admin_key}"},
        open_timeout=10,
    ) as ws:
        ws.send(json.dumps({"action": "ping"}))
        assert next_message(ws, type="PONG")


def test_slow_subscriber_is_dropped_without_stalling_others(stack: ClusterApiStack) -> None:
    """A client that never reads is cut off with a reason; another one keeps receiving."""
    label = uuid.uuid4().hex[:8]
    subscribe = json.dumps(
        {
            "action": "subscribe",
            "resource_kind": "ConfigMap",
            "namespace": "default",
            "label_selector": f"watch-test={label}",
            "subscription_id": "s",
        }
    )
    slow_url = stack.ws_url("/api/v1/ws") + f"?token={stack.admin_key}&cluster=direct"
    # A small fixed receive buffer: otherwise loopback autotuning lets the kernel absorb 20 MB.
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    raw.connect(("127.0.0.1", int(stack.url.rsplit(":", 1)[1])))
    with (
        connect(slow_url, sock=raw, open_timeout=10, max_queue=1) as slow,
        open_socket(stack, "/api/v1/ws", "direct") as fast,
    ):
        slow.send(subscribe)
        fast.send(subscribe)
        next_message(fast, type="SUBSCRIBED")
        # Random, so that permessage-deflate cannot shrink it.
        big = base64.b64encode(os.urandom(150_000)).decode()
        COUNT = 100
        with stack.client("direct") as api:
            for index in range(COUNT):
                api.post(
                    "/api/v1/resources/ConfigMap", json=configmap(f"big-{index}-{label}", label, blob=big)
                )
            for index in range(COUNT):
                next_message(fast, type="ADDED", name=f"big-{index}-{label}")
            closed_reason = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    slow.recv(timeout=1)
                except TimeoutError:
                    continue
                except ConnectionClosed as closed:
                    closed_reason = closed.rcvd.reason if closed.rcvd else ""
                    break
            assert closed_reason is not None and "slow consumer" in closed_reason
            for index in range(COUNT):
                api.delete(f"/api/v1/resources/ConfigMap/default/big-{index}-{label}")


def test_shell_runs_commands_resizes_and_exits(stack: ClusterApiStack, transport: str) -> None:
    with stack.client(transport) as api:
        pod = running_pod(api)
    with open_socket(stack, "/api/v1/shell", transport) as ws:
        ws.send(
            json.dumps(
                {
                    "action": "init",
                    "namespace": pod["metadata"]["namespace"],
                    "pod_name": pod["metadata"]["name"],
                    "shell": "/bin/sh",
                    "rows": 24,
                    "cols": 80,
                }
            )
        )
        ws.send(json.dumps({"type": "input", "data": "stty size\n"}))
        output = ""
        deadline = time.monotonic() + 15
        while "24 80" not in output and time.monotonic() < deadline:
            message = next_message(ws, type="output")
            assert message["channel"] == "stdout"
            output += message["data"]
        assert "24 80" in output
        ws.send(json.dumps({"type": "resize", "rows": 30, "cols": 120}))
        ws.send(json.dumps({"type": "input", "data": "stty size\n"}))
        output = ""
        while "30 120" not in output and time.monotonic() < deadline + 15:
            output += next_message(ws, type="output")["data"]
        ws.send(json.dumps({"type": "input", "data": "exit 7\n"}))
        assert next_message(ws, type="exit")["exit_code"] == 7


def test_shell_refuses_missing_pods_and_scopes(stack: ClusterApiStack) -> None:
    with open_socket(stack, "/api/v1/shell", "direct") as ws:
        ws.send(json.dumps({"action": "init", "namespace": "default", "pod_name": "no-such-pod"}))
        error = next_message(ws, type="error")
        assert error["error"] == "pod_not_found"
    reader = stack.create_key("shell-reader", ["read"])
    with pytest.raises(InvalidStatus) as refused:
        open_socket(stack, "/api/v1/shell", "direct", token=reader)
    assert refused.value.response.status_code == 403


def test_at_most_ten_shells_per_user(stack: ClusterApiStack) -> None:
    key = stack.create_key("shell-user", ["read", "exec"])
    with stack.client("direct") as api:
        pod = running_pod(api)
    init = json.dumps(
        {"action": "init", "namespace": pod["metadata"]["namespace"], "pod_name": pod["metadata"]["name"]}
    )
    with contextlib.ExitStack() as opened:
        for _ in range(10):
            opened.enter_context(open_socket(stack, "/api/v1/shell", "direct", token=key)).send(init)
        with pytest.raises(InvalidStatus) as refused:
            open_socket(stack, "/api/v1/shell", "direct", token=key)
        assert refused.value.response.status_code == 429
