"""Executors die and are replaced; commands are not lost, and are finished exactly once.

Each test starts its own executors. The slow command is ``get pods -w``: with the simulated
cluster's clock stopped nothing changes, so the watch prints the pods and then blocks until the
command's timeout kills it. Short timeouts and a short lease keep the tests quick; the lease must
still outlast the longest command (the server refuses settings where it does not).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    CLUSTER_ID,
    ExecutorProcess,
    LiveStack,
    StackOptions,
    assert_audited,
    wait_final,
    wait_until,
)

COMMAND_TIMEOUT = 4
LEASE_SECONDS = 6


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    return StackOptions(
        settings={
            "command_timeout_default_seconds": 3,
            "command_timeout_max_seconds": 5,
            "executor_lease_seconds": LEASE_SECONDS,
            # The caller waits long enough for a redelivery and a second run.
            "command_result_grace_seconds": 20,
            # A long poll waits in chunks of a third of this. The in-process bus wakes a waiting
            # poll at a lease's expiry only if the lease was taken before it began to wait; else
            # the poll notices at the end of its chunk, so short chunks keep redelivery prompt.
            "executor_stale_seconds": 9,
        }
    )


@pytest.fixture
def stack(stack_options: StackOptions, tmp_path: Path) -> Iterator[LiveStack]:
    """A stack per test: these tests stop and replace executors, which others must not see."""
    live = LiveStack(tmp_path, stack_options)
    try:
        live.start()
        yield live
    finally:
        live.stop()


WATCH = {
    "cluster_id": CLUSTER_ID,
    "command_type": "get",
    "args": ["pods", "-w"],
    "namespace": "payments",
    "timeout_seconds": COMMAND_TIMEOUT,
}


def kubectl_children(executor: ExecutorProcess, *words: str) -> list[int]:
    """The executor's kubectl processes whose arguments include ``words``."""
    found = []
    for pid in executor.children():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(word.encode() in argv for word in words):
            found.append(pid)
    return found


def test_a_command_survives_its_executor_being_killed(stack: LiveStack) -> None:
    first = stack.start_executor(poll_wait=2)
    answer: dict[str, Any] = {}

    def call() -> None:
        with stack.client() as client:
            response = client.post("/debug/execute", json=WATCH)
        answer.update(status=response.status_code, body=response.json())

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: bool(kubectl_children(first, "get", "pods", "-w")), 30, "the watch to start")
    first.kill()
    second = stack.start_executor(poll_wait=2)
    caller.join(60)
    assert not caller.is_alive(), "the caller never got an answer"

    # The sync caller got exactly one answer: the command ran to its timeout on the second executor.
    assert answer["status"] == 408, answer
    command_id = answer["body"]["details"]["command_id"]
    with stack.client() as client:
        result = wait_final(client, command_id)
    assert result["status"] == "timeout"
    assert result["delivery_count"] == 2
    assert result["late_result"] is False
    assert f"timed out after {COMMAND_TIMEOUT} s" in result["error"]
    # What the watch printed before it was stopped: the second run's output, not nothing.
    assert "payments-api-" in result["output"]
    event = assert_audited(stack, result, key_id=admin_key_id(stack), outcome="timeout")
    assert event["details"]["executor_id"] == second.executor_id
    assert event["details"]["deliveries"] == 2
    second.terminate()
    assert second.wait(30) == 0


def test_sigterm_drains_running_commands_and_takes_no_new_ones(stack: LiveStack) -> None:
    draining = stack.start_executor(poll_wait=2)
    with stack.client() as client:
        slow = client.post("/debug/execute/async", json=WATCH)
        assert slow.status_code == 202, slow.text
        wait_until(lambda: bool(kubectl_children(draining, "get", "pods", "-w")), 30, "the watch to start")
        draining.terminate()
        # Sent while it drains: the cluster still looks connected, but this executor must not take it.
        quick = client.post(
            "/debug/execute/async",
            json={"cluster_id": CLUSTER_ID, "command_type": "get", "args": ["pods"], "namespace": "payments"},
        )
        assert quick.status_code == 202, quick.text
        assert draining.wait(30) == 0
        drained = wait_final(client, slow.json()["command_id"])
        assert client.get(quick.json()["poll_url"]).json()["status"] in ("pending", "running")

        successor = stack.start_executor(poll_wait=2)
        late = wait_final(client, quick.json()["command_id"])
    # The running command was finished and reported before the process exited.
    assert drained["status"] == "timeout"
    assert drained["delivery_count"] == 1
    assert f"timed out after {COMMAND_TIMEOUT} s" in drained["error"]
    first_event = assert_audited(stack, drained, key_id=admin_key_id(stack), outcome="timeout")
    assert first_event["details"]["executor_id"] == draining.executor_id
    assert any(event.get("event") == "executor.draining" for event in draining.log_events())
    # The command sent during the drain ran on the next executor, once.
    assert late["status"] == "success"
    assert late["output"] == stack.kubectl("get", "pods", "--namespace=payments")
    second_event = assert_audited(stack, late, key_id=admin_key_id(stack), outcome="success")
    assert second_event["details"]["executor_id"] == successor.executor_id
    successor.terminate()
    assert successor.wait(30) == 0


def admin_key_id(stack: LiveStack) -> str:
    return stack.admin_key.split("_")[1]


def test_a_command_sent_right_after_a_restart_goes_to_the_new_executor(stack: LiveStack) -> None:
    old = stack.start_executor(poll_wait=30)
    with stack.client() as client:
        # Some work first: the executor polls again as soon as it has taken a command, so its next
        # long poll is waiting in the server when the process is stopped.
        worked = client.post(
            "/debug/execute", json={"cluster_id": CLUSTER_ID, "command_type": "get", "args": ["ns"]}
        )
        assert worked.status_code == 200, worked.text
    old.terminate()
    assert old.wait(30) == 0
    new = stack.start_executor(poll_wait=30)
    with stack.client() as client:
        sent = client.post(
            "/debug/execute/async",
            json={"cluster_id": CLUSTER_ID, "command_type": "get", "args": ["ns"], "timeout_seconds": 3},
        )
        assert sent.status_code == 202, sent.text
        result = wait_final(client, sent.json()["command_id"])
    assert result["status"] == "success"
    # Delivered once, to the executor that is there, not first to the poll of the one that left.
    assert result["delivery_count"] == 1
    event = assert_audited(stack, result, key_id=admin_key_id(stack), outcome="success")
    assert event["details"]["executor_id"] == new.executor_id
    new.terminate()
    assert new.wait(30) == 0
