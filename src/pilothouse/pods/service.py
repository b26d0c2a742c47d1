"""Pod logs and exec on a selected cluster, free of HTTP.

Logs are always fetched with Kubernetes timestamps, because ``until_time`` can only be applied
by reading them; they are stripped again when the caller did not ask for them. With ``search``
or ``until_time`` the tail is cut after filtering: "the last 100 lines that match".

Exec runs the argv as given (no shell is added). ``working_dir`` and ``environment`` have no
counterpart in the Kubernetes exec API; they are applied by prefixing ``env`` (and ``sh -c 'cd
"$0" && exec "$@"'`` for a working directory), so the container needs those two programs for
those two options only.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pilothouse.contexts.service import ClusterTarget
from pilothouse.errors import ApiError, BadRequest, RequestTimeout
from pilothouse.kube.errors import kube_errors
from pilothouse.kube.ops import ExecExit, ExecRequest, ExecSession, JsonObject, LogQuery
from pilothouse.policy.objects import Access

MAX_TAIL_LINES = 10_000
# Bytes read to filter a log by search/until_time before cutting its tail.
FILTER_READ_LIMIT_BYTES = 32 * 1024 * 1024
# Exit codes of a shell that could not run the command at all (not executable, not found).
NOT_RUNNABLE_EXIT_CODES = frozenset({126, 127})
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class PodNotFound(ApiError):
    status_code = 404
    error = "pod_not_found"
    top_level = ("namespace", "pod_name")


class ExecFailed(ApiError):
    """The command could not be run (or the exec could not start): the spec's 500 ``exec_failed``."""

    status_code = 500
    error = "exec_failed"
    top_level = ("exit_code", "stdout", "stderr", "pod", "container")


async def pod_container(
    target: ClusterTarget, namespace: str, name: str, container: str | None
) -> tuple[JsonObject, str]:
    """The pod and the container an operation is about; 400 if a multi-container pod needs a choice."""
    pods = await target.resolver.kind("Pod", "")
    if pods is None:
        raise BadRequest("The cluster serves no pods")
    with kube_errors(target.id, kind="Pod", namespace=namespace, name=name):
        try:
            pod = await target.ops.get(pods, name, namespace)
        except Exception as error:
            if getattr(error, "status", None) == 404:
                raise PodNotFound(
                    f"Pod {namespace}/{name} not found", details={"namespace": namespace, "pod_name": name}
                ) from error
            raise
    names = [str(entry.get("name")) for entry in (pod.get("spec") or {}).get("containers") or []]
    if container is None:
        if len(names) != 1:
            raise BadRequest(
                f"Pod {namespace}/{name} has {len(names)} containers: choose one with container=",
                error="invalid_parameter",
                details={"containers": names, "field": "container"},
            )
        return pod, names[0]
    init = [str(entry.get("name")) for entry in (pod.get("spec") or {}).get("initContainers") or []]
    if container not in names and container not in init:
        raise BadRequest(
            f"Pod {namespace}/{name} has no container {container!r}",
            error="invalid_parameter",
            details={"containers": names + init, "field": "container"},
        )
    return pod, container


# --- logs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogOptions:
    container: str | None = None
    tail_lines: int = 100
    timestamps: bool = True
    since_time: datetime | None = None
    until_time: datetime | None = None
    search: str | None = None
    previous: bool = False

    @property
    def filters(self) -> bool:
        return self.search is not None or self.until_time is not None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line_time(line: bytes) -> datetime | None:
    stamp, _, _ = line.partition(b" ")
    text = stamp.decode("ascii", "replace").rstrip("Z")
    # Nanoseconds: Python keeps microseconds.
    head, _, fraction = text.partition(".")
    try:
        moment = datetime.fromisoformat(head + ("." + fraction[:6] if fraction else ""))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class LineFilter:
    """Applies until_time and search to timestamped lines and strips the stamp if not wanted."""

    def __init__(self, options: LogOptions) -> None:
        self._options = options
        self._needle = options.search.lower().encode() if options.search else None
        self.past_until = False

    def __call__(self, line: bytes) -> bytes | None:
        options = self._options
        if options.until_time is not None:
            moment = _line_time(line)
            if moment is not None and moment > options.until_time:
                self.past_until = True
                return None
        _, _, text = line.partition(b" ")
        if self._needle is not None and self._needle not in text.lower():
            return None
        return line if options.timestamps else text


def _query(options: LogOptions, container: str, *, follow: bool) -> LogQuery:
    return LogQuery(
        container=container,
        follow=follow,
        tail_lines=None if options.filters and not follow else options.tail_lines,
        timestamps=True,
        since_time=_rfc3339(options.since_time) if options.since_time else None,
        previous=options.previous,
        limit_bytes=FILTER_READ_LIMIT_BYTES if options.filters and not follow else None,
    )


async def read_logs(target: ClusterTarget, namespace: str, name: str, options: LogOptions) -> bytes:
    target.require(Access.READ, "reading logs")
    _, container = await pod_container(target, namespace, name, options.container)
    keep = LineFilter(options)
    raw = bytearray()
    with kube_errors(target.id, kind="Pod", namespace=namespace, name=name):
        async for chunk in target.ops.pod_logs(namespace, name, _query(options, container, follow=False)):
            raw += chunk
    lines = [kept for line in bytes(raw).splitlines() if (kept := keep(line)) is not None]
    if options.filters:
        lines = lines[-options.tail_lines :] if options.tail_lines else []
    return b"".join(line + b"\n" for line in lines)


