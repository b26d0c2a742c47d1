"""What containers and the image registry do: the hidden half of a scenario.

Behaviours are never visible through the API. Nothing that reads the cluster can learn them
except by observing their effects (states, events, logs, metrics), as with a real cluster.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from pilothouse.sim.validation import parse_quantity

# Go's reference grammar, simplified: lower-case path components, optional tag or digest.
_IMAGE_RE = re.compile(
    r"^(?:(?P<host>[a-zA-Z0-9.-]+(?::\d+)?)/)?(?P<path>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def normalise_image(image: str) -> str | None:
    """`nginx` → `docker.io/library/nginx:latest`; None when the reference is invalid."""
    match = _IMAGE_RE.match(image)
    if not match:
        return None
    host, path, tag, digest = match["host"], match["path"], match["tag"], match["digest"]
    if host and "." not in host and ":" not in host and host != "localhost":
        path, host = f"{host}/{path}", None
    host = host or "docker.io"
    if host == "docker.io" and "/" not in path:
        path = f"library/{path}"
    reference = f"{host}/{path}"
    if digest:
        return f"{reference}@{digest}"
    return f"{reference}:{tag or 'latest'}"


@dataclass(frozen=True)
class PrivateRepository:
    prefix: str
    pull_secret: str


@dataclass
class ImageRegistry:
    """Which images can be pulled. With `images` empty every valid reference exists."""

    images: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)
    private: list[PrivateRepository] = field(default_factory=list)
    pull_seconds: float = 2.0

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None) -> ImageRegistry:
        spec = spec or {}
        images = {normalise_image(i) or i for i in spec.get("images") or []}
        private = [PrivateRepository(p["prefix"], p["pullSecret"]) for p in spec.get("private") or []]
        return cls(images, list(spec.get("missing") or []), private, float(spec.get("pullSeconds", 2.0)))

    def pull_error(self, image: str, pull_secret_names: set[str]) -> str | None:
        """None if the pull succeeds, else the container runtime's error text."""
        reference = normalise_image(image)
        assert reference is not None
        for repo in self.private:
            if image.startswith(repo.prefix) and repo.pull_secret not in pull_secret_names:
                return (
                    f'failed to pull and unpack image "{reference}": failed to resolve reference '
                    f'"{reference}": pull access denied, repository does not exist or may require '
                    "authorization: server message: insufficient_scope: authorization failed"
                )
        exists = not self.images or reference in self.images or image in self.images
        if any(fnmatch.fnmatchcase(image, p) or fnmatch.fnmatchcase(reference, p) for p in self.missing):
            exists = False
        if not exists:
            return (
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{reference}": '
                f'failed to resolve reference "{reference}": {reference}: not found'
            )
        return None


@dataclass(frozen=True)
class Dependency:
    """A network peer the app calls: `service` (name or name.namespace) and port."""

    service: str
    port: int
    on_failure: str = "log"  # log | crash | unready


@dataclass(frozen=True)
class ApiCall:
    verb: str
    resource: str
    group: str = ""


