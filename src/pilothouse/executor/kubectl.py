"""How this executor invokes kubectl: the binary, the connection flags, a fixed environment."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pilothouse.executor.runner import ProcessOutcome, run_process

# In-cluster config is found through these; without them kubectl inside a pod has no cluster.
_IN_CLUSTER_VARIABLES = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
_FALLBACK_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Kubectl:
    binary: str
    kubeconfig: Path | None = None
    context: str | None = None

    def argv(self, args: Sequence[str]) -> list[str]:
        """``[kubectl, *connection flags, *args]``: the flags go first because anything after a
        ``--`` in ``args`` belongs to the container command of ``exec``."""
        flags: list[str] = []
        if self.kubeconfig is not None:
            flags.append(f"--kubeconfig={self.kubeconfig}")
        if self.context is not None:
            flags.append(f"--context={self.context}")
        return [self.binary, *flags, *args]

    def environment(self, inherited: Mapping[str, str] | None = None) -> dict[str, str]:
        """The whole environment kubectl gets. Nothing else from the executor's environment leaks
        in: no proxies, no credentials, no plugin configuration."""
        source = os.environ if inherited is None else inherited
        env = {
            "PATH": source.get("PATH", _FALLBACK_PATH),
            "HOME": source.get("HOME", "/tmp"),  # noqa: S108 - kubectl caches discovery under HOME
            # A user's kuberc could alias commands or add flags behind the policy's back.
            "KUBECTL_KUBERC": "false",
        }
        kubeconfig = str(self.kubeconfig) if self.kubeconfig is not None else source.get("KUBECONFIG")
        if kubeconfig:
            env["KUBECONFIG"] = kubeconfig
        env.update({name: source[name] for name in _IN_CLUSTER_VARIABLES if name in source})
        return env

    async def run(self, args: Sequence[str], *, time_limit: float, max_output_bytes: int) -> ProcessOutcome:
        return await run_process(
            self.argv(args), env=self.environment(), time_limit=time_limit, max_output_bytes=max_output_bytes
        )