async def follow_logs(
    target: ClusterTarget, namespace: str, name: str, options: LogOptions
) -> AsyncIterator[bytes]:
    """Lines as they are written (each ending in a newline) until the container stops,
    until_time passes, or the caller stops reading."""
    target.require(Access.READ, "reading logs")
    _, container = await pod_container(target, namespace, name, options.container)
    return _follow(target, namespace, name, container, options)


async def _follow(
    target: ClusterTarget, namespace: str, name: str, container: str, options: LogOptions
) -> AsyncIterator[bytes]:
    keep = LineFilter(options)
    pending = b""
    with kube_errors(target.id, kind="Pod", namespace=namespace, name=name):
        async for chunk in target.ops.pod_logs(namespace, name, _query(options, container, follow=True)):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            out = [kept + b"\n" for line in complete if line and (kept := keep(line)) is not None]
            if out:
                yield b"".join(out)
            if keep.past_until:
                return
    if pending and (kept := keep(pending)) is not None:
        yield kept + b"\n"


# --- exec -------------------------------------------------------------------------------------


def exec_argv(
    command: Sequence[str], working_dir: str | None, environment: Mapping[str, str]
) -> tuple[str, ...]:
    bad = [name for name in environment if not _ENV_NAME.fullmatch(name)]
    if bad:
        raise BadRequest(
            f"Invalid environment variable names: {', '.join(bad)}",
            error="invalid_parameter",
            details={"field": "environment"},
        )
    argv = tuple(command)
    if working_dir:
        argv = ("sh", "-c", 'cd "$0" && exec "$@"', working_dir, *argv)
    if environment:
        argv = ("env", *(f"{key}={value}" for key, value in environment.items()), *argv)
    return argv


@dataclass
class ExecResult:
    exit_code: int | None
    stdout: str
    stderr: str
    execution_time_ms: int
    pod: str
    container: str
    truncated: bool = False

    def body(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "execution_time_ms": self.execution_time_ms,
            "pod": self.pod,
            "container": self.container,
            "truncated": self.truncated,
        }


@dataclass
class _Output:
    limit: int
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    truncated: bool = False

    def add(self, channel: str, data: bytes) -> None:
        buffer = self.stdout if channel == "stdout" else self.stderr
        room = self.limit - len(self.stdout) - len(self.stderr)
        if len(data) > room:
            self.truncated = True
            data = data[: max(0, room)]
        buffer += data


class PodLocks:
    """One lock per pod: the spec serialises exec commands per pod."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._users: dict[tuple[str, str, str], int] = defaultdict(int)

    @contextlib.asynccontextmanager
    async def hold(self, cluster_id: str, namespace: str, name: str) -> AsyncIterator[None]:
        key = (cluster_id, namespace, name)
        self._users[key] += 1
        try:
            async with self._locks[key]:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key]
                del self._locks[key]


def exec_error(exit_: ExecExit, namespace: str, name: str) -> ApiError:
    """Why an exec that produced no exit code failed, as the Cluster API says it."""
    code = exit_.details.get("code") if isinstance(exit_.details, dict) else None
    if code == 404:
        return PodNotFound(
            exit_.error or f"Pod {namespace}/{name} not found",
            details={"namespace": namespace, "pod_name": name},
        )
    if code == 400:
        # The API server refused the exec itself: a container that is not running, for one.
        return BadRequest(
            exit_.error or "The exec was refused", error="invalid_parameter", details={"pod": name}
        )
    return ExecFailed(
        exit_.error or "Command execution failed", details={"pod": name, "kubernetes": exit_.details}
    )


async def run_exec(
    target: ClusterTarget,
    locks: PodLocks,
    namespace: str,
    name: str,
    *,
    container: str | None,
    command: Sequence[str],
    working_dir: str | None,
    environment: Mapping[str, str],
    timeout_seconds: float,
    max_output_bytes: int,
) -> ExecResult:
    target.require(Access.EXEC, "exec into a pod")
    _, chosen = await pod_container(target, namespace, name, container)
    argv = exec_argv(command, working_dir, environment)
    output = _Output(max_output_bytes)
    async with locks.hold(target.id, namespace, name):
        started = time.monotonic()
        session: ExecSession | None = None
        try:
            async with asyncio.timeout(timeout_seconds):
                with kube_errors(target.id, kind="Pod", namespace=namespace, name=name):
                    session = await target.ops.pod_exec(
                        namespace, name, ExecRequest(command=argv, container=chosen)
                    )
                    async for piece in session.output():
                        output.add(piece.channel, piece.data)
                    exit_ = await session.wait()
        except TimeoutError:
            raise RequestTimeout(
                f"The command did not finish within {timeout_seconds:g} s",
                details={
                    "pod": name,
                    "container": chosen,
                    "stdout": output.stdout.decode("utf-8", "replace"),
                    "stderr": output.stderr.decode("utf-8", "replace"),
                },
            ) from None
        finally:
            if session is not None:
                await session.close()
        elapsed = int((time.monotonic() - started) * 1000)
    result = ExecResult(
        exit_code=exit_.exit_code,
        stdout=output.stdout.decode("utf-8", "replace"),
        stderr=output.stderr.decode("utf-8", "replace"),
        execution_time_ms=elapsed,
        pod=name,
        container=chosen,
        truncated=output.truncated,
    )
    if exit_.exit_code is None:
        error = exec_error(exit_, namespace, name)
        error.details.update(result.body())
        raise error
    if exit_.exit_code in NOT_RUNNABLE_EXIT_CODES:
        raise ExecFailed("Command execution failed", details=result.body())
    return result