@dataclass(frozen=True)
class LogPlan:
    start: tuple[str, ...] = ()
    every_seconds: float = 0.0
    every: tuple[str, ...] = ()
    exit: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerBehaviour:
    startup_seconds: float = 1.0
    exit_after: float | None = None
    exit_code: int = 0
    memory_bytes: float = 32 * 2**20
    memory_growth_bytes_per_second: float = 0.0
    # Growth stops here (a reindex's working set, a cache's data set); None: it never stops.
    memory_peak_bytes: float | None = None
    cpu_cores: float = 0.005
    listen: tuple[int, ...] | None = None  # None: the container's declared ports
    http_status: tuple[tuple[str, int], ...] = ()
    required_env: tuple[str, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    api_calls: tuple[ApiCall, ...] = ()
    exec_probe_exit_code: int = 0
    logs: LogPlan = LogPlan()

    def memory_at(self, seconds_running: float) -> float:
        """Memory in use after running this long (without a limit)."""
        memory = self.memory_bytes + self.memory_growth_bytes_per_second * seconds_running
        return memory if self.memory_peak_bytes is None else min(memory, self.memory_peak_bytes)

    def http_status_for(self, path: str) -> int:
        return dict(self.http_status).get(path, 200)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ContainerBehaviour:
        logs = spec.get("logs") or {}
        every = logs.get("every") or {}
        exit_spec = spec.get("exit") or {}
        memory = spec.get("memory") or {}
        if not isinstance(memory, dict):
            memory = {"usage": memory}
        return cls(
            startup_seconds=float(spec.get("startupSeconds", 1.0)),
            exit_after=float(exit_spec["after"]) if "after" in exit_spec else None,
            exit_code=int(exit_spec.get("code", 0)),
            memory_bytes=float(parse_quantity(str(memory.get("usage", "32Mi")))),
            memory_growth_bytes_per_second=float(parse_quantity(str(memory.get("growthPerSecond", "0")))),
            memory_peak_bytes=float(parse_quantity(str(memory["peak"]))) if "peak" in memory else None,
            cpu_cores=float(parse_quantity(str(spec.get("cpu", "5m")))),
            listen=tuple(int(p) for p in spec["listen"]) if "listen" in spec else None,
            http_status=tuple((str(k), int(v)) for k, v in (spec.get("httpStatus") or {}).items()),
            required_env=tuple(spec.get("requiredEnv") or ()),
            dependencies=tuple(
                Dependency(str(d["service"]), int(d["port"]), str(d.get("onFailure", "log")))
                for d in spec.get("dependsOn") or ()
            ),
            api_calls=tuple(
                ApiCall(str(c["verb"]), str(c["resource"]), str(c.get("group", "")))
                for c in spec.get("apiCalls") or ()
            ),
            exec_probe_exit_code=int(spec.get("execProbeExitCode", 0)),
            logs=LogPlan(
                tuple(logs.get("start") or ()),
                float(every.get("seconds", 0)),
                tuple(every.get("lines") or ()),
                tuple(logs.get("exit") or ()),
            ),
        )


@dataclass(frozen=True)
class BehaviourRule:
    namespace: str = "*"
    pod: str = "*"
    container: str = "*"
    labels: tuple[tuple[str, str], ...] = ()
    behaviour: ContainerBehaviour = ContainerBehaviour()

    def matches(self, namespace: str, pod_name: str, labels: dict[str, str], container: str) -> bool:
        return (
            fnmatch.fnmatchcase(namespace, self.namespace)
            and fnmatch.fnmatchcase(pod_name, self.pod)
            and fnmatch.fnmatchcase(container, self.container)
            and all(labels.get(k) == v for k, v in self.labels)
        )


@dataclass
class Behaviours:
    """Rules in order; the first that matches a container decides what it does."""

    rules: list[BehaviourRule] = field(default_factory=list)
    default: ContainerBehaviour = ContainerBehaviour()

    @classmethod
    def from_spec(cls, specs: list[dict[str, Any]] | None) -> Behaviours:
        rules = []
        for spec in specs or []:
            match = spec.get("match") or {}
            rules.append(
                BehaviourRule(
                    namespace=str(match.get("namespace", "*")),
                    pod=str(match.get("pod", "*")),
                    container=str(match.get("container", "*")),
                    labels=tuple(sorted((match.get("labels") or {}).items())),
                    behaviour=ContainerBehaviour.from_spec(spec),
                )
            )
        return cls(rules)

    def for_container(self, pod: dict[str, Any], container: str) -> ContainerBehaviour:
        meta = pod["metadata"]
        labels = meta.get("labels") or {}
        for rule in self.rules:
            if rule.matches(meta.get("namespace", ""), meta["name"], labels, container):
                return rule.behaviour
        return self.default
