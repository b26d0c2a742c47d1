"""One command: kinds, the executor's own policy verdict, fail-closed discovery, and the result."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest

from pilothouse.executor import handler as handler_module
from pilothouse.executor.discovery import DiscoveredResource, DiscoveryError, ResourceDiscovery
from pilothouse.executor.handler import DENIED_PREFIX, UNAVAILABLE_PREFIX, CommandHandler, kubectl_result
from pilothouse.executor.protocol import Command
from pilothouse.policy import REDACTED, PolicyDecision, ResourceRef, SecurityMode
from tests.executor.fakes import BUILTIN, CannedKubectl, ScriptedFetch, captured, outcome

WIDGETS = DiscoveredResource(ResourceRef("widgets", "widget", "Widget", ("wd",), "example.com"), ("get",))


def make_handler(
    fetch: ScriptedFetch | None = None,
    *,
    mode: SecurityMode = SecurityMode.READ_ONLY,
    kubectl: CannedKubectl | None = None,
    clock: list[float] | None = None,
    refresh_interval: float = 2.0,
) -> tuple[CommandHandler, CannedKubectl]:
    """A handler over scripted discovery; ``clock`` (a mutable list) replaces the real clock."""
    kubectl = kubectl or CannedKubectl()
    discovery = ResourceDiscovery(
        fetch or ScriptedFetch(BUILTIN), clock=time.monotonic if clock is None else lambda: clock[0]
    )
    handler = CommandHandler(
        mode=mode,
        discovery=discovery,
        kubectl=kubectl,
        max_output_bytes=4096,
        unknown_resource_refresh_seconds=refresh_interval,
    )
    return handler, kubectl


def command(*args: str, kind: str = "kubectl", timeout: float = 10.0) -> Command:
    return Command(id="cmd_1", kind=kind, args=args, timeout=timeout)


async def test_ping_answers_pong_without_running_anything() -> None:
    handler, kubectl = make_handler()
    result = await handler.handle(command(kind="ping"))
    assert (result.success, result.output, result.error, result.exit_code) == (True, "pong", None, 0)
    assert kubectl.runs == []


async def test_an_unknown_kind_fails_clearly() -> None:
    handler, kubectl = make_handler()
    result = await handler.handle(command("get", "pods", kind="exec-shell"))
    assert not result.success
    assert result.exit_code is None
    assert result.error == "unknown command kind 'exec-shell'; this executor runs 'kubectl' and 'ping'"
    assert kubectl.runs == []


async def test_an_allowed_command_runs_exactly_its_args_with_its_timeout_and_the_cap() -> None:
    handler, kubectl = make_handler()
    result = await handler.handle(command("get", "pods", "--namespace=shop", "-o", "wide", timeout=7))
    assert result.success
    assert result.output == "ok\n"
    (run,) = kubectl.runs
    assert run.args == ("get", "pods", "--namespace=shop", "-o", "wide")
    assert run.time_limit == 7
    assert run.max_output_bytes == 4096


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("delete", "pod", "x"), "kubectl delete needs fullAccess mode; this policy runs in readOnly mode"),
        (("get", "secrets"), "'secrets' names Secret objects"),
        (("get", "pods", "--token=abc"), "--token is not allowed"),
        (("get", "pods", "|", "sh"), "without a shell"),
    ],
)
async def test_the_executor_policy_denies_what_the_server_let_through(
    args: tuple[str, ...], reason: str
) -> None:
    handler, kubectl = make_handler()
    result = await handler.handle(command(*args))
    assert not result.success
    assert result.exit_code is None
    assert result.error is not None
    assert result.error.startswith(DENIED_PREFIX)
    assert reason in result.error
    assert kubectl.runs == []


async def test_full_access_mode_reads_secrets() -> None:
    handler, kubectl = make_handler(mode=SecurityMode.FULL_ACCESS)
    assert (await handler.handle(command("get", "secrets", "-o", "yaml"))).success
    assert kubectl.calls == [("get", "secrets", "-o", "yaml")]


async def test_without_discovery_every_command_is_refused_until_it_succeeds() -> None:
    clock = [0.0]
    fetch = ScriptedFetch(DiscoveryError("connection refused"), BUILTIN)
    handler, kubectl = make_handler(fetch, clock=clock)
    refused = await handler.handle(command("get", "pods"))
    assert not refused.success
    assert refused.error is not None
    assert refused.error.startswith(UNAVAILABLE_PREFIX)
    assert "connection refused" in refused.error
    assert "refusing every command" in refused.error
    # Within the retry interval the next command does not start another discovery.
    assert not (await handler.handle(command("get", "pods"))).success
    assert fetch.calls == 1
    assert kubectl.runs == []
    clock[0] += 6
    assert (await handler.handle(command("get", "pods"))).success
    assert fetch.calls == 2


async def test_a_type_created_just_after_the_last_discovery_is_found_by_waiting_for_the_next() -> None:
    fetch = ScriptedFetch(BUILTIN, (*BUILTIN, WIDGETS))
    handler, kubectl = make_handler(fetch, refresh_interval=0.3)
    assert (await handler.handle(command("get", "pods"))).success
    started = time.monotonic()
    result = await handler.handle(command("get", "wd"))  # the CRD appeared after that discovery
    assert result.success, result.error
    assert time.monotonic() - started >= 0.25  # waited for the interval rather than deny
    assert kubectl.calls[-1] == ("get", "wd")
    assert fetch.calls == 2


async def test_a_burst_naming_an_unknown_type_shares_one_discovery() -> None:
    fetch = ScriptedFetch(BUILTIN, delay=0.05)
    handler, kubectl = make_handler(fetch, refresh_interval=0.2)
    await handler.handle(command("get", "pods"))
    results = await asyncio.gather(*(handler.handle(command("get", "gadgets")) for _ in range(20)))
    for result in results:
        assert not result.success
        assert result.error is not None
        assert result.error.startswith(DENIED_PREFIX)
        assert "unknown resource type 'gadgets'" in result.error
    assert fetch.calls == 2  # all arrived before the next discovery started: they share it
    assert kubectl.calls == [("get", "pods")]


async def test_a_crashing_policy_denies(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenPolicy:
        def __init__(self, *_: object) -> None:
            pass

        def decide(self, args: object) -> PolicyDecision:
            raise RecursionError("bug")

    monkeypatch.setattr(handler_module, "CommandPolicy", BrokenPolicy)
    handler, kubectl = make_handler()
    result = await handler.handle(command("get", "pods"))
    assert not result.success
    assert result.error == f"{UNAVAILABLE_PREFIX}the policy failed (RecursionError)"
    assert kubectl.runs == []


# --- results ------------------------------------------------------------------------------------


def test_success_keeps_stdout_as_output_and_warnings_as_error() -> None:
    result = kubectl_result(
        outcome(b'{"items": []}\n', stderr=b"Warning: v1 Endpoints is deprecated\n"),
        timeout=10,
        execution_time_ms=5,
    )
    assert result.success
    assert result.output == '{"items": []}\n'  # still parseable: stderr is never mixed in
    assert result.error == "Warning: v1 Endpoints is deprecated\n"
    assert (result.exit_code, result.execution_time_ms, result.timed_out) == (0, 5, False)


def test_success_with_only_stderr_shows_it_as_output() -> None:
    result = kubectl_result(
        outcome(stderr=b"No resources found in shop namespace.\n"), timeout=10, execution_time_ms=1
    )
    assert result.success
    assert result.output == "No resources found in shop namespace.\n"
    assert result.error is None


@pytest.mark.parametrize(
    ("exit_code", "stderr", "error"),
    [
        (
            1,
            b'Error from server (NotFound): pods "x" not found\n',
            'Error from server (NotFound): pods "x" not found\n',
        ),
        (1, b"", "kubectl exited with 1"),
        (-9, b"", "kubectl was killed by signal 9"),
    ],
)
def test_failures_carry_the_exit_code_and_a_reason(exit_code: int, stderr: bytes, error: str) -> None:
    result = kubectl_result(outcome(b"", exit_code=exit_code, stderr=stderr), timeout=10, execution_time_ms=1)
    assert not result.success
    assert result.exit_code == exit_code
    assert result.error == error


def test_a_timeout_is_reported_with_what_was_printed_before_it() -> None:
    result = kubectl_result(
        outcome(b"NAME   READY\napi    1/1\n", exit_code=None, timed_out=True),
        timeout=2.5,
        execution_time_ms=2600,
    )
    assert not result.success
    assert result.exit_code is None
    assert result.error == "timed out after 2.5 s; kubectl and its process group were killed"
    assert result.timed_out
    assert result.output == "NAME   READY\napi    1/1\n"


def test_truncated_output_is_marked() -> None:
    result = kubectl_result(outcome(captured(b"x" * 100, total_bytes=5000)), timeout=10, execution_time_ms=1)
    assert result.output == "x" * 100 + "\n[output truncated: kept the first 100 of 5000 bytes]"


def test_output_and_error_are_redacted() -> None:
    value = base64.b64encode(b"hunter2").decode()
    secret = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: {value}\n"
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJleGVjdXRvciJ9.c2lnbmF0dXJl"
    result = kubectl_result(
        outcome(secret.encode(), exit_code=1, stderr=f"Authorization: Bearer {token}\n".encode()),
        timeout=10,
        execution_time_ms=1,
    )
    assert value not in result.output
    assert f"password: {REDACTED}" in result.output
    assert result.error is not None
    assert token not in result.error


def test_a_secret_cut_off_by_the_cap_before_its_kind_is_still_redacted() -> None:
    # `kubectl get secret -o json` prints data before kind. Cut inside data, only the redactor's
    # cut-off rule can tell these are Secret values, and only if the text really ends there: the
    # truncation marker must come after redaction.
    value = base64.b64encode(b"postgres://user:pw@db").decode()
    text = json.dumps({"apiVersion": "v1", "data": {"db-url": value}, "kind": "Secret"}, indent=4)
    cut = text[: text.index("    },")].encode()
    result = kubectl_result(outcome(captured(cut, total_bytes=len(text))), timeout=10, execution_time_ms=1)
    assert value not in result.output
    assert result.output.endswith(f"[output truncated: kept the first {len(cut)} of {len(text)} bytes]")
